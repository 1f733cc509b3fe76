import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logitLens, logitLensHooks, logitLensLabels } from '../../../src/engine/analysis/logit-lens.js';
import { softmax } from '../../../src/engine/analysis/softmax.js';
import { rankOf } from '../../../src/engine/analysis/top-k.js';
import { mulberry32 } from '../../../src/engine/analysis/seeded-random.js';
import type { ActivationCache } from '../../../src/engine/hooks.js';
import { tensor } from '../../../src/engine/tensor.js';
import { randomGpt2, ReferenceRunner } from '../../helpers/random-gpt2-weights.js';

const model = randomGpt2({ nLayers: 2, nHeads: 2, dModel: 8, vocab: 40, nCtx: 16, seed: 21 });
const random = mulberry32(9);
const runner = new ReferenceRunner(
  model,
  Float32Array.from({ length: 40 }, () => random() - 0.5),
);
const ids = [1, 5, 9, 1, 5];
const text = (id: number): string => ` w${id}`;

test('lens depths are resid_pre 0 .. L−1 then resid_post L−1', () => {
  assert.deepEqual(logitLensLabels(2), ['resid_pre 0', 'resid_pre 1', 'resid_post 1']);
  assert.deepEqual(logitLensHooks(2), ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.1.hook_resid_post']);
});

test('the last lens depth reproduces the model’s logits: top-k, probabilities and the target’s rank at every position', async () => {
  const { cache } = await runner.forward(ids, { hooks: [...logitLensHooks(2), 'logits'] });
  const logits = cache.get('logits')!.data;
  const lens = await logitLens({
    cache,
    config: runner.config,
    weights: runner.weights,
    position: 4,
    targetId: 9,
    topK: 5,
    perPosition: true,
    tokenText: text,
  });
  const last = lens.layers.at(-1)!;
  const row = logits.subarray(4 * 40, 5 * 40);
  const probs = softmax(row);
  last.top.forEach((p) => {
    assert.ok(Math.abs(p.logit - row[p.tokenId]!) < 1e-4);
    assert.ok(Math.abs(p.prob - probs[p.tokenId]!) < 1e-5);
  });
  const order = Array.from(row, (v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0])
    .slice(0, 5)
    .map(([, i]) => i);
  assert.deepEqual(
    last.top.map((p) => p.tokenId),
    order,
  );
  assert.equal(last.targetRank, rankOf(row, 9));
  assert.ok(Math.abs(last.targetProb - probs[9]!) < 1e-5);
  assert.equal(lens.perPosition!.length, 3);
  lens.perPosition!.at(-1)!.forEach((p, pos) => {
    const r = logits.subarray(pos * 40, (pos + 1) * 40);
    assert.equal(rankOf(r, p.tokenId), 0);
    assert.ok(Math.abs(p.logit - r[p.tokenId]!) < 1e-4);
  });
});

test('each depth recomputes ln_final statistics from its own residual (a 10× residual gives the same lens)', async () => {
  const d = 8;
  const x = Float32Array.from({ length: d }, () => random() * 2 - 1);
  const cache: ActivationCache = new Map();
  cache.set(
    'blocks.0.hook_resid_pre',
    tensor(
      Float32Array.from(x, (v) => 10 * v),
      [1, d],
    ),
  );
  cache.set(
    'blocks.1.hook_resid_pre',
    tensor(
      Float32Array.from(x, (v) => -3 + v),
      [1, d],
    ),
  ); // a shift is centred away
  cache.set('blocks.1.hook_resid_post', tensor(x, [1, d]));
  // A misleading final scale: if the lens reused it, depth 0 would come out ten times too sharp.
  cache.set('ln_final.hook_scale', tensor(Float32Array.from([1e-3]), [1, 1]));
  const lens = await logitLens({
    cache,
    config: runner.config,
    weights: runner.weights,
    position: 0,
    targetId: 3,
    topK: 40,
    perPosition: false,
    tokenText: text,
  });
  assert.equal(lens.perPosition, null);
  const [a, b, c] = lens.layers.map((l) => l.top);
  for (let i = 0; i < 40; i++) {
    assert.equal(a![i]!.tokenId, c![i]!.tokenId);
    assert.equal(b![i]!.tokenId, c![i]!.tokenId);
    assert.ok(Math.abs(a![i]!.logit - c![i]!.logit) < 1e-3, `${a![i]!.logit} vs ${c![i]!.logit}`);
  }
});
