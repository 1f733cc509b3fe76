/**
 * The attribution view's data: the maps as heatmap grids, the AtP-vs-exact scatter and its
 * Pearson correlation, and the lines that describe cells and points.
 *
 * Conventions. Attribution and exact activation patching are both denoising: the clean
 * activation goes into the corrupted run. AtP(head) ≈ m(corrupted run, head's hook_z at every
 * position from the clean run) − m(corrupted run), which is exactly what a 'heads-all' sweep
 * measures per head: entry.value − corrupt.value. The scatter pairs the two in metric units, so
 * y = x is perfect agreement. Path patching is noising (the sender's corrupted output into the
 * clean run): its normalized effect (patched − clean) / (clean − corrupt) is −1 when the path
 * carries the whole difference.
 */
import type { AttributionMap, LabAttributionMethod, PathPatchMap, PositionComponent } from '../../../../protocol/attribution.js';
import type { ScatterPoint } from '../../../../protocol/attribution-scatter.js';
import { symmetricExtent } from '../../shared/colour.js';
import { formatSigned, headName } from '../../shared/format.js';

export const METHOD_LABELS: Record<LabAttributionMethod, string> = { atp: 'AtP', 'atp-star': 'AtP*', 'eap-ig': 'EAP-IG' };
export const COMPONENT_LABELS: Record<PositionComponent, string> = { resid_pre: 'resid_pre', attn_out: 'attn_out', mlp_out: 'mlp_out' };

export interface MapGrid {
  rows: number;
  cols: number;
  /** [row, col]; NaN where there is no value. */
  values: Float32Array;
  maxAbs: number;
  caption: string;
}

function grid(rows: number, cols: number, values: Float32Array, caption: string): MapGrid {
  const finite = Array.from(values).filter(Number.isFinite);
  return { rows, cols, values, maxAbs: symmetricExtent(finite), caption };
}

/** Path patching as [layer, head] of normalized effects; NaN for heads that are no sender (at or after the latest receiver layer) or have no denominator. */
export function pathPatchGrid(map: PathPatchMap): MapGrid {
  const values = new Float32Array(map.nLayers * map.nHeads).fill(NaN);
  for (const e of map.entries) if (e.normalized !== null) values[e.layer * map.nHeads + e.head] = e.normalized;
  return grid(map.nLayers, map.nHeads, values, `layer × head, path to ${map.receivers}`);
}

export function attributionHeadGrid(map: AttributionMap): MapGrid {
  return grid(map.nLayers, map.nHeads, map.heads, `layer × head (${METHOD_LABELS[map.method]}, hook_z over every position)`);
}

/** [layer, position] of one component; null for EAP-IG, which has no per-position scores. */
export function attributionPositionGrid(map: AttributionMap, component: PositionComponent): MapGrid | null {
  if (!map.positions) return null;
  return grid(map.nLayers, map.cleanTokens.length, map.positions[component], `layer × position (${COMPONENT_LABELS[component]})`);
}

export function pathPatchSubtitle(map: PathPatchMap): string {
  const metric = map.contrast === null ? `logit ${JSON.stringify(map.target)}` : `logit ${JSON.stringify(map.target)} − ${JSON.stringify(map.contrast)}`;
  return `${metric}: clean ${formatSigned(map.cleanLogitDiff)}, corrupt ${formatSigned(map.corruptLogitDiff)}`;
}

export function attributionSubtitle(map: AttributionMap): string {
  const metric =
    map.metric.name === 'logit_diff' ? `logit ${JSON.stringify(map.target)} − ${JSON.stringify(map.contrast)}` : `log p(${JSON.stringify(map.target)})`;
  const steps = map.steps !== null ? `, ${map.steps} steps` : '';
  return `${METHOD_LABELS[map.method]}${steps} of ${metric}: clean ${formatSigned(map.metric.clean)}, corrupt ${formatSigned(map.metric.corrupt)}`;
}

export function describePathCell(map: PathPatchMap, layer: number, head: number): string {
  const e = map.entries.find((x) => x.layer === layer && x.head === head);
  if (!e) return `${headName(layer, head)}: no sender for ${map.receivers}`;
  const share = e.normalized === null ? 'no effect to normalise (clean and corrupt agree)' : `normalized effect ${formatSigned(e.normalized)}`;
  return `${headName(layer, head)} → ${map.receivers}: ${share}, patched logit difference ${formatSigned(e.logitDiff)}`;
}

export function describeHeadScore(map: AttributionMap, layer: number, head: number): string {
  return `${headName(layer, head)}: ${METHOD_LABELS[map.method]} score ${formatSigned(map.heads[layer * map.nHeads + head]!)}`;
}

export function describePositionScore(map: AttributionMap, component: PositionComponent, layer: number, position: number): string {
  const value = map.positions?.[component][layer * map.cleanTokens.length + position];
  return `${COMPONENT_LABELS[component]} L${layer} at position ${position}: ${METHOD_LABELS[map.method]} score ${value === undefined ? 'none' : formatSigned(value)}`;
}

// ---------------------------------------------------------------- the AtP-vs-exact scatter

// The pairing is shared with the host's JSON export (src/protocol/attribution-scatter.ts).
export { attributionScatter, pearson, type Scatter, type ScatterPoint } from '../../../../protocol/attribution-scatter.js';

export function describePoint(p: ScatterPoint, method: LabAttributionMethod): string {
  return `${p.name}: exact ${formatSigned(p.exact)}, ${METHOD_LABELS[method]} ${formatSigned(p.score)}`;
}

/** The request of the exact sweep the scatter needs: the attribution's own ids, target and contrast, heads at every position. */
export function exactSweepRequest(map: AttributionMap) {
  return {
    cleanIds: map.cleanTokens.map((t) => t.id),
    corruptIds: map.corruptTokens.map((t) => t.id),
    target: { id: map.targetId },
    ...(map.contrastId !== null ? { contrast: { id: map.contrastId } } : {}),
    kind: 'heads-all' as const,
  };
}
