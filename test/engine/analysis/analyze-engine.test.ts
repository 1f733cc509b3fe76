/**
 * The analyses on the real engine (ONNX Runtime, float32) against the same seeded random GPT-2
 * served by the float64 reference forward: exactness of the decompositions on the engine's own
 * activations, and agreement between the two forwards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/engine/analysis/analyze.js';
import { circuitTrace, circuitTraceHooks } from '../../../src/engine/analysis/circuit-trace.js';
import { jsLensUnembed, runnerLensUnembed } from '../../../src/engine/analysis/lens-unembed.js';
import { logitLens, logitLensHooks } from '../../../src/engine/analysis/logit-lens.js';
import { mulberry32 } from '../../../src/engine/analysis/seeded-random.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import type { ModelInfo } from '../../../src/protocol/analysis.js';
import { randomGpt2, ReferenceRunner } from '../../helpers/random-gpt2-weights.js';
import { WordTokenizer } from '../../helpers/word-tokenizer.js';

const L = 3;
const H = 4;
const V = 64;
const model = randomGpt2({ nLayers: L, nHeads: H, dModel: 16, vocab: V, nCtx: 32, seed: 11 });
const reference = new ReferenceRunner(model);
const tokenizer = new WordTokenizer(V);
const modelInfo: ModelInfo = { id: 'random', displayName: 'random', nLayers: L, nHeads: H, dModel: 16, dHead: 4, dVocab: V, nCtx: 32 };
const ids = [3, 17, 42, 8, 3, 17, 42, 8, 5, 3];
const text = (id: number): string => ` w${id}`;
let engine: InstrumentedModel;

before(async () => {
  engine = await InstrumentedModel.create({ config: model.config, weights: model.weights }, { device: 'cpu', threads: 1 });
});
after(async () => {
  await engine.dispose();
});

test('on the engine’s activations, DLA sums to the logit and to the logit difference (1e-4), and head splits sum to the head', async () => {
  const { cache } = await engine.forward(ids, { hooks: circuitTraceHooks(L) });
  const logits = cache.get('logits')!.data;
  for (const [position, target, contrast, dla] of [
    [9, 17, null, 'raw'],
    [9, 17, null, 'tl'],
    [9, 17, 40, 'tl'],
    [4, 0, null, 'raw'],
    [0, 63, 2, 'raw'],
  ] as const) {
    const trace = circuitTrace({
      cache,
      config: engine.config,
      weights: engine.weights,
      position,
      targetId: target,
      contrastId: contrast,
      tokenText: text,
      dla,
    });
    const row = logits.subarray(position * V, (position + 1) * V);
    // 'tl' without a contrast traces the logit minus the mean logit (TransformerLens's centred unembedding).
    const subtracted = contrast !== null ? row[contrast]! : dla === 'tl' ? row.reduce((a, b) => a + b, 0) / V : 0;
    const expected = row[target]! - subtracted;
    assert.ok(Math.abs(trace.total - expected) < 1e-4, `position ${position}: total ${trace.total} vs ${expected}`);
    for (let lh = 0; lh < L * H; lh++) {
      let sum = 0;
      for (let k = 0; k < ids.length; k++) sum += trace.headBySource[lh * ids.length + k]!;
      assert.ok(Math.abs(sum - trace.heads[lh]!) < 1e-4, `head ${lh}`);
    }
  }
});

test('on the engine’s activations, the last lens depth equals the engine’s logits at every position', async () => {
  const { cache } = await engine.forward(ids, { hooks: [...logitLensHooks(L), 'logits'] });
  const logits = cache.get('logits')!.data;
  const lens = await logitLens({
    cache,
    config: engine.config,
    weights: engine.weights,
    position: 9,
    targetId: 5,
    topK: V,
    perPosition: true,
    tokenText: text,
  });
  for (const p of lens.layers.at(-1)!.top) assert.ok(Math.abs(p.logit - logits[9 * V + p.tokenId]!) < 1e-4);
  lens.perPosition!.at(-1)!.forEach((p, pos) => assert.ok(Math.abs(p.logit - logits[pos * V + p.tokenId]!) < 1e-4));
});

test('analyze on the engine agrees with analyze on the float64 reference', async () => {
  const request = { ids, contrast: { id: 40 }, perPosition: true, topK: 5 } as const;
  const streamed: number[] = [];
  const [a, b] = [
    await analyze(engine, tokenizer, request, { modelInfo, onLayer: (u) => streamed.push(u.layer) }),
    await analyze(reference, tokenizer, request, { modelInfo }),
  ];
  assert.deepEqual(streamed, [0, 1, 2]);
  assert.equal(a.device, 'cpu');
  assert.deepEqual(
    a.predictions.map((p) => p.tokenId),
    b.predictions.map((p) => p.tokenId),
  );
  assert.equal(a.trace.targetId, b.trace.targetId);
  const close = (x: number, y: number, tol: number, what: string): void => assert.ok(Math.abs(x - y) <= tol, `${what}: ${x} vs ${y}`);
  close(a.trace.total, b.trace.total, 1e-4, 'total');
  for (let i = 0; i < a.attention.length; i++) close(a.attention[i]!, b.attention[i]!, 1e-5, `attention[${i}]`);
  a.heads.forEach((h, i) => {
    const r = b.heads[i]!;
    assert.equal(h.label, r.label);
    close(h.dla, r.dla, 1e-4, `${h.name} dla`);
    close(h.outputNorm, r.outputNorm, 1e-4, `${h.name} outputNorm`);
    close(h.entropy, r.entropy, 1e-5, `${h.name} entropy`);
    for (const k of ['previous', 'duplicate', 'induction'] as const) close(h.scores[k]!, r.scores[k]!, 1e-5, `${h.name} ${k}`);
  });
  a.lens.layers.forEach((layer, d) => {
    assert.equal(layer.targetRank, b.lens.layers[d]!.targetRank);
    close(layer.targetProb, b.lens.layers[d]!.targetProb, 1e-5, `lens ${d}`);
  });
});

test('the lens unembedding on the runtime equals the float64 JavaScript one, also past n_ctx vectors (split runs)', async () => {
  const random = mulberry32(17);
  const count = 40; // > n_ctx 32
  const rows = Float32Array.from({ length: count * 16 }, () => 4 * random() - 2);
  const onRuntime = await runnerLensUnembed(engine)(rows, count);
  const inJs = await jsLensUnembed(engine.config, engine.weights)(rows, count);
  assert.equal(onRuntime.length, count);
  for (let i = 0; i < count; i++) for (let t = 0; t < V; t++) assert.ok(Math.abs(onRuntime[i]![t]! - inJs[i]![t]!) < 1e-4, `vector ${i} token ${t}`);
});
