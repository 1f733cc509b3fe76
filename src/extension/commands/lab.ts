/** Commands of the Lab and around it: open it, select a head, export, logs, a new `.prompt` file. */
import * as vscode from 'vscode';
import { exportAnalysis, type ExportArgs } from '../export/export-command.js';
import { presetsAsPromptFile } from '../presets.js';
import type { CommandEntry } from './command-table.js';

const NEW_PROMPT_FILE_HEADER =
  '// A .prompt file holds named prompts (docs/prompt-format.md).\n// Click Analyze above a prompt; hover its tokens afterwards.\n\n';

export const LAB_COMMANDS: readonly CommandEntry[] = [
  { id: 'circuitTrace.openLab', title: 'Open Lab', factory: (ctx) => (view?: string) => ctx.lab.open(typeof view === 'string' ? view : undefined) },
  {
    id: 'circuitTrace.heads.select',
    title: 'Select Head',
    factory: (ctx) => (layer: number, head: number) => {
      ctx.lab.open();
      ctx.lab.select({ layer, head });
    },
  },
  {
    id: 'circuitTrace.exportAnalysis',
    title: 'Export Analysis',
    factory: (ctx) => (args?: ExportArgs) => exportAnalysis(ctx.session, ctx.extension, ctx.log, args),
  },
  { id: 'circuitTrace.showLogs', title: 'Show Logs', factory: (ctx) => () => ctx.log.show() },
  {
    id: 'circuitTrace.newPromptFile',
    title: 'New Prompt File',
    factory: () => async () => {
      const document = await vscode.workspace.openTextDocument({ language: 'prompt', content: NEW_PROMPT_FILE_HEADER + presetsAsPromptFile() });
      await vscode.window.showTextDocument(document);
    },
  },
];
