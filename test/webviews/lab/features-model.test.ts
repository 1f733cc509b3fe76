/** The Features view's model: top features and labels, errors, the grid, the steering form's validation, before/after, and its state. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  activeCounts,
  addEdit,
  describeEdit,
  errorRows,
  featureGrid,
  featureLabel,
  parsePositions,
  parseSteerForm,
  predictionChanges,
  topFeaturesAt,
  type SteerForm,
} from '../../../src/webviews/lab/views/features/features-model.js';
import { INITIAL_FEATURES_STATE, reduceFeatures } from '../../../src/webviews/lab/views/features/features-state.js';
import { MAX_FEATURE_EDITS } from '../../../src/protocol/feature-messages.js';
import { syntheticFeatures, syntheticSteer } from '../../mocks/synthetic-features.js';

const result = syntheticFeatures();
const [layer0, layer1] = result.layers as [(typeof result.layers)[0], (typeof result.layers)[0]];

test('the top features of a position are the largest activations, with the dictionary label, else the top logits', () => {
  const top = topFeaturesAt(layer0, 2);
  assert.deepEqual(
    top.map((t) => [t.feature, t.activation, t.label]),
    [
      [2, 3.5, 'animals'],
      [5, 1, 'past tense'],
      [3, 0.25, 'misc'],
    ],
  );
  assert.deepEqual(topFeaturesAt(layer1, 0), [], 'no feature active: an empty list, not the -1 padding');
  const l1 = topFeaturesAt(layer1, 2);
  assert.deepEqual(
    l1.map((t) => [t.feature, t.label]),
    [
      [4, '→ " on" " down"'],
      [1, '→ " mat"'],
    ],
  );
  assert.equal(featureLabel(layer1, 6), '', 'a feature outside the heatmap has no label');
});

test('active counts, error rows and the share of the hook norm follow the layer', () => {
  assert.deepEqual(activeCounts(layer0, 3), [1, 3, 3]);
  assert.deepEqual(activeCounts(layer1, 3), [0, 0, 2]);
  const rows = errorRows(layer0);
  assert.deepEqual(
    rows.map((r) => [r.position, r.error, r.norm]),
    [
      [0, 0.5, 10],
      [1, 1.5, 10],
      [2, 2.5, 10],
    ],
  );
  assert.ok(Math.abs(rows[2]!.share - 0.25) < 1e-6);
});

test('the feature × position grid keeps the heatmap order and caps the rows', () => {
  const grid = featureGrid(layer0, 3);
  assert.deepEqual(grid.features, [7, 2, 5, 3], 'by largest activation');
  assert.equal(grid.rows, 4);
  assert.equal(grid.cols, 3);
  assert.equal(grid.values[1 * 3 + 2], 3.5, 'feature 2 at position 2');
  assert.equal(grid.max, 9);
  const capped = featureGrid(layer0, 3, 2);
  assert.deepEqual(capped.features, [7, 2]);
  assert.equal(capped.values.length, 6);
});

const limits = { layers: result.layers, nPositions: 3 };
const form = (over: Partial<SteerForm>): SteerForm => ({ layer: 0, feature: '2', mode: 'ablate', amount: '', positions: '', ...over });

test('the steering form becomes one feature edit: ablate, set, scale or add, at every position or chosen ones', () => {
  assert.deepEqual(parseSteerForm(form({}), limits), { ok: true, edit: { layer: 0, feature: 2, kind: 'set', value: 0 } });
  assert.deepEqual(parseSteerForm(form({ mode: 'scale', amount: '2.5', positions: '1, 2' }), limits), {
    ok: true,
    edit: { layer: 0, feature: 2, positions: [1, 2], kind: 'scale', factor: 2.5 },
  });
  assert.deepEqual(parseSteerForm(form({ layer: 1, feature: '4', mode: 'add', amount: '-10', positions: '0-2' }), limits), {
    ok: true,
    edit: { layer: 1, feature: 4, positions: [0, 1, 2], kind: 'add', value: -10 },
  });
  assert.deepEqual(parseSteerForm(form({ mode: 'set', amount: ' 7 ', positions: 'all' }), limits), {
    ok: true,
    edit: { layer: 0, feature: 2, kind: 'set', value: 7 },
  });
});

test('the steering form refuses what the engine would refuse, naming the problem', () => {
  const error = (f: Partial<SteerForm>): string => {
    const r = parseSteerForm(form(f), limits);
    assert.equal(r.ok, false);
    return r.ok ? '' : r.error;
  };
  assert.match(error({ layer: 5 }), /no layer 5/);
  assert.match(error({ feature: '' }), /whole number/);
  assert.match(error({ feature: '-1' }), /whole number/);
  assert.match(error({ feature: '1.5' }), /whole number/);
  assert.match(error({ feature: '8' }), /features 0\.\.7/);
  assert.match(error({ mode: 'scale', amount: '' }), /factor is a number/);
  assert.match(error({ mode: 'add', amount: 'abc' }), /value is a number/);
  assert.match(error({ mode: 'set', amount: 'Infinity' }), /value is a number/);
  assert.match(error({ mode: 'set', amount: '1e7' }), /beyond/);
  assert.match(error({ positions: '3' }), /past the prompt's last position, 2/);
  assert.match(error({ positions: '2-1' }), /backwards/);
  assert.match(error({ positions: 'x' }), /not a position/);
  assert.throws(() => parsePositions('1,,2', 3), /not a position/);
});

test('edits replace one of the same feature and stop at the limit', () => {
  const a = { layer: 0, feature: 2, kind: 'set' as const, value: 0 };
  const b = { layer: 0, feature: 2, kind: 'scale' as const, factor: 3 };
  const one = addEdit([], a);
  assert.ok(Array.isArray(one));
  const replaced = addEdit(one, b);
  assert.deepEqual(replaced, [b]);
  const full = Array.from({ length: MAX_FEATURE_EDITS }, (_, i) => ({ layer: 0, feature: 100 + i, kind: 'add' as const, value: 1 }));
  assert.match(String(addEdit(full, a)), /At most/);
  assert.equal(describeEdit(a), 'L0/2 ablated at every position');
  assert.equal(describeEdit({ ...b, positions: [1, 3] }), 'L0/2 × 3 at 1, 3');
});

test('before and after: the steered list in order, then the tokens that dropped out, with both ranks', () => {
  const s = syntheticSteer([{ layer: 0, feature: 2, kind: 'set', value: 0 }], 2);
  const changes = predictionChanges(s.before, s.after);
  assert.deepEqual(
    changes.map((c) => [c.token, c.rankBefore, c.rankAfter]),
    [
      [' down', 1, 0],
      [' on', 0, 1],
      [' up', null, 2],
      [' there', 2, null],
    ],
  );
  assert.equal(changes[0]!.before, 0.2);
  assert.equal(changes[0]!.after, 0.45);
});

test('the state takes features, drops the old steering run with a new result, and tracks each run', () => {
  let state = reduceFeatures(INITIAL_FEATURES_STATE, { type: 'features', result, dictionaryName: 'owner/tc' });
  assert.equal(state.result, result);
  assert.equal(state.dictionaryName, 'owner/tc');
  const edits = [{ layer: 0, feature: 2, kind: 'set' as const, value: 0 }];
  state = reduceFeatures(state, { type: 'steered', result: syntheticSteer(edits, 2), edits });
  assert.deepEqual(state.steered?.edits, edits);
  state = reduceFeatures(state, { type: 'featureBusy', run: 'steer', busy: true });
  assert.deepEqual(state.busy, { features: false, steer: true, graph: false });
  state = reduceFeatures(state, { type: 'features', result, dictionaryName: 'owner/tc' });
  assert.equal(state.steered, null);
});
