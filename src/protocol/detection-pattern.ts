/**
 * TransformerLens's head-detector patterns, shared by the engine's census and the Lab's
 * "census pattern" overlay so both draw the same cells.
 */
export type DetectorKind = 'previous' | 'duplicate' | 'induction';

/**
 * The detection pattern [query, key] (row-major, n × n) of a head class for the given tokens:
 * previous-token D[i, i−1]; duplicate-token D[i, j] for earlier j with t[j] = t[i];
 * induction D[i, j+1] for earlier j with t[j] = t[i] (j < i, so j + 1 ≤ i never lies after the query).
 */
export function detectionPattern(kind: DetectorKind, ids: readonly number[]): Uint8Array {
  const n = ids.length;
  const out = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) {
    if (kind === 'previous') {
      if (i >= 1) out[i * n + i - 1] = 1;
      continue;
    }
    for (let j = 0; j < i; j++) {
      if (ids[j] !== ids[i]) continue;
      out[i * n + (kind === 'duplicate' ? j : j + 1)] = 1;
    }
  }
  return out;
}
