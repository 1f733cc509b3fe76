/**
 * Saves what a Lab view exports (bytes from lab-export-data.ts: the webview's PNG or SVG, or the
 * Lab's data as JSON serialised from the host's own copy of the results; the webview never sends
 * the data back). The user picks the file in a save dialog.
 */
import * as vscode from 'vscode';
import type { AnalysisResult, PatchSweepResult } from '../../protocol/analysis.js';
import type { CircuitReport } from '../../protocol/circuit.js';
import type { ExportMessage } from '../../protocol/webview-messages.js';
import { exportBytes, type AttributionMaps } from './lab-export-data.js';

const FILTERS: Record<ExportMessage['format'], Record<string, string[]>> = {
  png: { 'PNG image': ['png'] },
  svg: { 'SVG image': ['svg'] },
  json: { JSON: ['json'] },
};

/** Asks where to save and writes the file; returns its URI, or undefined when the user cancelled. */
export async function saveLabExport(
  message: ExportMessage,
  analysis: AnalysisResult | null,
  patch: PatchSweepResult | null,
  circuit: CircuitReport | null,
  attribution: AttributionMaps | null = null,
): Promise<vscode.Uri | undefined> {
  const bytes = exportBytes(message, analysis, patch, circuit, attribution);
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const name = `circuit-trace-${message.view}.${message.format}`;
  const target = await vscode.window.showSaveDialog({
    title: `Export ${message.view} as ${message.format.toUpperCase()}`,
    filters: FILTERS[message.format],
    ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}),
  });
  if (!target) return undefined;
  await vscode.workspace.fs.writeFile(target, bytes);
  return target;
}
