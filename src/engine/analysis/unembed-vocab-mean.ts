/**
 * The unembedding's mean over the vocabulary, which TransformerLens's `center_unembed` subtracts
 * (W_U' = W_U − mean over vocab columns, b_U' = b_U − mean(b_U)): with it removed, every logit
 * is the model's logit minus the mean logit at that position, and softmax is unchanged.
 *
 * Computed once per weight tensor (a loaded model's weights never change; GPT-2 small's W_U is
 * 38M values) and kept while the tensor lives.
 */
import type { AnalysisWeights } from '../model/weights.js';
import type { Tensor } from '../tensor.js';

export interface UnembedVocabMean {
  /** mean over t of W_U[:, t].  [d_model] */
  direction: Float64Array;
  /** mean over t of b_U[t] */
  bias: number;
}

const meanCache = new WeakMap<Tensor, UnembedVocabMean>();

export function unembedVocabMean(weights: Pick<AnalysisWeights, 'W_U_T' | 'b_U'>): UnembedVocabMean {
  const cached = meanCache.get(weights.W_U_T);
  // b_U is read afresh: it is tiny, and a cache keyed on W_U_T alone must not pin a stale b_U.
  const bias = meanOf(weights.b_U.data);
  if (cached) return { direction: cached.direction, bias };
  const [vocab, dModel] = weights.W_U_T.shape;
  if (vocab === undefined || dModel === undefined || vocab === 0)
    throw new Error(`unembedVocabMean: W_U_T must be [vocab, d_model], got [${weights.W_U_T.shape.join(', ')}]`);
  const W = weights.W_U_T.data; // [vocab, d_model]
  const direction = new Float64Array(dModel);
  for (let t = 0; t < vocab; t++) {
    const base = t * dModel;
    for (let d = 0; d < dModel; d++) direction[d] = direction[d]! + W[base + d]!;
  }
  for (let d = 0; d < dModel; d++) direction[d] = direction[d]! / vocab;
  const mean = { direction, bias };
  meanCache.set(weights.W_U_T, mean);
  return mean;
}

/** The float64 mean of `values` (0 when empty). */
export function meanOf(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return values.length > 0 ? s / values.length : 0;
}
