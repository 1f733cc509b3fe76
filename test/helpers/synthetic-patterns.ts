/**
 * Synthetic attention patterns for the head-class tests: each head is a function from a query
 * position to its attention row over keys 0..q (the rest of the row is zero, as a causal mask leaves it).
 */
import { tensor, type Tensor } from '../../src/engine/tensor.js';

export type RowFn = (query: number, ids: readonly number[]) => number[];

/** [head, query, key] from one row function per head. */
export function patternOf(heads: readonly RowFn[], n: number, ids: readonly number[] = Array.from({ length: n }, (_, i) => i)): Tensor {
  const data = new Float32Array(heads.length * n * n);
  heads.forEach((rowFn, h) => {
    for (let q = 0; q < n; q++) {
      const row = rowFn(q, ids);
      if (row.length !== q + 1) throw new Error(`row ${q} of head ${h} has ${row.length} keys, expected ${q + 1}`);
      row.forEach((v, k) => (data[(h * n + q) * n + k] = v));
    }
  });
  return tensor(data, [heads.length, n, n]);
}

/** All attention on one key (which must be ≤ q). */
export function onKey(q: number, key: number): number[] {
  const row = new Array<number>(q + 1).fill(0);
  row[key] = 1;
  return row;
}

/** Previous-token head: all attention on q − 1 (query 0 on itself). */
export const previousHead: RowFn = (q) => onKey(q, Math.max(0, q - 1));

/** Duplicate-token head: all attention on the latest earlier same token, else on key 0. */
export const duplicateHead: RowFn = (q, ids) => {
  for (let j = q - 1; j >= 0; j--) if (ids[j] === ids[q]) return onKey(q, j);
  return onKey(q, 0);
};

/** Induction head: all attention on the token after the latest earlier occurrence (j + 1 ≤ q − 1), else on key 0. */
export const inductionHead: RowFn = (q, ids) => {
  for (let j = q - 2; j >= 0; j--) if (ids[j] === ids[q]) return onKey(q, j + 1);
  return onKey(q, 0);
};

/** Uniform attention over keys 0..q. */
export const uniformHead: RowFn = (q) => new Array<number>(q + 1).fill(1 / (q + 1));
