/**
 * The attribution view's JSON export (attributionExport, and labJson for the view): the attribution
 * map's heads as [layer][head] and positions as [layer][position] per component, the path-patching
 * map's entries and normalized effects as [layer][head] (null for heads that send nothing), the
 * scatter's pairs and Pearson r computed here from the definition, each with its model, prompts
 * (ids and token texts), target and contrast; what is missing says why; no map at all is an error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PatchSweepResult } from '../../../src/protocol/analysis.js';
import { attributionExport, ATTRIBUTION_EXPORT_FORMAT } from '../../../src/extension/export/attribution-export.js';
import { exportBytes, labJson } from '../../../src/extension/panels/lab-export-data.js';
import { syntheticAttributionMap, syntheticPathPatchMap } from '../../mocks/synthetic-attribution.js';

const MODEL = { id: 'organism', displayName: 'Model organism' };

/** The exact sweep of the synthetic map's prompts: head (l, h) moves the metric by exact[l * nHeads + h]. */
function headsAllSweep(exact: readonly number[], nHeads: number): PatchSweepResult {
  const map = syntheticAttributionMap();
  return {
    kind: 'heads-all',
    targetId: map.targetId,
    target: map.target,
    contrastId: map.contrastId,
    contrast: map.contrast,
    metric: 'logit_diff',
    prependBos: false,
    cleanTokens: map.cleanTokens,
    corruptTokens: map.corruptTokens,
    clean: { value: 3, logitDiff: 3, prob: 0.5 },
    corrupt: { value: -1, logitDiff: -1, prob: 0.1 },
    entries: exact.map((x, i) => ({ layer: Math.floor(i / nHeads), head: i % nHeads, value: -1 + x, logitDiff: -1 + x, prob: 0.2, recovery: x / 4 })),
    elapsedMs: 1,
  };
}

/** Pearson's r from its definition: covariance over the product of the standard deviations. */
function referencePearson(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let cov = 0,
    vx = 0,
    vy = 0;
  for (let i = 0; i < n; i++) {
    cov += (xs[i]! - mx) * (ys[i]! - my);
    vx += (xs[i]! - mx) ** 2;
    vy += (ys[i]! - my) ** 2;
  }
  return cov / Math.sqrt(vx * vy);
}

test('every map with its model, prompts, target and contrast; heads, positions and path effects as [layer][…] rows', () => {
  const map = { ...syntheticAttributionMap(), model: MODEL };
  const paths = syntheticPathPatchMap({ nLayers: 2, nHeads: 3 });
  // The second layer is the receiver's: no senders there.
  paths.entries = paths.entries.filter((e) => e.layer === 0);
  const doc = attributionExport({ attribution: map, pathPatch: { ...paths, model: MODEL } }, null);
  assert.equal(doc.format, ATTRIBUTION_EXPORT_FORMAT);
  assert.equal(doc.version, 1);
  const a = doc.attribution!;
  assert.deepEqual(a.model, { id: 'organism', displayName: 'Model organism', nLayers: 2, nHeads: 3 });
  assert.deepEqual(a.prompts.clean, { ids: map.cleanTokens.map((t) => t.id), tokens: ['The', ' cat', ' sat', ' on'] });
  assert.deepEqual(a.prompts.corrupt.tokens, ['The', ' dog', ' sat', ' on']);
  assert.equal(a.prompts.prependBos, false);
  assert.deepEqual(a.target, { id: 7, text: ' mat' });
  assert.deepEqual(a.contrast, { id: 8, text: ' rug' });
  assert.equal(a.method, 'atp');
  assert.equal(a.steps, null);
  assert.deepEqual(a.metric, { name: 'logit_diff', clean: 3, corrupt: -1 });
  for (let l = 0; l < 2; l++) for (let h = 0; h < 3; h++) assert.equal(a.heads[l]![h], map.heads[l * 3 + h]);
  for (const c of ['resid_pre', 'attn_out', 'mlp_out'] as const) {
    assert.equal(a.positions![c].length, 2);
    for (let l = 0; l < 2; l++) for (let p = 0; p < 4; p++) assert.equal(a.positions![c][l]![p], map.positions![c][l * 4 + p]);
  }
  const p = doc.pathPatching!;
  assert.equal(p.receivers, 'logits');
  assert.equal(p.cleanLogitDiff, 3);
  assert.equal(p.corruptLogitDiff, -1);
  assert.deepEqual(p.entries, paths.entries);
  assert.deepEqual(p.normalized, [
    [-0, -0.01, -0.02],
    [null, null, null],
  ]);
  assert.deepEqual(p.model, a.model);
  assert.deepEqual(doc.scatter, { reason: 'No exact sweep yet.' });
});

test('the scatter: each head’s exact effect and score, sorted by exact effect, and Pearson r as defined', () => {
  const map = syntheticAttributionMap();
  const exact = [0.5, -2, 1, 3, 0, -1];
  const doc = attributionExport({ attribution: map, pathPatch: null }, headsAllSweep(exact, 3));
  assert.ok(doc.scatter && 'points' in doc.scatter);
  const { points, r } = doc.scatter;
  assert.deepEqual(
    points.map((q) => q.name),
    ['L0H1', 'L1H2', 'L1H1', 'L0H0', 'L0H2', 'L1H0'],
  );
  for (const q of points) {
    assert.ok(Math.abs(q.exact - exact[q.layer * 3 + q.head]!) < 1e-12);
    assert.equal(q.score, map.heads[q.layer * 3 + q.head]);
  }
  const expected = referencePearson(
    points.map((q) => q.exact),
    points.map((q) => q.score),
  );
  assert.ok(Math.abs(r! - expected) < 1e-9, `${r} vs ${expected}`);
  assert.equal(doc.pathPatching, null);
  assert.equal(doc.attribution!.model, null, 'a map that names no model');
});

test('EAP-IG has no positions; a sweep of other prompts gives the reason instead of pairs', () => {
  const map = syntheticAttributionMap({ method: 'eap-ig' });
  const other = { ...headsAllSweep([1, 2, 3, 4, 5, 6], 3), targetId: 99 };
  const doc = attributionExport({ attribution: map, pathPatch: null }, other);
  assert.equal(doc.attribution!.positions, null);
  assert.equal(doc.attribution!.steps, 5);
  assert.deepEqual(doc.scatter, { reason: 'The exact sweep measures another target or contrast than the attribution.' });
});

test('labJson for the attribution view: the same document as JSON; without any map, an error for the user', () => {
  const maps = { attribution: syntheticAttributionMap(), pathPatch: syntheticPathPatchMap() };
  const text = labJson('attribution', null, null, null, maps);
  assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(attributionExport(maps, null))));
  const bytes = exportBytes({ type: 'export', requestId: 1, view: 'attribution', format: 'json' }, null, null, null, maps);
  assert.equal(new TextDecoder().decode(bytes), text);
  assert.throws(() => labJson('attribution', null, null, null, null), /no attribution or path-patching map to export yet/);
});
