/**
 * LayerNorm in float64 for the analyses that re-apply a model's LayerNorms to cached residual
 * streams (the logit lens, value-vector recomputation): (x − mean) / sqrt(var + eps) · w + b,
 * with the biased variance as PyTorch and TransformerLens use.
 */
import type { LayerNormWeights } from '../model/weights.js';

export interface LayerNormStats {
  mean: number;
  /** sqrt(var + eps): what TransformerLens caches as `hook_scale`. */
  scale: number;
}

export function layerNormStats(x: ArrayLike<number>, eps: number): LayerNormStats {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) {
    const d = x[i]! - mean;
    variance += d * d;
  }
  variance /= n;
  return { mean, scale: Math.sqrt(variance + eps) };
}

/** LayerNorm of one residual vector [d_model], statistics recomputed from `x` itself. */
export function applyLayerNorm(x: ArrayLike<number>, ln: LayerNormWeights, eps: number): Float64Array {
  const { mean, scale } = layerNormStats(x, eps);
  const n = x.length;
  if (ln.w.data.length !== n || ln.b.data.length !== n) throw new Error(`applyLayerNorm: a vector of ${n} against LayerNorm weights of ${ln.w.data.length}`);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = ((x[i]! - mean) / scale) * ln.w.data[i]! + ln.b.data[i]!;
  return out;
}
