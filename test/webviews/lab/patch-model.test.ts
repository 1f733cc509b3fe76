import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryName, patchView, selectionOf, strongestEntries } from '../../../src/webviews/lab/views/patching/patch-model.js';
import { syntheticPatch } from '../../mocks/synthetic-result.js';

test('heads-last: a layer × head grid and no position grid', () => {
  const p = syntheticPatch('heads-last', 3, 4, 5);
  const v = patchView(p, {});
  assert.equal(v.positionGrid, null);
  assert.equal(v.headGrid!.rows, 3);
  assert.equal(v.headGrid!.cols, 4);
  const e = p.entries.find((x) => x.layer === 2 && x.head === 1)!;
  assert.equal(v.headGrid!.values[2 * 4 + 1], Math.fround(e.recovery));
  assert.equal(p.entries[v.headGrid!.entryIndex[2 * 4 + 1]!], e);
  assert.ok(Math.abs(v.maxAbs - Math.max(...p.entries.map((x) => Math.abs(x.recovery)))) < 1e-12);
});

test('resid: a layer × position grid', () => {
  const p = syntheticPatch('resid', 2, 4, 6);
  const v = patchView(p, {});
  assert.equal(v.headGrid, null);
  assert.equal(v.positionGrid!.cols, 6);
  const e = p.entries.find((x) => x.layer === 1 && x.position === 5)!;
  assert.equal(v.positionGrid!.values[1 * 6 + 5], Math.fround(e.recovery));
});

test('heads-all: the head grid at the selected position and the position grid of the selected head', () => {
  const p = syntheticPatch('heads-all', 2, 3, 4);
  const v = patchView(p, { layer: 1, head: 2, position: 3 });
  const atPos = p.entries.find((x) => x.layer === 0 && x.head === 1 && x.position === 3)!;
  assert.equal(v.headGrid!.values[0 * 3 + 1], Math.fround(atPos.recovery));
  assert.match(v.headGrid!.caption, /position 3/);
  const ofHead = p.entries.find((x) => x.layer === 0 && x.head === 2 && x.position === 1)!;
  assert.equal(v.positionGrid!.values[0 * 4 + 1], Math.fround(ofHead.recovery));
  // Without a selection both grids start at the strongest entry.
  const top = strongestEntries(p, 1)[0]!.entry;
  const d = patchView(p, {});
  assert.match(d.headGrid!.caption, new RegExp(`position ${top.position}`));
});

test('strongest entries are sorted by |recovery| and named', () => {
  const p = syntheticPatch('heads-last', 3, 4, 5);
  const s = strongestEntries(p, 5);
  assert.equal(s.length, 5);
  for (let i = 1; i < s.length; i++) assert.ok(Math.abs(s[i - 1]!.entry.recovery) >= Math.abs(s[i]!.entry.recovery));
  assert.equal(entryName('heads-last', { layer: 9, head: 6, value: 0, logitDiff: 0, prob: 0, recovery: 0 }), 'L9H6');
  assert.equal(entryName('heads-all', { layer: 9, head: 6, position: 2, value: 0, logitDiff: 0, prob: 0, recovery: 0 }), 'L9H6@2');
  assert.equal(entryName('mlp', { layer: 3, position: 2, value: 0, logitDiff: 0, prob: 0, recovery: 0 }), 'mlp L3@2');
  assert.equal(entryName('resid', { layer: 3, position: 2, value: 0, logitDiff: 0, prob: 0, recovery: 0 }), 'resid L3@2');
  assert.deepEqual(selectionOf({ layer: 3, position: 2, value: 0, logitDiff: 0, prob: 0, recovery: 0 }), { layer: 3, position: 2 });
  assert.deepEqual(selectionOf({ layer: 3, head: 1, value: 0, logitDiff: 0, prob: 0, recovery: 0 }), { layer: 3, head: 1 });
});
