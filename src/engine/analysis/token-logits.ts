/**
 * The logits of a few chosen tokens from final residual vectors, in float64: the model's final norm
 * with its statistics recomputed from each vector, those tokens' unembedding rows (W_U_T) plus b_U,
 * then the final logit soft-cap if the model has one. The same map as the final block and as
 * jsLensUnembed, at the cost of a few dot products instead of the whole vocabulary.
 */
import type { ModelConfig } from '../model/config.js';
import type { AnalysisWeights } from '../model/weights.js';
import { applyModelNorm } from './model-norm.js';

/** Logits [tokens] of one final residual vector `resid` [d_model]. */
export function tokenLogits(
  resid: ArrayLike<number>,
  tokens: readonly number[],
  weights: Pick<AnalysisWeights, 'ln_final' | 'W_U_T' | 'b_U'>,
  config: Pick<ModelConfig, 'norm' | 'eps' | 'dModel' | 'finalSoftcap'>,
): number[] {
  const D = config.dModel;
  const x = applyModelNorm(resid, weights.ln_final, config);
  const cap = config.finalSoftcap ?? null;
  return tokens.map((t) => {
    const row = weights.W_U_T.data.subarray(t * D, (t + 1) * D);
    let sum = weights.b_U.data[t] ?? 0;
    for (let i = 0; i < D; i++) sum += x[i]! * row[i]!;
    return cap === null ? sum : cap * Math.tanh(sum / cap);
  });
}
