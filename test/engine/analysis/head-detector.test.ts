import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectionPattern, detectionScore } from '../../../src/engine/analysis/head-detector.js';
import { duplicateHead, inductionHead, patternOf, previousHead, uniformHead } from '../../helpers/synthetic-patterns.js';

/** The 1-cells of an n × n 0/1 pattern as [query, key] pairs. */
function cells(pattern: Uint8Array, n: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) if (pattern[q * n + k] === 1) out.push([q, k]);
  return out;
}

test('detection patterns follow TransformerLens (previous: sub-diagonal; duplicate: earlier same; induction: shifted right)', () => {
  const ids = [50, 1, 2, 1, 2];
  assert.deepEqual(cells(detectionPattern('previous', ids), 5), [
    [1, 0],
    [2, 1],
    [3, 2],
    [4, 3],
  ]);
  assert.deepEqual(cells(detectionPattern('duplicate', ids), 5), [
    [3, 1],
    [4, 2],
  ]);
  assert.deepEqual(cells(detectionPattern('induction', ids), 5), [
    [3, 2],
    [4, 3],
  ]);
  // TransformerLens allows the induction key to be the query itself (j + 1 = i) for adjacent repeats.
  assert.deepEqual(cells(detectionPattern('induction', [9, 7, 7]), 3), [[2, 2]]);
  assert.deepEqual(cells(detectionPattern('duplicate', [9, 7, 7, 7]), 4), [
    [2, 1],
    [3, 1],
    [3, 2],
  ]);
});

test('mul score = Σ attn·D / Σ attn: perfect heads on BOS + R + R reach the documented ceilings', () => {
  const N = 6;
  const R = [11, 12, 13, 14, 15, 16];
  const ids = [0, ...R, ...R];
  const n = ids.length;
  const p = patternOf([previousHead, duplicateHead, inductionHead, uniformHead], n, ids);
  const prev = detectionPattern('previous', ids);
  const dup = detectionPattern('duplicate', ids);
  const ind = detectionPattern('induction', ids);
  const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
  close(detectionScore(p, 0, prev), (2 * N) / (2 * N + 1));
  close(detectionScore(p, 1, dup), N / (2 * N + 1));
  close(detectionScore(p, 2, ind), N / (2 * N + 1));
  // An induction head on R R attends q − N + 1, which is not q − 1 (N > 2); its first half falls back to key 0.
  close(detectionScore(p, 2, prev), 1 / n);
  // Uniform: Σ over queries of (#pattern cells in the row)/(q + 1), divided by n.
  let expected = 0;
  for (let q = 1; q < n; q++) expected += 1 / (q + 1);
  close(detectionScore(p, 3, prev), expected / n);
});
