/**
 * The prompt's own head classes (the definitions of the original Circuit Trace): how much each
 * head behaves like a previous-token, duplicate-token or induction head on *this* prompt.
 *
 * For a head's pattern attn [query, key] over tokens t[0..n-1]:
 *
 *   previous  = mean over queries i ≥ 1 of attn[i, i−1].
 *               Undefined (null) on a one-token prompt.
 *
 *   duplicate = over the queries i whose token occurred earlier (some j < i with t[j] = t[i]),
 *               the mean of max_j attn[i, j] over those earlier occurrences j.
 *               Undefined when no token repeats.
 *
 *   induction = over the queries i with an earlier occurrence j of t[i] such that j + 1 ≤ i − 1,
 *               the mean of max attn[i, j + 1] over those j (the token that followed an earlier
 *               occurrence of the current token, i.e. what an induction head copies).
 *               Undefined when no query has such a j.
 *
 * Why j + 1 ≤ i − 1 (strictly before the query) and not j + 1 ≤ i: when the only earlier
 * occurrence is the previous token (t[i−1] = t[i]), "the token after it" is the query itself, and
 * crediting attention to the current token as induction would label every self-attending head an
 * induction head on prompts like "the the". Those queries are left out of the induction average
 * instead. (The census follows TransformerLens's detector exactly, which does allow j + 1 = i; on
 * its repeated random tokens adjacent repeats are rare and the difference is negligible.)
 *
 * Label rule, with threshold τ (default 0.35), applied to the three scores:
 *   1. Among the defined scores strictly greater than τ, the largest names the class
 *      (exact ties: induction, then duplicate-token, then previous-token).
 *   2. Otherwise, if every score is defined: 'diffuse' (all three tested, none fits).
 *   3. Otherwise: 'no evidence' (some class could not be tested on this prompt and none of the
 *      testable ones fits). So on a prompt without repeated tokens a head is 'previous-token'
 *      when its previous score exceeds τ, else 'no evidence'; on a one-token prompt every head is
 *      'no evidence'.
 */
import type { HeadLabel, HeadScores } from '../../protocol/analysis.js';
import type { Tensor } from '../tensor.js';

export const DEFAULT_HEAD_THRESHOLD = 0.35;

/** Where each query's earlier same-token positions and induction targets are; depends on the tokens only. */
export interface RepeatStructure {
  n: number;
  /** For each query i: every j < i with t[j] = t[i]. */
  duplicates: number[][];
  /** For each query i: every j + 1 with j < i, t[j] = t[i] and j + 1 ≤ i − 1. */
  inductionKeys: number[][];
}

export function repeatStructure(ids: readonly number[]): RepeatStructure {
  const n = ids.length;
  const seen = new Map<number, number[]>();
  const duplicates: number[][] = [];
  const inductionKeys: number[][] = [];
  for (let i = 0; i < n; i++) {
    const earlier = seen.get(ids[i]!) ?? [];
    duplicates.push([...earlier]);
    inductionKeys.push(earlier.filter((j) => j + 1 <= i - 1).map((j) => j + 1));
    earlier.push(i);
    seen.set(ids[i]!, earlier);
  }
  return { n, duplicates, inductionKeys };
}

/** Mean over queries of the largest weight on that query's listed keys; null when no query lists any. */
function meanOfMaxOver(pattern: Tensor, head: number, keysPerQuery: readonly (readonly number[])[]): number | null {
  const n = keysPerQuery.length;
  const base = head * n * n;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const keys = keysPerQuery[i]!;
    if (keys.length === 0) continue;
    let max = 0;
    for (const k of keys) max = Math.max(max, pattern.data[base + i * n + k]!);
    sum += max;
    count++;
  }
  return count > 0 ? sum / count : null;
}

function checkShape(pattern: Tensor, head: number, n: number): void {
  const [nHeads, nq, nk] = pattern.shape;
  if (pattern.shape.length !== 3 || nq !== n || nk !== n || nHeads === undefined) {
    throw new Error(`head classes: pattern [${pattern.shape.join(', ')}] does not match ${n} tokens`);
  }
  if (!Number.isInteger(head) || head < 0 || head >= nHeads) throw new RangeError(`head ${head} outside 0..${nHeads - 1}`);
}

export function previousTokenScore(pattern: Tensor /* [head, query, key] */, head: number): number | null {
  const n = pattern.shape[1] ?? 0;
  checkShape(pattern, head, n);
  if (n < 2) return null;
  const base = head * n * n;
  let sum = 0;
  for (let i = 1; i < n; i++) sum += pattern.data[base + i * n + i - 1]!;
  return sum / (n - 1);
}

/** All three scores of one head on one prompt. */
export function headScores(pattern: Tensor /* [head, query, key] */, head: number, repeats: RepeatStructure): HeadScores {
  checkShape(pattern, head, repeats.n);
  return {
    previous: previousTokenScore(pattern, head),
    duplicate: meanOfMaxOver(pattern, head, repeats.duplicates),
    induction: meanOfMaxOver(pattern, head, repeats.inductionKeys),
  };
}

/** The label rule documented at the top of this file. */
export function classifyHead(scores: HeadScores, threshold: number = DEFAULT_HEAD_THRESHOLD): HeadLabel {
  // Tie order: the first listed wins an exact tie.
  const candidates: Array<[HeadLabel, number | null]> = [
    ['induction', scores.induction],
    ['duplicate-token', scores.duplicate],
    ['previous-token', scores.previous],
  ];
  let best: HeadLabel | null = null;
  let bestScore = -Infinity;
  for (const [label, score] of candidates) {
    if (score !== null && score > threshold && score > bestScore) {
      best = label;
      bestScore = score;
    }
  }
  if (best) return best;
  return candidates.every(([, s]) => s !== null) ? 'diffuse' : 'no evidence';
}
