/**
 * The attribution view's data (views/attribution/attribution-model.ts, attribution-state.ts): the
 * scatter's Pearson correlation against one computed here independently (mean-centred z-scores in
 * float64), which heads it pairs and in which units, when it refuses a sweep, the heatmap grids,
 * and the Lab state's handling of the attribution messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PatchSweepResult } from '../../../src/protocol/analysis.js';
import {
  attributionHeadGrid,
  attributionPositionGrid,
  attributionScatter,
  describePathCell,
  describePoint,
  exactSweepRequest,
  pathPatchGrid,
  pearson,
} from '../../../src/webviews/lab/views/attribution/attribution-model.js';
import { INITIAL_ATTRIBUTION_STATE, reduceAttribution } from '../../../src/webviews/lab/views/attribution/attribution-state.js';
import { initialLabState, labReducer } from '../../../src/webviews/lab/state/lab-state.js';
import { syntheticAttributionMap, syntheticPathPatchMap } from '../../mocks/synthetic-attribution.js';

/** Pearson's r as the mean product of z-scores (population standard deviations), written from the definition. */
function referencePearson(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / n;
  const sd = (v: readonly number[], m: number) => Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / n);
  const mx = mean(xs),
    my = mean(ys);
  const sx = sd(xs, mx),
    sy = sd(ys, my);
  return xs.reduce((a, x, i) => a + ((x - mx) / sx) * ((ys[i]! - my) / sy), 0) / n;
}

/** A 'heads-all' sweep of the synthetic map's prompts whose exact effects (value − corrupt.value) are `exact[layer * nHeads + head]`. */
function headsAllSweep(exact: readonly number[], nLayers: number, nHeads: number, overrides: Partial<PatchSweepResult> = {}): PatchSweepResult {
  const map = syntheticAttributionMap({ nLayers, nHeads });
  const corrupt = -1;
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
    corrupt: { value: corrupt, logitDiff: corrupt, prob: 0.1 },
    entries: exact.map((x, i) => ({ layer: Math.floor(i / nHeads), head: i % nHeads, value: corrupt + x, logitDiff: corrupt + x, prob: 0.2, recovery: x / 4 })),
    elapsedMs: 1,
    ...overrides,
  };
}

test('pearson: known data, against the z-score definition', () => {
  const xs = [1, 2, 3, 4, 5],
    ys = [2, 4, 5, 4, 5];
  assert.ok(Math.abs(pearson(xs, ys)! - Math.sqrt(0.6)) < 1e-12, 'r of this textbook example is √0.6');
  assert.ok(Math.abs(pearson(xs, ys)! - referencePearson(xs, ys)) < 1e-12);
  assert.ok(Math.abs(pearson([1, 2, 3], [6, 4, 2])! + 1) < 1e-12, 'a falling line is −1');
  assert.equal(pearson([1, 1, 1], [1, 2, 3]), null, 'constant x: undefined');
  assert.equal(pearson([1], [2]), null, 'one point: undefined');
});

test('the scatter pairs each head with its exact effect in metric units, and its r equals the independent Pearson', () => {
  const nLayers = 2,
    nHeads = 3;
  const map = syntheticAttributionMap({ nLayers, nHeads }); // AtP(L, H) = 10 L + H
  const exact = [0.5, -1.25, 2, 7.5, 13, 9]; // exact effect of each head, layer-major
  const scatter = attributionScatter(map, headsAllSweep(exact, nLayers, nHeads));
  assert.ok(scatter.ok);
  assert.equal(scatter.points.length, 6);
  const l1h1 = scatter.points.find((p) => p.name === 'L1H1')!;
  assert.deepEqual([l1h1.layer, l1h1.head, l1h1.exact, l1h1.score], [1, 1, 13, 11]);
  assert.deepEqual(
    scatter.points.map((p) => p.exact),
    [...exact].sort((a, b) => a - b),
    'sorted by the exact effect (uPlot draws along x)',
  );
  const expected = referencePearson(exact, [0, 1, 2, 10, 11, 12]);
  assert.ok(Math.abs(scatter.r! - expected) < 1e-12, `${scatter.r} vs ${expected}`);
  assert.equal(describePoint(l1h1, 'atp'), 'L1H1: exact +13.0, AtP +11.0');
});

test('the scatter refuses a sweep that does not measure what the attribution measured, saying why', () => {
  const map = syntheticAttributionMap();
  const exact = [1, 2, 3, 4, 5, 6];
  const reason = (sweep: PatchSweepResult | null) => {
    const s = attributionScatter(map, sweep);
    assert.ok(!s.ok);
    return s.reason;
  };
  assert.match(reason(null), /No exact sweep/);
  assert.match(reason(headsAllSweep(exact, 2, 3, { kind: 'heads-last' })), /every position/);
  assert.match(reason(headsAllSweep(exact, 2, 3, { cleanTokens: map.corruptTokens })), /other prompts/);
  assert.match(reason(headsAllSweep(exact, 2, 3, { contrastId: null })), /another target or contrast/);
  assert.match(reason(headsAllSweep(exact, 2, 3, { metric: 'prob_diff_greater_than' })), /prob_diff_greater_than/);
  assert.deepEqual(exactSweepRequest(map), {
    cleanIds: map.cleanTokens.map((t) => t.id),
    corruptIds: map.corruptTokens.map((t) => t.id),
    target: { id: 7 },
    contrast: { id: 8 },
    kind: 'heads-all',
  });
});

test('grids: path patching per sender (NaN for heads that send nothing), attribution per head and per layer and position', () => {
  const paths = syntheticPathPatchMap({ nLayers: 3, nHeads: 2, receivers: 'L2H0:k' });
  paths.entries = paths.entries.filter((e) => e.layer < 2);
  paths.entries[1]!.normalized = null;
  const g = pathPatchGrid(paths);
  assert.deepEqual([g.rows, g.cols], [3, 2]);
  assert.equal(g.values[0], -0);
  assert.ok(Number.isNaN(g.values[1]!), 'no denominator');
  assert.ok(Math.abs(g.values[2]! + 0.1) < 1e-7);
  assert.ok(Number.isNaN(g.values[4]!) && Number.isNaN(g.values[5]!), 'the receiver layer sends nothing');
  assert.match(describePathCell(paths, 2, 0), /no sender for L2H0:k/);
  assert.match(describePathCell(paths, 1, 0), /L1H0 → L2H0:k: normalized effect −0\.100/);

  const map = syntheticAttributionMap({ nLayers: 2, nHeads: 3 });
  const heads = attributionHeadGrid(map);
  assert.deepEqual([heads.rows, heads.cols, heads.values[5]], [2, 3, 12]);
  const mlp = attributionPositionGrid(map, 'mlp_out')!;
  assert.deepEqual([mlp.rows, mlp.cols, mlp.values[1 * 4 + 2]], [2, 4, 212]);
  assert.equal(attributionPositionGrid(syntheticAttributionMap({ method: 'eap-ig' }), 'resid_pre'), null, 'EAP-IG has no per-position scores');
});

test('state: the attribution messages fill the Lab state; busy flags are per run', () => {
  const map = syntheticAttributionMap();
  const paths = syntheticPathPatchMap();
  let s = reduceAttribution(INITIAL_ATTRIBUTION_STATE, { type: 'attributionBusy', run: 'attribution', busy: true });
  assert.deepEqual(s.busy, { attribution: true, pathPatch: false });
  s = reduceAttribution(s, { type: 'attributionMap', map });
  s = reduceAttribution(s, { type: 'pathPatchMap', map: paths });
  assert.equal(s.map, map);
  assert.equal(s.pathPatch, paths);
  let lab = initialLabState('attribution', null);
  lab = labReducer(lab, { type: 'host', message: { type: 'attributionMap', map }, now: 0 });
  lab = labReducer(lab, { type: 'host', message: { type: 'attributionBusy', run: 'pathPatch', busy: true }, now: 0 });
  assert.equal(lab.attribution.map, map);
  assert.equal(lab.attribution.busy.pathPatch, true);
  assert.equal(lab.attribution.pathPatch, null);
  lab = labReducer(lab, {
    type: 'host',
    message: { type: 'attributionBusy', run: 'attribution', busy: false, error: 'Gradient graphs are not built for gpt_neox.' },
    now: 0,
  });
  assert.deepEqual(lab.attribution.errors, { attribution: 'Gradient graphs are not built for gpt_neox.', pathPatch: null }, 'the view shows the error');
  lab = labReducer(lab, { type: 'host', message: { type: 'attributionBusy', run: 'attribution', busy: true }, now: 0 });
  assert.equal(lab.attribution.errors.attribution, null, 'a new run clears it');
});
