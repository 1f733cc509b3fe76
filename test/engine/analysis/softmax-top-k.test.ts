import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logSumExp, softmax } from '../../../src/engine/analysis/softmax.js';
import { rankOf, topKIndices } from '../../../src/engine/analysis/top-k.js';
import { topPredictions, tokenProbability } from '../../../src/engine/analysis/predictions.js';
import { mulberry32 } from '../../../src/engine/analysis/seeded-random.js';

test('logSumExp and softmax stay finite for huge logits and match the closed form', () => {
  assert.ok(Math.abs(logSumExp([1000, 1000]) - (1000 + Math.log(2))) < 1e-12);
  const p = softmax([1000, 1001, -Infinity]);
  assert.ok(Math.abs(p[0]! - 1 / (1 + Math.E)) < 1e-12);
  assert.ok(Math.abs(p[1]! - Math.E / (1 + Math.E)) < 1e-12);
  assert.equal(p[2], 0);
  assert.equal(logSumExp([-Infinity, -Infinity]), -Infinity);
  assert.throws(() => logSumExp([]));
});

test('softmax of a float32 row sums to 1 in float64', () => {
  const random = mulberry32(7);
  const row = Float32Array.from({ length: 50257 }, () => 20 * random() - 10);
  const p = softmax(row);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
});

test('topKIndices equals a full sort (ties keep the lower index) and rankOf counts strictly larger entries', () => {
  const random = mulberry32(3);
  const row = Array.from({ length: 500 }, () => Math.floor(random() * 50)); // many ties
  const sorted = row
    .map((v, i) => [v, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .map(([, i]) => i);
  for (const k of [0, 1, 5, 37, 500, 900]) assert.deepEqual(topKIndices(row, k), sorted.slice(0, k));
  assert.deepEqual(topKIndices([1, 3, 3, 2], 3), [1, 2, 3]);
  assert.equal(rankOf([1, 3, 3, 2], 1), 0);
  assert.equal(rankOf([1, 3, 3, 2], 2), 0);
  assert.equal(rankOf([1, 3, 3, 2], 3), 2);
  assert.equal(rankOf([1, 3, 3, 2], 0), 3);
});

test('topPredictions reports token text, probability and logit', () => {
  const logits = [0, Math.log(3), 0, Math.log(2)];
  const preds = topPredictions(logits, 2, (id) => `t${id}`);
  assert.deepEqual(
    preds.map((p) => p.tokenId),
    [1, 3],
  );
  assert.equal(preds[0]!.token, 't1');
  assert.ok(Math.abs(preds[0]!.prob - 3 / 7) < 1e-12);
  assert.ok(Math.abs(preds[1]!.prob - 2 / 7) < 1e-12);
  assert.equal(preds[1]!.logit, Math.log(2));
  assert.ok(Math.abs(tokenProbability(logits, 0) - 1 / 7) < 1e-12);
});

/** The sort-based definition topKIndices must equal: NaN never selected, largest first, ties by index. */
function sortedTopK(row: ArrayLike<number>, k: number): number[] {
  const entries = Array.from(row, (v, i) => [v, i] as const).filter(([v]) => !Number.isNaN(v));
  return entries
    .sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : b[0] - a[0]))
    .slice(0, Math.max(0, k))
    .map(([, i]) => i);
}

test('topKIndices equals a sort-based reference on random rows with ties, NaN, infinities and signed zeros', () => {
  const random = mulberry32(11);
  const specials = [NaN, Infinity, -Infinity, 0, -0];
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(random() * 60);
    const row = Float32Array.from({ length: n }, () => (random() < 0.15 ? specials[Math.floor(random() * specials.length)]! : Math.floor(random() * 8) - 4));
    for (const k of [0, 1, 2, Math.floor(n / 2), n - 1, n, n + 3])
      assert.deepEqual(topKIndices(row, k), sortedTopK(row, k), `n=${n} k=${k} row=${Array.from(row).join(',')}`);
  }
  assert.deepEqual(topKIndices([NaN, NaN], 2), []);
  assert.deepEqual(topKIndices([1, 2], 2.7), [1, 0]);
});

test("topKIndices is a partial selection: all of a 50257-entry ascending row (the insertion buffer's worst case) in well under a second", () => {
  const row = Float32Array.from({ length: 50257 }, (_, i) => i);
  const started = performance.now();
  const top = topKIndices(row, row.length);
  const elapsed = performance.now() - started;
  assert.equal(top[0], 50256);
  assert.equal(top.at(-1), 0);
  assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms`);
});
