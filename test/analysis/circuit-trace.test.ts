import { test } from 'node:test';
import assert from 'node:assert/strict';
import { circuitTrace, circuitTraceHooks, topHeadPath } from '../../src/engine/analysis/circuit-trace.js';
import { layerHook } from '../../src/engine/hooks.js';
import { mulberry32 } from '../../src/engine/analysis/seeded-random.js';
import { randomGpt2, ReferenceRunner } from './helpers/random-gpt2.js';

const model = randomGpt2({ nLayers: 3, nHeads: 4, dModel: 16, vocab: 64, nCtx: 32, seed: 11 });
const random = mulberry32(5);
const bU = Float32Array.from({ length: 64 }, () => random() - 0.5);
const runner = new ReferenceRunner(model, bU);
const ids = [3, 17, 42, 8, 3, 17, 42, 8, 5];
const text = (id: number): string => ` w${id}`;

async function traceFor(position: number, targetId: number, contrastId: number | null) {
  const { cache } = await runner.forward(ids, { hooks: circuitTraceHooks(3) });
  return { cache, trace: circuitTrace({ cache, config: runner.config, weights: runner.weights, position, targetId, contrastId, tokenText: text }) };
}

test('DLA components sum to the model logit of the target (1e-4), at the last and an inner position', async () => {
  for (const [position, target] of [[8, 7], [3, 42], [0, 63]] as const) {
    const { cache, trace } = await traceFor(position, target, null);
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

test('each head value equals its output z @ W_O, centred, divided by the final scale, times w · W_U[:, t]', async () => {
  const { cache, trace } = await traceFor(6, 9, null);
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

test('each head’s split by source position sums to the head’s contribution, and keys after the query are 0', async () => {
  const position = 5;
  const { trace } = await traceFor(position, 20, 21);
  const n = ids.length;
  for (let lh = 0; lh < 12; lh++) {
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const v = trace.headBySource[lh * n + k]!;
      if (k > position) assert.equal(v, 0);
      sum += v;
    }
    assert.ok(Math.abs(sum - trace.heads[lh]!) < 1e-5, `head ${lh}: split ${sum} vs total ${trace.heads[lh]}`);
  }
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
  assert.deepEqual(topPath.map((nodes) => nodes.map((n) => n.head)), [[1, 2], [0, 2]]);
  assert.equal(edges.length, 4);
  const weight = (a: number, b: number) => edges.find((e) => e.from.head === a && e.to.head === b)!.weight;
  assert.equal(weight(1, 0), 1); // 2·4 is the largest
  assert.ok(Math.abs(weight(1, 2) - 6 / 8) < 1e-12);
  assert.ok(Math.abs(weight(2, 0) - 4 / 8) < 1e-12);
  assert.ok(Math.abs(weight(2, 2) - 3 / 8) < 1e-12);
  assert.deepEqual(topHeadPath(new Float32Array(6), 2, 3, 1).edges.map((e) => e.weight), [0]);
});
