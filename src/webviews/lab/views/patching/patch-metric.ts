/**
 * The patching view's wording: every number it shows is the sweep's metric (PatchSweepResult.metric,
 * MetricName), named here once, or the normalised recovery of that metric.
 *
 * 'log_prob': log p(" mat"); 'logit_diff': logit diff " Mary" − " John";
 * 'prob_diff_greater_than': P(> 32) − P(≤ 32) (the Greater-than preset, start year 32).
 * Values are signed with three significant digits (formatSigned); recovery is
 * (patched − corrupted) / (clean − corrupted) on the metric: 0 = still corrupted, 1 = clean.
 */
import type { PatchEntry, PatchSweepResult } from '../../../../protocol/analysis.js';
import { formatProb, formatSigned } from '../../shared/format.js';

type SweepMetric = Pick<PatchSweepResult, 'metric' | 'target' | 'contrast' | 'startYear'>;

function year(startYear: number | undefined): string {
  return startYear === undefined ? 'YY' : String(startYear).padStart(2, '0');
}

/** The metric's name with its tokens: log p(" mat"), logit diff " Mary" − " John", P(> 32) − P(≤ 32). */
export function metricName(r: SweepMetric): string {
  switch (r.metric) {
    case 'log_prob':
      return `log p(${JSON.stringify(r.target)})`;
    case 'logit_diff':
      return r.contrast === null ? `logit ${JSON.stringify(r.target)}` : `logit diff ${JSON.stringify(r.target)} − ${JSON.stringify(r.contrast)}`;
    case 'prob_diff_greater_than':
      return `P(> ${year(r.startYear)}) − P(≤ ${year(r.startYear)})`;
    default:
      return `metric ${String(r.metric)}`;
  }
}

/** One value of the metric (signed, three significant digits). */
export function formatMetricValue(value: number): string {
  return formatSigned(value);
}

/** "clean −0.250, corrupted −3.10" */
function baselines(r: PatchSweepResult): string {
  return `clean ${formatMetricValue(r.clean.value)}, corrupted ${formatMetricValue(r.corrupt.value)}`;
}

/** The view's subtitle: heads-last · metric: log p(" mat") — clean −0.250, corrupted −3.10 */
export function patchSubtitle(r: PatchSweepResult): string {
  return `${r.kind} · metric: ${metricName(r)} — ${baselines(r)}`;
}

/** What the heatmap colours and the bars measure. */
export function recoveryLabel(r: SweepMetric): string {
  return `normalised recovery of ${metricName(r)}`;
}

/** The sorted bar chart's axis. */
export function barAxisLabel(r: SweepMetric): string {
  return `${recoveryLabel(r)} (0 = corrupted, 1 = clean)`;
}

/** A patched component's metric value (and, for a logit difference, the target's probability). */
export function entryMetricLine(r: PatchSweepResult, e: PatchEntry): string {
  const line = `${metricName(r)} ${formatMetricValue(e.value)}`;
  return r.metric === 'logit_diff' ? `${line} · P(${JSON.stringify(r.target)}) ${formatProb(e.prob)}` : line;
}

/** The recovery line of a cell or bar: normalised recovery +0.500 */
export function entryRecoveryLine(e: PatchEntry): string {
  return `normalised recovery ${formatSigned(e.recovery)}`;
}

/** One line for screen readers and bar tooltips: L1H2: normalised recovery +0.500 of log p(" mat"); log p(" mat") −1.20 */
export function describeEntry(r: PatchSweepResult, name: string, e: PatchEntry): string {
  return `${name}: ${entryRecoveryLine(e)} of ${metricName(r)}; ${entryMetricLine(r, e)}`;
}

/** The title of an exported SVG heatmap. */
export function patchSvgTitle(r: PatchSweepResult, caption: string): string {
  return `Activation patching (${r.kind}), ${caption}: ${recoveryLabel(r)}; ${baselines(r)}`;
}
