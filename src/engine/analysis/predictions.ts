/**
 * Next-token predictions from a row of logits: the top-k tokens with their probability
 * (float64 softmax over the whole vocabulary) and raw logit.
 */
import type { Prediction } from '../../protocol/analysis.js';
import { logSumExp } from './softmax.js';
import { topKIndices } from './top-k.js';

/** The k most likely next tokens given `logits` [vocab]. */
export function topPredictions(logits: ArrayLike<number>, k: number, tokenText: (id: number) => string): Prediction[] {
  const lse = logSumExp(logits);
  return topKIndices(logits, k).map((tokenId) => {
    const logit = logits[tokenId]!;
    return { tokenId, token: tokenText(tokenId), prob: Math.exp(logit - lse), logit };
  });
}

/** Probability of one token under softmax(logits). */
export function tokenProbability(logits: ArrayLike<number>, tokenId: number): number {
  const logit = logits[tokenId];
  if (logit === undefined) throw new RangeError(`tokenProbability: token ${tokenId} outside a vocabulary of ${logits.length}`);
  return Math.exp(logit - logSumExp(logits));
}
