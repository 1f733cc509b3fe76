/**
 * The AtP-vs-exact scatter's data: each head's attribution score paired with its exact
 * activation-patching effect from a 'heads-all' sweep of the same token ids, target, contrast and
 * metric, and their Pearson correlation. Pure and shared by the Lab's attribution view (which draws
 * it) and the host's JSON export of that view.
 *
 * Both are denoising: AtP(head) ≈ m(corrupted run, head's hook_z at every position from the clean
 * run) − m(corrupted run), which is what a 'heads-all' sweep measures per head: entry.value −
 * corrupt.value. The pairs are in metric units, so y = x is perfect agreement.
 */
import type { PatchSweepResult } from './analysis.js';
import type { AttributionMap } from './attribution.js';

export interface ScatterPoint {
  layer: number;
  head: number;
  name: string;
  /** The exact effect of patching the head's clean hook_z (every position) into the corrupted run, in metric units. */
  exact: number;
  /** The attribution score (same units). */
  score: number;
}

export type Scatter = { ok: true; points: ScatterPoint[]; r: number | null } | { ok: false; reason: string };

function sameIds(a: readonly { id: number }[], b: readonly { id: number }[]): boolean {
  return a.length === b.length && a.every((t, i) => t.id === b[i]!.id);
}

/**
 * Pearson's correlation coefficient of two equally long series; null with fewer than two points
 * or when either series is constant.
 */
export function pearson(xs: ArrayLike<number>, ys: ArrayLike<number>): number | null {
  const n = xs.length;
  if (n !== ys.length || n < 2) return null;
  let mx = 0,
    my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i]!;
    my += ys[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx,
      dy = ys[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return null;
  return sxy / Math.sqrt(sxx * syy);
}

/**
 * Pairs each head's attribution score with its exact effect from a 'heads-all' sweep of the same
 * ids, target, contrast and metric; otherwise says what differs (the view offers to run that sweep).
 */
export function attributionScatter(map: AttributionMap, sweep: PatchSweepResult | null): Scatter {
  if (!sweep) return { ok: false, reason: 'No exact sweep yet.' };
  if (sweep.kind !== 'heads-all')
    return { ok: false, reason: 'The exact sweep shown patches heads at one position; the scatter needs heads at every position.' };
  if (!sameIds(sweep.cleanTokens, map.cleanTokens) || !sameIds(sweep.corruptTokens, map.corruptTokens))
    return { ok: false, reason: 'The exact sweep ran on other prompts (or another BOS rule) than the attribution.' };
  if (sweep.targetId !== map.targetId || sweep.contrastId !== map.contrastId)
    return { ok: false, reason: 'The exact sweep measures another target or contrast than the attribution.' };
  if (sweep.metric !== map.metric.name) return { ok: false, reason: `The exact sweep measures ${sweep.metric}, the attribution ${map.metric.name}.` };
  const points: ScatterPoint[] = [];
  for (const e of sweep.entries) {
    if (e.head === undefined || e.layer >= map.nLayers || e.head >= map.nHeads) continue;
    points.push({
      layer: e.layer,
      head: e.head,
      name: `L${e.layer}H${e.head}`,
      exact: e.value - sweep.corrupt.value,
      score: map.heads[e.layer * map.nHeads + e.head]!,
    });
  }
  points.sort((a, b) => a.exact - b.exact || a.layer - b.layer || a.head - b.head);
  return {
    ok: true,
    points,
    r: pearson(
      points.map((p) => p.exact),
      points.map((p) => p.score),
    ),
  };
}
