import { test } from 'node:test';
import assert from 'node:assert/strict';
import { circuitTrace, circuitTraceHooks, topHeadPath } from '../../../src/engine/analysis/circuit-trace.js';
import { layerHook } from '../../../src/engine/hooks.js';
import { mulberry32 } from '../../../src/engine/analysis/seeded-random.js';
import type { DlaMode } from '../../../src/protocol/analysis.js';
import { directLogitAttribution, forward as tlForward, processWeights, stateFromHfGpt2 } from '../../fixtures/tl-semantics/transformer-lens-reference.js';
import { randomGpt2, ReferenceRunner } from '../../helpers/random-gpt2-weights.js';

const model = randomGpt2({ nLayers: 3, nHeads: 4, dModel: 16, vocab: 64, nCtx: 32, seed: 11 });
const random = mulberry32(5);
const bU = Float32Array.from({ length: 64 }, () => random() - 0.5);
const runner = new ReferenceRunner(model, bU);
const ids = [3, 17, 42, 8, 3, 17, 42, 8, 5];
const text = (id: number): string => ` w${id}`;

async function traceFor(position: number, targetId: number, contrastId: number | null, dla?: DlaMode) {
  const { cache } = await runner.forward(ids, { hooks: circuitTraceHooks(3) });
  return {
    cache,
    trace: circuitTrace({ cache, config: runner.config, weights: runner.weights, position, targetId, contrastId, tokenText: text, ...(dla ? { dla } : {}) }),
  };
}

// The same model as TransformerLens holds it: unprocessed (from_pretrained_no_processing) and processed (from_pretrained).
const rawState = stateFromHfGpt2(model.checkpoint, { nLayers: 3, nHeads: 4, eps: 1e-5 }, bU);
const tlState = processWeights(rawState);
const rawCache = tlForward(rawState, ids);
const tlCache = tlForward(tlState, ids);

test('raw DLA components sum to the model logit of the target (1e-4), at the last and an inner position', async () => {
  for (const [position, target] of [
    [8, 7],
    [3, 42],
    [0, 63],
  ] as const) {
    const { cache, trace } = await traceFor(position, target, null, 'raw');
    const logit = cache.get('logits')!.data[position * 64 + target]!;
    assert.equal(trace.metric, 'logit');
    assert.ok(Math.abs(trace.actual - logit) < 1e-6);
    assert.ok(Math.abs(trace.total - logit) < 1e-4, `total ${trace.total} vs logit ${logit}`);
    const sumComponents = trace.components.reduce((s, c) => s + c.value, 0);
    assert.ok(Math.abs(sumComponents - logit) < 1e-4);
    assert.equal(trace.components.length, 3 * 4 + 3 + 3);
  }
});

test('DLA of a logit difference sums to the model logit difference (1e-4)', async () => {
  const { cache, trace } = await traceFor(8, 12, 30);
  const row = cache.get('logits')!.data.subarray(8 * 64, 9 * 64);
  assert.equal(trace.metric, 'logit_diff');
  assert.equal(trace.contrast, ' w30');
  assert.ok(Math.abs(trace.total - (row[12]! - row[30]!)) < 1e-4);
});

test('raw: each head value equals its output z @ W_O, centred, divided by the final scale, times w · W_U[:, t]', async () => {
  const { cache, trace } = await traceFor(6, 9, null, 'raw');
  const { dModel, dHead, nHeads } = runner.config;
  const scale = cache.get('ln_final.hook_scale')!.data[6]!;
  for (let l = 0; l < 3; l++) {
    const z = cache.get(layerHook(l, 'attn.hook_z'))!.data;
    const W_O = runner.weights.blocks[l]!.W_O.data;
    for (let h = 0; h < nHeads; h++) {
      const out = new Array<number>(dModel).fill(0);
      for (let e = 0; e < dHead; e++) for (let m = 0; m < dModel; m++) out[m]! += z[(6 * nHeads + h) * dHead + e]! * W_O[(h * dHead + e) * dModel + m]!;
      const mean = out.reduce((a, b) => a + b, 0) / dModel;
      let expected = 0;
      for (let m = 0; m < dModel; m++) expected += ((out[m]! - mean) / scale) * runner.weights.ln_final.w.data[m]! * runner.weights.W_U_T.data[9 * dModel + m]!;
      assert.ok(Math.abs(trace.heads[l * nHeads + h]! - expected) < 1e-5, `L${l}H${h}`);
      assert.ok(Math.abs(trace.components.find((c) => c.name === `L${l}H${h}`)!.value - expected) < 1e-5);
    }
  }
});

test('each head’s split by source position sums to the head’s contribution, and keys after the query are 0 (both modes)', async () => {
  const position = 5;
  const n = ids.length;
  for (const [dla, contrast] of [
    ['raw', 21],
    ['tl', 21],
    ['tl', null],
  ] as const) {
    const { trace } = await traceFor(position, 20, contrast, dla);
    for (let lh = 0; lh < 12; lh++) {
      let sum = 0;
      for (let k = 0; k < n; k++) {
        const v = trace.headBySource[lh * n + k]!;
        if (k > position) assert.equal(v, 0);
        sum += v;
      }
      assert.ok(Math.abs(sum - trace.heads[lh]!) < 1e-5, `${dla} head ${lh}: split ${sum} vs total ${trace.heads[lh]}`);
    }
  }
});

function assertMatchesReference(trace: ReturnType<typeof circuitTrace>, expected: ReturnType<typeof directLogitAttribution>, what: string): void {
  const close = (a: number, b: number, name: string): void => assert.ok(Math.abs(a - b) < 1e-4, `${what} ${name}: ${a} vs reference ${b}`);
  expected.heads.forEach((v, i) => close(trace.heads[i]!, v, `head ${i}`));
  expected.mlp.forEach((v, l) => close(trace.mlp[l]!, v, `mlp${l}`));
  close(trace.embed, expected.embed, 'embed');
  close(trace.posEmbed!, expected.posEmbed, 'pos_embed');
  close(trace.bias, expected.bias, 'bias');
  close(trace.total, expected.total, 'total');
  close(trace.actual, expected.actual, 'actual');
}

test('dla "tl" (the default) is apply_ln_to_stack on the weights TransformerLens processes (fold_ln, centring, folded value biases)', async () => {
  for (const [position, target, contrast] of [
    [8, 7, null],
    [8, 12, 30],
    [3, 42, null],
    [0, 63, 2],
  ] as const) {
    const { trace } = await traceFor(position, target, contrast);
    assert.equal(trace.dla, 'tl');
    assertMatchesReference(trace, directLogitAttribution(tlState, tlCache, position, target, contrast), `tl at ${position}`);
  }
});

test('dla "raw" is the same decomposition on the checkpoint’s own weights', async () => {
  for (const [position, target, contrast] of [
    [8, 7, null],
    [8, 12, 30],
    [3, 42, null],
  ] as const) {
    const { trace } = await traceFor(position, target, contrast, 'raw');
    assert.equal(trace.dla, 'raw');
    assertMatchesReference(trace, directLogitAttribution(rawState, rawCache, position, target, contrast), `raw at ${position}`);
  }
});

test('in logit-difference mode both conventions sum to the same logit difference; only the value biases move between heads and bias', async () => {
  const [{ trace: tl }, { trace: raw }] = [await traceFor(8, 12, 30, 'tl'), await traceFor(8, 12, 30, 'raw')];
  assert.ok(Math.abs(tl.total - raw.total) < 1e-5 && Math.abs(tl.actual - raw.actual) < 1e-6);
  assert.ok(Math.abs(tl.embed - raw.embed) < 1e-9 && Math.abs(tl.posEmbed! - raw.posEmbed!) < 1e-9);
  for (let l = 0; l < 3; l++) assert.ok(Math.abs(tl.mlp[l]! - raw.mlp[l]!) < 1e-9);
  const moved = [...raw.heads].reduce((s, v, i) => s + v - tl.heads[i]!, 0);
  assert.ok(Math.abs(moved) > 1e-3, 'the value biases move something on this model');
  assert.ok(Math.abs(tl.bias - raw.bias - moved) < 1e-5);
});

test('dla "tl" in logit mode traces the logit minus the mean logit (center_unembed)', async () => {
  const { cache, trace } = await traceFor(8, 7, null, 'tl');
  const row = cache.get('logits')!.data.subarray(8 * 64, 9 * 64);
  const mean = row.reduce((a, b) => a + b, 0) / 64;
  assert.ok(Math.abs(trace.actual - (row[7]! - mean)) < 1e-6);
  assert.ok(Math.abs(trace.total - trace.actual) < 1e-4);
});

test('an unknown DLA mode is a BAD_ARGUMENT', async () => {
  await assert.rejects(traceFor(8, 7, null, 'folded' as DlaMode), (e: unknown) => (e as { code?: string }).code === 'BAD_ARGUMENT');
});

test('components are sorted by magnitude and named like TransformerLens', async () => {
  const { trace } = await traceFor(8, 7, null);
  for (let i = 1; i < trace.components.length; i++) assert.ok(Math.abs(trace.components[i - 1]!.value) >= Math.abs(trace.components[i]!.value));
  const names = new Set(trace.components.map((c) => c.name));
  for (const name of ['L0H0', 'L2H3', 'mlp0', 'mlp2', 'embed', 'pos_embed', 'bias']) assert.ok(names.has(name), name);
  assert.equal(trace.topPath.length, 3);
  assert.equal(trace.edges.length, 2 * 3 * 3);
});

test('topHeadPath keeps the top-N heads per layer by |value| and normalises edge weights to max 1', () => {
  // 2 layers × 3 heads.
  const heads = Float32Array.from([0.5, -2, 1, /* layer 1 */ 4, 0, -3]);
  const { topPath, edges } = topHeadPath(heads, 2, 3, 2);
  assert.deepEqual(
    topPath.map((nodes) => nodes.map((n) => n.head)),
    [
      [1, 2],
      [0, 2],
    ],
  );
  assert.equal(edges.length, 4);
  const weight = (a: number, b: number) => edges.find((e) => e.from.head === a && e.to.head === b)!.weight;
  assert.equal(weight(1, 0), 1); // 2·4 is the largest
  assert.ok(Math.abs(weight(1, 2) - 6 / 8) < 1e-12);
  assert.ok(Math.abs(weight(2, 0) - 4 / 8) < 1e-12);
  assert.ok(Math.abs(weight(2, 2) - 3 / 8) < 1e-12);
  assert.deepEqual(
    topHeadPath(new Float32Array(6), 2, 3, 1).edges.map((e) => e.weight),
    [0],
  );
});
