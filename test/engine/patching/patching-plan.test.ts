/**
 * The pieces of a patching sweep that need no model: the metrics, the sites of each kind, and the
 * batch plan (which engine calls run which sites from which query position).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesPerVariant, firstChangedPosition, planBatches } from '../../../src/engine/patching/batch-plan.js';
import { firstDifference } from '../../../src/engine/patching/patch-inputs.js';
import { measureLogits, patchEntry, recovery, RECOVERY_MIN_DENOMINATOR } from '../../../src/engine/patching/patch-metric.js';
import { patchSites, siteHookName, type PatchSite } from '../../../src/engine/patching/patch-sites.js';

const SMALL = { dModel: 768, dMlp: 3072, nHeads: 12, dVocab: 50257 };

describe('patching metrics', () => {
  test('logit difference and probability of hand-computed logits', () => {
    const logits = Float32Array.from([1, 2, 3, 0]);
    const z = Math.E + Math.E ** 2 + Math.E ** 3 + 1;
    const withContrast = measureLogits(logits, { targetId: 2, contrastId: 0 });
    assert.equal(withContrast.logitDiff, 2);
    assert.ok(Math.abs(withContrast.prob - Math.E ** 3 / z) < 1e-12);
    const alone = measureLogits(logits, { targetId: 1, contrastId: null });
    assert.equal(alone.logitDiff, 2);
    assert.ok(Math.abs(alone.prob - Math.E ** 2 / z) < 1e-12);
  });

  test('the probability does not overflow on large logits', () => {
    const logits = Float32Array.from([1000, 999, -1000]);
    const m = measureLogits(logits, { targetId: 0, contrastId: null });
    assert.ok(Math.abs(m.prob - 1 / (1 + Math.exp(-1))) < 1e-12);
  });

  test('recovery: 0 is no effect, 1 full restoration, NaN for a vanishing denominator', () => {
    assert.equal(recovery(-1, 3, -1), 0);
    assert.equal(recovery(3, 3, -1), 1);
    assert.equal(recovery(1, 3, -1), 0.5);
    assert.equal(recovery(5, 3, -1), 1.5);
    assert.ok(Number.isNaN(recovery(1, 2, 2)));
    assert.ok(Number.isNaN(recovery(1, 2 + RECOVERY_MIN_DENOMINATOR / 2, 2)));
    assert.ok(Number.isFinite(recovery(1, 2 + 2 * RECOVERY_MIN_DENOMINATOR, 2)));
    // NaN survives as a number in memory and becomes null in JSON.
    assert.equal(JSON.stringify({ recovery: recovery(0, 1, 1) }), '{"recovery":null}');
  });

  test('an entry carries only the coordinates its site has', () => {
    // The recovery is on the metric (`value`), not the logit difference.
    const baselines = { clean: { value: 2, logitDiff: 7, prob: 0.5 }, corrupt: { value: 0, logitDiff: 3, prob: 0.1 } };
    assert.deepEqual(patchEntry({ layer: 3, head: 1 }, { value: 1, logitDiff: 9, prob: 0.3 }, baselines), {
      layer: 3,
      head: 1,
      value: 1,
      logitDiff: 9,
      prob: 0.3,
      recovery: 0.5,
    });
    assert.deepEqual(Object.keys(patchEntry({ layer: 3, position: 4 }, { value: 1, logitDiff: 1, prob: 0.3 }, baselines)), [
      'layer',
      'position',
      'value',
      'logitDiff',
      'prob',
      'recovery',
    ]);
  });
});

describe('patch sites', () => {
  const dims = { nLayers: 3, nHeads: 2, nPos: 4 };
  test('each kind, layer-major', () => {
    assert.deepEqual(patchSites('heads-last', dims).slice(0, 3), [
      { hook: 'z', layer: 0, head: 0, position: 3 },
      { hook: 'z', layer: 0, head: 1, position: 3 },
      { hook: 'z', layer: 1, head: 0, position: 3 },
    ]);
    assert.equal(patchSites('heads-last', dims, { position: 1 })[0]!.position, 1);
    assert.deepEqual(patchSites('heads-all', dims)[5], { hook: 'z', layer: 2, head: 1 });
    assert.equal(patchSites('heads-all', dims).length, 6);
    assert.deepEqual(patchSites('resid', dims).slice(3, 5), [
      { hook: 'resid_pre', layer: 0, position: 3 },
      { hook: 'resid_pre', layer: 1, position: 0 },
    ]);
    assert.equal(patchSites('attn', dims)[0]!.hook, 'attn_out');
    assert.equal(patchSites('mlp', dims).length, 12);
    assert.deepEqual(patchSites('single', dims, { component: { hook: 'z', layer: 2, head: 1, position: 0 } }), [{ hook: 'z', layer: 2, head: 1, position: 0 }]);
  });
  test('hook names', () => {
    assert.equal(siteHookName({ hook: 'z', layer: 9 }), 'blocks.9.attn.hook_z');
    assert.equal(siteHookName({ hook: 'resid_pre', layer: 0 }), 'blocks.0.hook_resid_pre');
    assert.equal(siteHookName({ hook: 'attn_out', layer: 1 }), 'blocks.1.hook_attn_out');
    assert.equal(siteHookName({ hook: 'mlp_out', layer: 2 }), 'blocks.2.hook_mlp_out');
  });
});

describe('batch plan', () => {
  const P = 16;

  /** Every site is run exactly once or provably unchanged; batches start no later than their sites change. */
  function checkPlan(sites: PatchSite[], first: number, plan: ReturnType<typeof planBatches>): void {
    const seen = [...plan.unchanged, ...plan.batches.flatMap((b) => b.sites)].sort((a, b) => a - b);
    assert.deepEqual(
      seen,
      sites.map((_, i) => i),
    );
    let lastLayer = -1;
    for (const batch of plan.batches) {
      assert.ok(batch.layer >= lastLayer, 'ascending layers');
      lastLayer = batch.layer;
      for (const i of batch.sites) {
        assert.equal(sites[i]!.layer, batch.layer);
        const from = firstChangedPosition(sites[i]!, first, P);
        assert.notEqual(from, null);
        assert.ok(batch.queryFrom <= from!, `site ${i} changes from ${from} but its batch starts at ${batch.queryFrom}`);
      }
    }
    for (const i of plan.unchanged) assert.equal(firstChangedPosition(sites[i]!, first, P), null);
  }

  test('first changed positions', () => {
    assert.equal(firstChangedPosition({ hook: 'resid_pre', layer: 0, position: 5 }, 0, P), 5);
    assert.equal(firstChangedPosition({ hook: 'resid_pre', layer: 0, position: 5 }, 6, P), null);
    assert.equal(firstChangedPosition({ hook: 'resid_pre', layer: 0, position: 6 }, 6, P), 6);
    assert.equal(firstChangedPosition({ hook: 'z', layer: 0, head: 0 }, 6, P), 6);
    assert.equal(firstChangedPosition({ hook: 'z', layer: 0, head: 0 }, P, P), null, 'identical prompts: nothing changes');
    assert.equal(firstDifference([1, 2, 3], [1, 2, 4]), 2);
    assert.equal(firstDifference([1, 2, 3], [1, 2, 3]), 3);
  });

  test('heads at the last position: one batch per layer, a one-token pass', () => {
    const sites = patchSites('heads-last', { nLayers: 12, nHeads: 12, nPos: P });
    const plan = planBatches(sites, SMALL, { nPos: P, firstDifference: 0 });
    checkPlan(sites, 0, plan);
    assert.equal(plan.batches.length, 12);
    for (const b of plan.batches) {
      assert.equal(b.queryFrom, P - 1);
      assert.equal(b.sites.length, 12);
    }
  });

  test('heads at all positions start at the first differing token', () => {
    const sites = patchSites('heads-all', { nLayers: 12, nHeads: 12, nPos: P });
    const plan = planBatches(sites, SMALL, { nPos: P, firstDifference: 7 });
    checkPlan(sites, 7, plan);
    assert.ok(plan.batches.every((b) => b.queryFrom === 7));
    const identical = planBatches(sites, SMALL, { nPos: P, firstDifference: P });
    assert.equal(identical.batches.length, 0);
    assert.equal(identical.unchanged.length, sites.length);
  });

  test('residual sweep: positions in the shared prefix are skipped; the grouping follows the call cost', () => {
    const sites = patchSites('resid', { nLayers: 12, nHeads: 12, nPos: P });
    const plan = planBatches(sites, SMALL, { nPos: P, firstDifference: 4 });
    checkPlan(sites, 4, plan);
    assert.equal(plan.unchanged.length, 12 * 4);

    // Free calls: no batch runs a row it does not need.
    const free = planBatches(sites, SMALL, { nPos: P, firstDifference: 0, callCostRows: 0 });
    checkPlan(sites, 0, free);
    for (const b of free.batches) for (const i of b.sites) assert.equal(sites[i]!.position, b.queryFrom);
    // Prohibitive calls: one batch per layer, from position 0.
    const costly = planBatches(sites, SMALL, { nPos: P, firstDifference: 0, callCostRows: 1e9 });
    checkPlan(sites, 0, costly);
    assert.equal(costly.batches.length, 12);
    // In between: several batches per layer.
    const mid = planBatches(sites, SMALL, { nPos: P, firstDifference: 0, callCostRows: 32 });
    checkPlan(sites, 0, mid);
    assert.ok(mid.batches.length > 12 && mid.batches.length < 12 * P, `${mid.batches.length} batches`);
  });

  test('the memory budget bounds the variants of a call', () => {
    const sites = patchSites('heads-all', { nLayers: 2, nHeads: 12, nPos: P });
    const perVariant = bytesPerVariant(SMALL, P, P);
    const plan = planBatches(sites, SMALL, { nPos: P, firstDifference: 0, memoryBudgetBytes: 5 * perVariant, callCostRows: 1e9 });
    checkPlan(sites, 0, plan);
    assert.ok(plan.batches.every((b) => b.sites.length <= 5));
    assert.equal(plan.batches.length, 2 * 3);
    // Even a budget below one variant runs every site, one per call.
    const tight = planBatches(sites, SMALL, { nPos: P, firstDifference: 0, memoryBudgetBytes: 1 });
    assert.equal(tight.batches.length, sites.length);
  });

  test('a long prompt at GPT-2-small size is split to stay within the default budget', () => {
    const n = 1024;
    const sites = patchSites('heads-all', { nLayers: 12, nHeads: 12, nPos: n });
    const plan = planBatches(sites, SMALL, { nPos: n, firstDifference: 0 });
    assert.ok(bytesPerVariant(SMALL, n, n) > 100e6);
    assert.ok(plan.batches.every((b) => b.sites.length * bytesPerVariant(SMALL, n - b.queryFrom, n) <= 256 * 2 ** 20 || b.sites.length === 1));
  });
});
