/**
 * The bytes a Lab export writes: the webview's PNG or SVG as it drew them (already validated), or
 * the Lab's data as JSON in the same shape as Export Analysis (src/protocol/json.ts: typed arrays
 * as `{ shape, data }` nested arrays): the analysis for every view, the patch sweep for the
 * patching view, the circuit (circuit-export.ts) for the circuit view, the maps and the scatter
 * (attribution-export.ts) for the attribution view. Free of `vscode` imports so that it is unit tested in plain Node.
 */
import type { AnalysisResult, PatchSweepResult } from '../../protocol/analysis.js';
import type { CircuitReport } from '../../protocol/circuit.js';
import { circuitExport } from '../export/circuit-export.js';
import { attributionExport } from '../export/attribution-export.js';
import type { AttributionMap, PathPatchMap } from '../../protocol/attribution.js';

/** The attribution view's last maps, as the host keeps them. */
export type AttributionMaps = { attribution: AttributionMap | null; pathPatch: PathPatchMap | null };
import { analysisToJson, patchSweepToJson } from '../../protocol/json.js';
import type { ExportMessage, LabPanelContent } from '../../protocol/webview-messages.js';

export function labJson(
  view: LabPanelContent,
  analysis: AnalysisResult | null,
  patch: PatchSweepResult | null,
  circuit: CircuitReport | null = null,
  attribution: AttributionMaps | null = null,
): string {
  if (view === 'attribution') return JSON.stringify(attributionExport(attribution ?? { attribution: null, pathPatch: null }, patch), null, 1);
  if (view === 'circuit') {
    if (!circuit) throw new Error('There is no circuit to export yet; run Find Circuit first.');
    return JSON.stringify(circuitExport(circuit), null, 1);
  }
  if (view === 'patching') {
    if (!patch) throw new Error('There is no patch sweep to export yet; run one from the patch form first.');
    return JSON.stringify(patchSweepToJson(patch), null, 1);
  }
  if (!analysis) throw new Error('There is no analysis to export yet; run Analyze first.');
  return JSON.stringify(analysisToJson(analysis), null, 1);
}

/** The bytes to write for one export; throws with a message for the user when there is nothing to export. */
export function exportBytes(
  message: ExportMessage,
  analysis: AnalysisResult | null,
  patch: PatchSweepResult | null,
  circuit: CircuitReport | null = null,
  attribution: AttributionMaps | null = null,
): Uint8Array {
  switch (message.format) {
    case 'png':
      if (!(message.data instanceof Uint8Array)) throw new Error('The PNG export carried no image.');
      return message.data;
    case 'svg':
      if (typeof message.data !== 'string') throw new Error('The SVG export carried no document.');
      return new TextEncoder().encode(message.data);
    case 'json':
      return new TextEncoder().encode(labJson(message.view, analysis, patch, circuit, attribution));
  }
}
