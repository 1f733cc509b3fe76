/**
 * The final graph's token scores (gpt2-graphs.ts: score / score_tokens): the logits of chosen
 * tokens and their softmax probabilities over the whole vocabulary, against the float64
 * definition (measureLogits), including rows whose softmax is dominated by one logit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import type { ModelConfig } from '../../../src/engine/model/config.js';
import { buildFinalGraph } from '../../../src/engine/onnx/gpt2-graphs.js';
import { measureLogits } from '../../../src/engine/patching/patch-metric.js';
import { tensor } from '../../../src/engine/tensor.js';

const V = 50257,
  D = 4;

test('token scores equal the float64 softmax of the logits they come from', async () => {
  let seed = 7;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  // ln_final with zero gain and bias e_0 makes every position's normalised stream e_0, so its
  // logits are column 0 of W_U_T: rows of chosen logits, one per variant, through the real graph.
  const wanted = [0.5, 3, 20].map((spread) => Float32Array.from({ length: V }, () => (random() - 0.5) * spread));
  wanted[2]![123] = 200; // a dominant logit: its probability is 1 in float32
  wanted.push(Float32Array.from({ length: V }, (_, i) => (i === 123 ? 5 : 0)));
  const config = { dModel: D, dVocab: V, eps: 1e-5 } as ModelConfig;
  const sessions = await Promise.all(
    wanted.map((logits) => {
      const W_U_T = new Float32Array(V * D);
      logits.forEach((x, v) => {
        W_U_T[v * D] = x;
      });
      const graph = buildFinalGraph(
        config,
        {
          ln_final: { w: tensor(new Float32Array(D), [D]), b: tensor(Float32Array.from([1, 0, 0, 0]), [D]) },
          W_U_T: tensor(W_U_T, [V, D]),
          b_U: tensor(new Float32Array(V), [V]),
        },
        'inputs',
      );
      return { graph, session: ort.InferenceSession.create(graph.model) };
    }),
  );
  const int64 = (values: number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [values.length]);
  for (const [i, { graph, session }] of sessions.entries()) {
    const feeds: Record<string, ort.Tensor> = {
      resid: new ort.Tensor('float32', Float32Array.from({ length: 2 * 3 * D }, random), [2, 3, D]),
      logit_pos: int64([0, 2]),
      score: new ort.Tensor('bool', Uint8Array.of(1), []),
      score_tokens: int64([123, 7]),
    };
    for (const [name, w] of graph.weightFeeds) feeds[name] = new ort.Tensor('float32', w.data, w.dims);
    const out = await (await session).run(feeds, ['token_logits', 'token_probs', 'logits']);
    assert.deepEqual(out['token_probs']!.dims, [4, 2]);
    const logits = out['logits']!.data as Float32Array;
    const probs = out['token_probs']!.data as Float32Array,
      tokenLogits = out['token_logits']!.data as Float32Array;
    for (let row = 0; row < 4; row++) {
      const rowLogits = logits.subarray(row * V, (row + 1) * V);
      assert.deepEqual([...rowLogits.subarray(0, 5)], [...wanted[i]!.subarray(0, 5)], 'the rows are the chosen logits');
      for (const [k, token] of [123, 7].entries()) {
        assert.equal(tokenLogits[row * 2 + k], wanted[i]![token]);
        const want = measureLogits(rowLogits, { targetId: token, contrastId: null }).prob;
        // Float32 sums over 50 257 terms: a few parts per million.
        assert.ok(Math.abs(probs[row * 2 + k]! - want) <= 2e-5 * want + 1e-30, `logits ${i}, row ${row}, token ${token}: ${probs[row * 2 + k]} vs ${want}`);
      }
    }
    // Scoring nothing is an empty result, not an error: the plain forward feeds no rows.
    const none = await (await session).run({ ...feeds, score: new ort.Tensor('bool', Uint8Array.of(0), []) }, ['token_logits', 'token_probs']);
    assert.deepEqual(none['token_logits']!.dims, [0, 2]);
    assert.deepEqual(none['token_probs']!.dims, [0, 2]);
  }
});
