/** Patching commands: the sweep of one prompt (CodeLens), and Run Patch Sweep (a prompt with @corrupt, or four questions). */
import * as vscode from 'vscode';
import type { AnalysisQuestion } from '../analysis-key.js';
import type { QuestionOrigin } from '../analysis-session.js';
import { shortPromptName } from '../history-store.js';
import { isPromptDocument } from '../prompt-file/prompt-documents.js';
import type { CommandContext, CommandEntry } from './command-table.js';
import { askPromptPair } from './prompt-pair-questions.js';
import { findPrompt, patchEntry } from './prompt-entries.js';

async function runPatchSweep(ctx: CommandContext): Promise<void> {
  const { session } = ctx;
  const editor = vscode.window.activeTextEditor;
  if (editor && isPromptDocument(editor.document) && editor.selection.isEmpty) {
    const prompt = ctx.documents.promptAt(editor.document, editor.selection.active);
    if (prompt?.corrupt) {
      await patchEntry(ctx, prompt);
      return;
    }
  }
  const selected = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection).replace(/\s+$/, '') : (session.current?.result.prompt ?? '');
  const pair = await askPromptPair(
    {
      command: 'Run Patch Sweep',
      clean: 'The prompt whose behaviour to explain',
      target: 'The token whose probability the sweep measures, as a JSON string (e.g. " Mary") or a token id; empty: the clean prompt\'s top prediction',
      contrast: 'Measure the logit difference target − contrast (e.g. " John"); empty: the target logit alone',
    },
    selected,
  );
  if (!pair) return;
  const { clean, corrupt, target, contrast } = pair;
  const origin: QuestionOrigin = { name: shortPromptName(clean), corrupt };
  const question: AnalysisQuestion = { prompt: clean };
  const resolvedTarget = target ?? { id: await session.topPrediction(question, origin) };
  await session.patch({ clean, corrupt, target: resolvedTarget, ...(contrast ? { contrast } : {}), kind: 'heads-last' }, origin);
}

export const PATCH_COMMANDS: readonly CommandEntry[] = [
  { id: 'circuitTrace.patchPrompt', title: 'Patch', factory: (ctx) => async (uri: string, name: string) => patchEntry(ctx, await findPrompt(ctx, uri, name)) },
  { id: 'circuitTrace.runPatchSweep', title: 'Run Patch Sweep', factory: (ctx) => () => runPatchSweep(ctx) },
];
