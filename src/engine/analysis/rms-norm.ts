/**
 * RMSNorm in float64 for the analyses that re-apply a Llama-family model's norms to cached
 * residual streams: x / sqrt(mean(x²) + eps) · w, no centring and no bias, as Hugging Face's
 * LlamaRMSNorm and TransformerLens's RMSNorm compute it.
 */

/** sqrt(mean(x²) + eps): what TransformerLens caches as an RMSNorm's `hook_scale`. */
export function rmsScale(x: ArrayLike<number>, eps: number): number {
  let sumSquares = 0;
  for (let i = 0; i < x.length; i++) sumSquares += x[i]! * x[i]!;
  return Math.sqrt(sumSquares / x.length + eps);
}

/** RMSNorm of one residual vector [d_model] with weight `w` [d_model], its scale recomputed from `x`. */
export function applyRmsNorm(x: ArrayLike<number>, w: ArrayLike<number>, eps: number): Float64Array {
  const n = x.length;
  if (w.length !== n) throw new Error(`applyRmsNorm: a vector of ${n} against RMSNorm weights of ${w.length}`);
  const scale = rmsScale(x, eps);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (x[i]! / scale) * w[i]!;
  return out;
}
