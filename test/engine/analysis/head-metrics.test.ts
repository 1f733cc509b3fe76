import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attentionStats, topAttentionPairs, headOutputNorms } from '../../../src/engine/analysis/head-metrics.js';
import { tensor } from '../../../src/engine/tensor.js';
import { patternOf } from '../../helpers/synthetic-patterns.js';

const close = (a: number, b: number, tol = 1e-6): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('uniform causal attention has entropy log(q + 1) per query and normalised entropy 1', () => {
  const n = 5;
  const pattern = patternOf([(q) => Array.from({ length: q + 1 }, () => 1 / (q + 1))], n);
  const stats = attentionStats(pattern, 0);
  let expected = 0;
  for (let q = 0; q < n; q++) expected += Math.log(q + 1);
  close(stats.entropy, expected / n);
  close(stats.entropyNormalized, 1);
  // Concentration leaves query 0 out (its one key always holds weight 1).
  let conc = 0;
  for (let q = 1; q < n; q++) conc += 1 / (q + 1);
  close(stats.concentration, conc / (n - 1), 1e-7);
});

test('one-hot attention has zero entropy and concentration 1; a one-token prompt is well defined', () => {
  const pattern = patternOf([(q) => oneHot(q, Math.max(0, q - 1))], 4);
  assert.deepEqual(attentionStats(pattern, 0), { entropy: 0, entropyNormalized: 0, concentration: 1 });
  const single = patternOf([() => [1]], 1);
  assert.deepEqual(attentionStats(single, 0), { entropy: 0, entropyNormalized: 0, concentration: 1 });
  assert.throws(() => attentionStats(single, 1), RangeError);
});

test('a two-way split at every query: entropy log 2 from query 1 on', () => {
  const pattern = patternOf([(q) => (q === 0 ? [1] : [...new Array<number>(q - 1).fill(0), 0.5, 0.5])], 3);
  const stats = attentionStats(pattern, 0);
  close(stats.entropy, (2 * Math.log(2)) / 3);
  close(stats.entropyNormalized, (1 + Math.log(2) / Math.log(3)) / 2);
  close(stats.concentration, (0.5 + 0.5) / 2, 1e-7);
});

test('headOutputNorms is the mean norm of z @ W_O per head', () => {
  // 2 positions, 2 heads, d_head 2, d_model 3.
  const z = tensor(Float32Array.from([1, 0, 0, 2, /* pos 1 */ 0, 1, 3, 0]), [2, 2, 2]);
  const W_O = tensor(Float32Array.from([3, 4, 0, /* h0 e0 */ 0, 0, 1 /* h0 e1 */, 1, 0, 0, /* h1 e0 */ 0, 1, 0 /* h1 e1 */]), [2, 2, 3]);
  const norms = headOutputNorms(z, W_O);
  // h0: pos0 z=[1,0] -> [3,4,0] norm 5; pos1 z=[0,1] -> [0,0,1] norm 1.  h1: pos0 [0,2] -> [0,2,0] = 2; pos1 [3,0] -> [3,0,0] = 3.
  close(norms[0]!, 3);
  close(norms[1]!, 2.5);
});

test('headOutputNorms (through the cached W_O Gram matrices) equals the direct ‖z @ W_O‖ on random data', () => {
  let seed = 1;
  const rand = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const [P, H, Dh, D] = [5, 3, 4, 7];
  const z = tensor(Float32Array.from({ length: P * H * Dh }, rand), [P, H, Dh]);
  const W_O = tensor(Float32Array.from({ length: H * Dh * D }, rand), [H, Dh, D]);
  const norms = headOutputNorms(z, W_O);
  for (let h = 0; h < H; h++) {
    let sum = 0;
    for (let p = 0; p < P; p++) {
      let sq = 0;
      for (let m = 0; m < D; m++) {
        let v = 0;
        for (let e = 0; e < Dh; e++) v += z.data[(p * H + h) * Dh + e]! * W_O.data[(h * Dh + e) * D + m]!;
        sq += v * v;
      }
      sum += Math.sqrt(sq);
    }
    close(norms[h]!, sum / P, 1e-9);
  }
  assert.deepEqual(headOutputNorms(z, W_O), norms);
});

test('topAttentionPairs lists the strongest causal (query, key) pairs of the selected head', () => {
  const pattern = patternOf([(q) => Array.from({ length: q + 1 }, () => 1 / (q + 1)), (q) => oneHot(q, 0)], 3);
  assert.deepEqual(topAttentionPairs(pattern, 1, 3), [
    { query: 0, key: 0, weight: 1 },
    { query: 1, key: 0, weight: 1 },
    { query: 2, key: 0, weight: 1 },
  ]);
  const top = topAttentionPairs(pattern, 0, 2);
  assert.deepEqual(
    top.map((p) => [p.query, p.key]),
    [
      [0, 0],
      [1, 0],
    ],
  );
  assert.equal(topAttentionPairs(pattern, 0, 100).length, 6);
});

function oneHot(q: number, k: number): number[] {
  const row = new Array<number>(q + 1).fill(0);
  row[k] = 1;
  return row;
}
