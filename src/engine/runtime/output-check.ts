/**
 * A run's outputs must be finite: weights that are finite but huge (or a broken checkpoint) can
 * overflow activations to Inf and then NaN, and every analysis downstream would then report
 * NaN probabilities or find no prediction at all. The check is cheap: NaN and Inf propagate along
 * the residual stream (a NaN row stays NaN through every later block; an Inf row turns NaN at the
 * next LayerNorm), so the last residual stream and the token scores are scanned on every run
 * (its cost: docs/benchmarks.md). The logits (vocabulary × positions values, far more than the
 * stream) are finite whenever that stream is, unless the unembedding's weights are
 * huge: ln_final bounds its output, so a bound on every logit is known at load time
 * (logitsMayOverflow), and only models that fail it have their logits scanned. Only when something
 * is not finite are the returned hooks and each block's residual stream scanned, in forward order,
 * to name the first hook point with a non-finite value.
 */
import { EngineError } from '../errors.js';
import { allHookNames, parseHookName } from '../hooks/names.js';
import type { ActivationCache } from '../hooks.js';
import { firstNonFiniteIndex } from '../model/finite-check.js';
import type { AnalysisWeights } from '../model/weights.js';

/** Whether every value is finite (the load-time check's blocked scan). */
function allFinite(data: Float32Array): boolean {
  return firstNonFiniteIndex(data) < 0;
}

/** Logit bounds at or above this may overflow float32 (3.4e38) once rounding is counted. */
const OVERFLOW_BOUND = 1e38;

/**
 * Whether some logit can overflow float32 even though ln_final's input is finite. ln_final's
 * normalised vector n has |n|_2 <= sqrt(d_model), so |n|_1 <= d_model, its output y = gain * n + bias
 * has |y|_1 <= max|gain| d_model + |bias|_1, and every logit and partial sum of its product is at
 * most |y|_1 max|W_U| + max|b_U|. One pass over the unembedding, at load.
 */
export function logitsMayOverflow(weights: Pick<AnalysisWeights, 'ln_final' | 'W_U_T' | 'b_U'>): boolean {
  const maxAbs = (data: Float32Array): number => {
    let m = 0;
    for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]!));
    return m;
  };
  const gain = weights.ln_final.w.data,
    bias = weights.ln_final.b.data;
  let biasL1 = 0;
  for (let i = 0; i < bias.length; i++) biasL1 += Math.abs(bias[i]!);
  const yL1 = maxAbs(gain) * gain.length + biasL1;
  const bound = yL1 * maxAbs(weights.W_U_T.data) + maxAbs(weights.b_U.data);
  return !(bound < OVERFLOW_BOUND);
}

export interface RunOutputs {
  nLayers: number;
  /** The residual stream after the last block run (all batch rows). */
  finalResid: Float32Array;
  /** Per layer, the block's resid_post of every batch row (absent for layers not run). */
  residPost: ReadonlyArray<Float32Array | undefined>;
  caches: readonly ActivationCache[];
  /** Any further outputs read back (token scores). */
  extra?: readonly Float32Array[];
}

/** Throws NON_FINITE naming the first hook point (in forward order) with a NaN or ±Inf value. */
export function throwIfNonFinite(run: RunOutputs): void {
  if (allFinite(run.finalResid) && (run.extra ?? []).every(allFinite)) return;
  const first = firstNonFinite(run);
  throw new EngineError(
    'NON_FINITE',
    // Nothing earlier: the token scores, which are logits.
    `The model's activations overflowed: ${first ?? 'logits'} holds NaN or infinite values.`,
    'The weights are too large for float32 or corrupt; check the checkpoint (a random or edited one?) or load another model.',
  );
}

/** The first returned hook or block output, in forward order, that is not finite (with its variant in a batch). */
function firstNonFinite(run: RunOutputs): string | null {
  for (const name of allHookNames(run.nLayers)) {
    for (const [b, cache] of run.caches.entries()) {
      const t = cache.get(name);
      if (t && !allFinite(t.data)) return run.caches.length > 1 ? `${name} (variant ${b})` : name;
    }
    const parsed = parseHookName(name, run.nLayers);
    const resid = parsed?.hook === 'hook_resid_post' ? run.residPost[parsed.layer] : undefined;
    if (resid && !allFinite(resid)) return name;
  }
  return null;
}
