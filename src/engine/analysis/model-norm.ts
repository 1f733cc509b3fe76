/** A model's own normalisation (LayerNorm, or RMSNorm for the Llama family) of one residual vector, in float64. */
import type { ModelConfig } from '../model/config.js';
import type { LayerNormWeights } from '../model/weights.js';
import { applyLayerNorm } from './layer-norm.js';
import { applyRmsNorm } from './rms-norm.js';

/** ln(x) [d_model] with the statistics recomputed from `x`; RMSNorm ignores `ln.b` (zeros for these models). */
export function applyModelNorm(x: ArrayLike<number>, ln: LayerNormWeights, config: Pick<ModelConfig, 'norm' | 'eps'>): Float64Array {
  return config.norm === 'rmsnorm' ? applyRmsNorm(x, ln.w.data, config.eps) : applyLayerNorm(x, ln, config.eps);
}
