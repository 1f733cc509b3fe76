/**
 * The Lab's data as JSON: the patch sweep for the patching view (it holds no typed arrays), the
 * analysis in the same shape as Export Analysis for every other view.
 */
import type { AnalysisResult, PatchSweepResult } from '../../protocol/analysis.js';
import type { LabPanelContent } from '../../protocol/webview-messages.js';

export function labJson(view: LabPanelContent, analysis: AnalysisResult | null, patch: PatchSweepResult | null): string {
  if (view === 'patching') {
    if (!patch) throw new Error('There is no patch sweep to export yet; run one from the patch form first.');
    return JSON.stringify(patch, null, 2);
  }
  if (!analysis) throw new Error('There is no analysis to export yet; run Analyze first.');
  // TEMPORARY until src/protocol/json.ts (toJSON, helper H4) lands: then this returns JSON.stringify(toJSON(analysis)).
  throw new Error('JSON export of the analysis is not available in this build.');
}
