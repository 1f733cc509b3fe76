/** The residual stream's start: token (times the model's embedding scale, if any) plus position embeddings, gathered in JavaScript. */
import type { ActivationCache } from '../hooks.js';
import type { AnalysisWeights } from '../model/weights.js';
import { tensor } from '../tensor.js';
import type { HookPlan } from './hook-plan.js';

/**
 * The embedding rows [q, d_model] of positions q0.. (token + position embedding), recording
 * hook_embed / hook_pos_embed in `caches` when the plan wants them.
 */
export function embed(
  weights: Pick<AnalysisWeights, 'W_E' | 'W_pos' | 'embedScale'>,
  D: number,
  ids: readonly number[],
  q0: number,
  plan: HookPlan,
  caches: readonly ActivationCache[],
): Float32Array {
  const P = ids.length,
    Q = P - q0;
  const embedRows = new Float32Array(Q * D);
  const posRows = new Float32Array(Q * D);
  const WE = weights.W_E.data,
    Wpos = weights.W_pos.data;
  for (let p = q0; p < P; p++) {
    embedRows.set(WE.subarray(ids[p]! * D, (ids[p]! + 1) * D), (p - q0) * D);
    posRows.set(Wpos.subarray(p * D, (p + 1) * D), (p - q0) * D);
  }
  // Gemma: HF multiplies by sqrt(d_model) cast to the embedding's dtype, so a float32 product.
  const scale = weights.embedScale;
  if (scale !== undefined) for (let i = 0; i < Q * D; i++) embedRows[i] = embedRows[i]! * Math.fround(scale);
  const resid0 = new Float32Array(Q * D);
  for (let i = 0; i < Q * D; i++) resid0[i] = embedRows[i]! + posRows[i]!;
  // Variants of one prompt share these arrays, as they share views of every batched output.
  caches.forEach((cache) => {
    if (plan.global.has('hook_embed')) cache.set('hook_embed', tensor(embedRows, [Q, D]));
    if (plan.global.has('hook_pos_embed')) cache.set('hook_pos_embed', tensor(posRows, [Q, D]));
  });
  return resid0;
}
