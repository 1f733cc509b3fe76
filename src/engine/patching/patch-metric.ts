/**
 * The metrics of activation patching, read from the logits at the last position:
 *  - the sweep's metric (`value`; see analysis/target-metric.ts): the logit difference
 *    target − contrast with a contrast, the target's log-probability without one, or a named
 *    metric such as greater-than's probability difference;
 *  - the logit difference target − contrast, or the target logit alone without a contrast;
 *  - the probability of the target (softmax over the whole vocabulary);
 *  - the normalised recovery (patched − corrupted) / (clean − corrupted) on the sweep's metric:
 *    0 means the patch had no effect, 1 that it restored the clean value.
 */
import type { PatchBaseline, PatchEntry } from '../../protocol/analysis.js';
import { defaultMetric, metricOfLogits, type ResolvedMetric } from '../analysis/target-metric.js';

export interface PatchMetricTokens {
  targetId: number;
  /** null: `logitDiff` is the target logit alone. */
  contrastId: number | null;
  /** The sweep's metric (default: defaultMetric of the target and contrast). */
  metric?: ResolvedMetric;
}

/**
 * Below this |clean − corrupted| (in the metric's units) the recovery is undefined and reported as NaN:
 * dividing by a difference at the level of float32 noise would give huge meaningless ratios.
 * NaN keeps the field a number for typed consumers, and JSON.stringify writes it as `null`, so
 * exported JSON stays valid.
 */
export const RECOVERY_MIN_DENOMINATOR = 1e-6;

/** The target logit minus the contrast logit (the target logit alone without a contrast) of one row of logits ([vocab]). */
export function logitDifference(logits: Float32Array, tokens: PatchMetricTokens): number {
  const target = logits[tokens.targetId];
  if (target === undefined) throw new RangeError(`target id ${tokens.targetId} is outside logits of ${logits.length}`);
  if (tokens.contrastId === null) return target;
  const contrast = logits[tokens.contrastId];
  if (contrast === undefined) throw new RangeError(`contrast id ${tokens.contrastId} is outside logits of ${logits.length}`);
  return target - contrast;
}

/**
 * The metric, logit difference and target probability of one row of logits ([vocab]), all in
 * JavaScript (float64). The sweeps read them from the engine's token scores instead (the final
 * graph's softmax, next to the logits); this is the plain definition they are tested against.
 */
export function measureLogits(logits: Float32Array, tokens: PatchMetricTokens): PatchBaseline {
  const logitDiff = logitDifference(logits, tokens);
  // Softmax of the target with the max subtracted, summed in float64.
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const value = metricOfLogits(tokens.metric ?? defaultMetric(tokens.targetId, tokens.contrastId), logits);
  return { value, logitDiff, prob: Math.exp(logits[tokens.targetId]! - max) / sum };
}

/** (patched − corrupted) / (clean − corrupted); NaN when the denominator is below RECOVERY_MIN_DENOMINATOR. */
export function recovery(patched: number, clean: number, corrupt: number): number {
  const denominator = clean - corrupt;
  if (!(Math.abs(denominator) >= RECOVERY_MIN_DENOMINATOR)) return NaN;
  return (patched - corrupt) / denominator;
}

/** A sweep entry: the site's coordinates and its metrics against the two baselines. */
export function patchEntry(
  site: { layer: number; head?: number; position?: number },
  patched: PatchBaseline,
  baselines: { clean: PatchBaseline; corrupt: PatchBaseline },
): PatchEntry {
  return {
    layer: site.layer,
    ...(site.head !== undefined ? { head: site.head } : {}),
    ...(site.position !== undefined ? { position: site.position } : {}),
    value: patched.value,
    logitDiff: patched.logitDiff,
    prob: patched.prob,
    recovery: recovery(patched.value, baselines.clean.value, baselines.corrupt.value),
  };
}
