/**
 * The Lab's attribution view as a self-contained JSON document: the attribution map (method,
 * steps, metric, the per-head scores as [layer][head] and the per-position scores as
 * [layer][position] per component), the path-patching map (receivers, clean and corrupted logit
 * differences, each sender's entry and the normalized effects as [layer][head], null for heads that
 * send nothing), and the AtP-vs-exact scatter (each head's pair and Pearson's r, or why there is
 * none), each with its model, prompts (token ids and texts), target and contrast. Free of `vscode`
 * imports so that it is unit tested in plain Node.
 */
import type { PatchSweepResult } from '../../protocol/analysis.js';
import type { AttributionMap, MapInputs, PathPatchMap, PositionComponent } from '../../protocol/attribution.js';
import { attributionScatter, type ScatterPoint } from '../../protocol/attribution-scatter.js';

export const ATTRIBUTION_EXPORT_FORMAT = 'circuit-trace/attribution';
export const ATTRIBUTION_EXPORT_VERSION = 1;

export interface AttributionExportInputs {
  /** The model the map was measured on; null when the map does not say. */
  model: { id: string; displayName: string; nLayers: number; nHeads: number } | null;
  prompts: { clean: { ids: number[]; tokens: string[] }; corrupt: { ids: number[]; tokens: string[] }; prependBos: boolean };
  target: { id: number; text: string };
  contrast: { id: number; text: string } | null;
}

export interface AttributionExport {
  format: typeof ATTRIBUTION_EXPORT_FORMAT;
  version: typeof ATTRIBUTION_EXPORT_VERSION;
  attribution:
    | (AttributionExportInputs & {
        method: AttributionMap['method'];
        steps: number | null;
        metric: AttributionMap['metric'];
        /** [layer][head]: each head's score (its hook_z over every position). */
        heads: (number | null)[][];
        /** Per component, [layer][position]; null for EAP-IG (summed over positions). */
        positions: Record<PositionComponent, (number | null)[][]> | null;
        elapsedMs: number;
      })
    | null;
  pathPatching:
    | (AttributionExportInputs & {
        receivers: string;
        cleanLogitDiff: number;
        corruptLogitDiff: number;
        entries: PathPatchMap['entries'];
        /** [layer][head]: normalized effect (patched − clean) / (clean − corrupt); null for a head that is no sender or without a denominator. */
        normalized: (number | null)[][];
        elapsedMs: number;
      })
    | null;
  /** The attribution's heads against the exact heads-all sweep of the same tokens: the pairs (metric units) and Pearson's r, or why there are none. */
  scatter: { points: ScatterPoint[]; r: number | null } | { reason: string } | null;
}

/** A flat [rows × cols] array as rows of numbers (a non-finite value as null, which JSON can hold). */
function rows(values: ArrayLike<number>, nRows: number, nCols: number): (number | null)[][] {
  return Array.from({ length: nRows }, (_, r) =>
    Array.from({ length: nCols }, (_, c) => {
      const v = values[r * nCols + c]!;
      return Number.isFinite(v) ? v : null;
    }),
  );
}

function inputs(map: MapInputs): AttributionExportInputs {
  return {
    model: map.model ? { ...map.model, nLayers: map.nLayers, nHeads: map.nHeads } : null,
    prompts: {
      clean: { ids: map.cleanTokens.map((t) => t.id), tokens: map.cleanTokens.map((t) => t.text) },
      corrupt: { ids: map.corruptTokens.map((t) => t.id), tokens: map.corruptTokens.map((t) => t.text) },
      prependBos: map.prependBos,
    },
    target: { id: map.targetId, text: map.target },
    contrast: map.contrastId === null ? null : { id: map.contrastId, text: map.contrast ?? '' },
  };
}

/** The document; throws with a message for the user when the view has no map yet. */
export function attributionExport(
  maps: { attribution: AttributionMap | null; pathPatch: PathPatchMap | null },
  sweep: PatchSweepResult | null,
): AttributionExport {
  const { attribution: map, pathPatch } = maps;
  if (!map && !pathPatch) throw new Error('There is no attribution or path-patching map to export yet; run one from the attribution view first.');
  let scatter: AttributionExport['scatter'] = null;
  if (map) {
    const s = attributionScatter(map, sweep);
    scatter = s.ok ? { points: s.points, r: s.r } : { reason: s.reason };
  }
  return {
    format: ATTRIBUTION_EXPORT_FORMAT,
    version: ATTRIBUTION_EXPORT_VERSION,
    attribution: map
      ? {
          ...inputs(map),
          method: map.method,
          steps: map.steps,
          metric: map.metric,
          heads: rows(map.heads, map.nLayers, map.nHeads),
          positions: map.positions
            ? {
                resid_pre: rows(map.positions.resid_pre, map.nLayers, map.cleanTokens.length),
                attn_out: rows(map.positions.attn_out, map.nLayers, map.cleanTokens.length),
                mlp_out: rows(map.positions.mlp_out, map.nLayers, map.cleanTokens.length),
              }
            : null,
          elapsedMs: map.elapsedMs,
        }
      : null,
    pathPatching: pathPatch
      ? {
          ...inputs(pathPatch),
          receivers: pathPatch.receivers,
          cleanLogitDiff: pathPatch.cleanLogitDiff,
          corruptLogitDiff: pathPatch.corruptLogitDiff,
          entries: pathPatch.entries,
          normalized: normalizedRows(pathPatch),
          elapsedMs: pathPatch.elapsedMs,
        }
      : null,
    scatter,
  };
}

function normalizedRows(map: PathPatchMap): (number | null)[][] {
  const out: (number | null)[][] = Array.from({ length: map.nLayers }, () => new Array<number | null>(map.nHeads).fill(null));
  for (const e of map.entries) if (e.layer < map.nLayers && e.head < map.nHeads) out[e.layer]![e.head] = e.normalized;
  return out;
}
