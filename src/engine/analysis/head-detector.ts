/**
 * TransformerLens's head detector (`transformer_lens.head_detector`), the standard probes:
 * a 0/1 detection pattern [query, key] per head class, and the "mul" score
 *
 *   score = Σ (attn ⊙ detection) / Σ attn
 *
 * with TransformerLens's defaults exclude_bos = False and exclude_current_token = False (so the
 * denominator is the whole causal pattern, one unit of attention per query).
 *
 * Detection patterns, as TransformerLens builds them from the tokens t:
 *   previous-token:  D[i, i−1] = 1                                  (the sub-diagonal)
 *   duplicate-token: D[i, j] = 1 for j < i with t[j] = t[i]          (earlier same tokens)
 *   induction:       D[i, j+1] = 1 for j < i with t[j] = t[i], j + 1 ≤ i
 *                    (the duplicate pattern shifted one key to the right, then lower-triangular)
 */
import type { Tensor } from '../tensor.js';
import { detectionPattern, type DetectorKind } from '../../protocol/detection-pattern.js';

export { detectionPattern, type DetectorKind };

/**
 * The largest "mul" score any head can reach on a detection pattern of n tokens: the share of
 * query rows with at least one detection cell (each row carries one unit of attention, and only
 * a row with a cell can put it there). On BOS + R + R (N distinct random tokens) that is
 * 2N / (2N + 1) for previous-token (every row but the first) and N / (2N + 1) for duplicate-token
 * and induction (the second R's rows); without the BOS, (2N − 1) / 2N and N / 2N.
 */
export function detectionCeiling(detection: Uint8Array /* [query, key] */, n: number): number {
  if (detection.length !== n * n) throw new Error(`detectionCeiling: a pattern of ${detection.length} cells is not ${n} × ${n}`);
  let rows = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (detection[i * n + j] === 1) {
        rows++;
        break;
      }
    }
  }
  return n > 0 ? rows / n : 0;
}

/** TransformerLens's "mul" score of one head: Σ attn ⊙ D / Σ attn. */
export function detectionScore(pattern: Tensor /* [head, query, key] */, head: number, detection: Uint8Array /* [query, key] */): number {
  const [nHeads, nq, nk] = pattern.shape;
  if (pattern.shape.length !== 3 || nHeads === undefined || nq === undefined || nq !== nk || detection.length !== nq * nq) {
    throw new Error(`detectionScore: pattern [${pattern.shape.join(', ')}] does not match a ${Math.sqrt(detection.length)}-token detection pattern`);
  }
  if (!Number.isInteger(head) || head < 0 || head >= nHeads) throw new RangeError(`head ${head} outside 0..${nHeads - 1}`);
  const n = nq;
  const base = head * n * n;
  let hit = 0;
  let total = 0;
  for (let i = 0; i < n * n; i++) {
    const a = pattern.data[base + i]!;
    total += a;
    if (detection[i] === 1) hit += a;
  }
  return total > 0 ? hit / total : 0;
}
