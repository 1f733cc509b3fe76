/**
 * Export Analysis: the current analysis as JSON (the full result, typed arrays as nested arrays,
 * src/protocol/json.ts) or as a self-contained HTML report (html-report.ts).
 * Arguments (for automation and tests) skip the pickers: { format: 'json' | 'html', uri: string }.
 */
import * as vscode from 'vscode';
import { analysisToJson } from '../../protocol/json.js';
import type { AnalysisSession } from '../analysis-session.js';
import { buildHtmlReport } from './html-report.js';

export interface ExportArgs {
  format?: 'json' | 'html';
  /** Destination file URI (string); asked for when absent. */
  uri?: string;
}

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 40) || 'analysis'
  );
}

export async function exportAnalysis(
  session: AnalysisSession,
  context: vscode.ExtensionContext,
  log: vscode.LogOutputChannel,
  args: ExportArgs = {},
): Promise<void> {
  const analysis = session.current;
  if (!analysis) {
    void vscode.window.showInformationMessage('Circuit Trace: there is no analysis to export yet; run Analyze first.');
    return;
  }
  let format = args.format;
  if (format !== 'json' && format !== 'html') {
    const pick = await vscode.window.showQuickPick(
      [
        { label: 'JSON', description: 'the full result, every array included', format: 'json' as const },
        { label: 'HTML report', description: 'self-contained: figures, tables and the data inline', format: 'html' as const },
      ],
      { title: 'Circuit Trace: Export Analysis', placeHolder: 'Export format' },
    );
    if (!pick) return;
    format = pick.format;
  }
  const history = session.history.get(analysis.historyId);
  const name = `circuit-trace-${slug(history?.name ?? analysis.result.prompt)}.${format}`;
  let target: vscode.Uri | undefined = args.uri ? vscode.Uri.parse(args.uri) : undefined;
  if (!target) {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    target = await vscode.window.showSaveDialog({
      title: 'Export Analysis',
      saveLabel: 'Export',
      ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, name) } : {}),
      filters: format === 'json' ? { JSON: ['json'] } : { HTML: ['html', 'htm'] },
    });
    if (!target) return;
  }
  const version = String((context.extension.packageJSON as { version?: unknown }).version ?? '');
  const text =
    format === 'json'
      ? JSON.stringify(analysisToJson(analysis.result), null, 1)
      : buildHtmlReport(analysis.result, { generatedAt: new Date().toISOString(), extensionVersion: version });
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(text));
  log.info(`Exported "${history?.name ?? analysis.result.prompt}" as ${format} to ${target.toString()}.`);
  if (args.uri) return;
  const pick = await vscode.window.showInformationMessage(`Circuit Trace: exported to ${vscode.workspace.asRelativePath(target)}.`, 'Open');
  if (pick === 'Open') await vscode.commands.executeCommand('vscode.open', target);
}
