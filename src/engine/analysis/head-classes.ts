/**
 * The prompt's own head classes (the definitions of the original Circuit Trace): how much each
 * head behaves like a previous-token, duplicate-token or induction head on *this* prompt.
 *
 * For a head's pattern attn [query, key] over tokens t[0..n-1]:
 *
 *   previous  = mean over queries i ≥ 1 of attn[i, i−1].
 *               Undefined (null) on a one-token prompt.
 *
 *   duplicate = over the queries i with at least one duplicate key (j < i − 1 with t[j] = t[i]),
 *               the mean of the attention summed over all those keys (capped at 1 against
 *               float rounding). Undefined when no query has one.
 *
 *   induction = over the queries i with at least one induction key (j + 1 for j < i with
 *               t[j] = t[i] and j + 1 < i − 1: the token that followed an earlier occurrence of
 *               the current token, i.e. what an induction head copies), the mean of the attention
 *               summed over all those keys (capped at 1). Undefined when no query has one.
 *
 * Summing, not taking the largest weight: a head that spreads its attention over several earlier
 * copies (or the tokens after them) does the same job as one that picks a single copy.
 *
 * Key i − 1 never counts as duplicate or induction evidence: attending to the previous token is
 * previous-token behaviour, and counting it twice mislabels previous-token heads. On
 * "a , b , c , d , e ," the comma at i has earlier commas at i − 2, i − 4, …, and the token after
 * the one at i − 2 is i − 1 itself, so a perfect previous-token head would otherwise score
 * induction 1 there and win the tie. With i − 1 excluded it scores induction 0 and is labelled
 * previous-token. (Likewise t[i−1] = t[i], "the the", is no duplicate evidence.) The census
 * follows TransformerLens's detector exactly, which does count i − 1; on its repeated random
 * tokens adjacent repeats do not occur.
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
  /** For each query i: every j < i − 1 with t[j] = t[i]. */
  duplicates: number[][];
  /** For each query i: every j + 1 with j < i, t[j] = t[i] and j + 1 < i − 1. */
  inductionKeys: number[][];
}

export function repeatStructure(ids: readonly number[]): RepeatStructure {
  const n = ids.length;
  const seen = new Map<number, number[]>();
  const duplicates: number[][] = [];
  const inductionKeys: number[][] = [];
  for (let i = 0; i < n; i++) {
    const earlier = seen.get(ids[i]!) ?? [];
    // Key i − 1 is previous-token evidence only.
    duplicates.push(earlier.filter((j) => j < i - 1));
    inductionKeys.push(earlier.filter((j) => j + 1 < i - 1).map((j) => j + 1));
    earlier.push(i);
    seen.set(ids[i]!, earlier);
  }
  return { n, duplicates, inductionKeys };
}

/** Mean over queries of the attention summed over that query's listed keys (capped at 1); null when no query lists any. */
function meanOfSumOver(pattern: Tensor, head: number, keysPerQuery: readonly (readonly number[])[]): number | null {
  const n = keysPerQuery.length;
  const base = head * n * n;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const keys = keysPerQuery[i]!;
    if (keys.length === 0) continue;
    let onKeys = 0;
    for (const k of keys) onKeys += pattern.data[base + i * n + k]!;
    sum += Math.min(1, onKeys);
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
    duplicate: meanOfSumOver(pattern, head, repeats.duplicates),
    induction: meanOfSumOver(pattern, head, repeats.inductionKeys),
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
