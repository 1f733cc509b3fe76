/** Patching commands: the sweep of one prompt (CodeLens), and Run Patch Sweep (a prompt with @corrupt, or four questions). */
import * as vscode from 'vscode';
import type { TokenRef } from '../../protocol/engine.js';
import type { AnalysisQuestion } from '../analysis-key.js';
import type { QuestionOrigin } from '../analysis-session.js';
import { shortPromptName } from '../history-store.js';
import { isPromptDocument } from '../prompt-file/prompt-documents.js';
import { parseTokenInput } from '../token-input.js';
import type { CommandContext, CommandEntry } from './command-table.js';
import { findPrompt, patchEntry } from './prompt-entries.js';

/** A token typed by the user: undefined when left empty (and optional), null when dismissed. */
export async function askToken(title: string, prompt: string, optional: boolean): Promise<TokenRef | undefined | null> {
  const value = await vscode.window.showInputBox({
    title,
    prompt,
    placeHolder: optional ? '" Mary"  (empty: none)' : '" Mary"',
    ignoreFocusOut: true,
    validateInput: (text) => {
      const parsed = parseTokenInput(text);
      if (!parsed.ok) return parsed.message;
      return !optional && parsed.value === undefined ? 'Enter a token, e.g. " Mary".' : undefined;
    },
  });
  if (value === undefined) return null; // dismissed
  const parsed = parseTokenInput(value);
  return parsed.ok ? parsed.value : null;
}

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
  const clean = await vscode.window.showInputBox({
    title: 'Run Patch Sweep (1/4): clean prompt',
    prompt: 'The prompt whose behaviour to explain',
    value: selected,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() === '' ? 'Enter the clean prompt.' : undefined),
  });
  if (clean === undefined) return;
  const corrupt = await vscode.window.showInputBox({
    title: 'Run Patch Sweep (2/4): corrupted prompt',
    prompt: 'The same prompt with the crucial part changed; it must have the same number of tokens',
    value: clean,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() === '' ? 'Enter the corrupted prompt.' : v === clean ? 'The corrupted prompt must differ from the clean one.' : undefined),
  });
  if (corrupt === undefined) return;
  const target = await askToken(
    'Run Patch Sweep (3/4): target token',
    'The token whose probability the sweep measures, as a JSON string (e.g. " Mary") or a token id; empty: the clean prompt\'s top prediction',
    true,
  );
  if (target === null) return;
  const contrast = await askToken(
    'Run Patch Sweep (4/4): contrast token (optional)',
    'Measure the logit difference target − contrast (e.g. " John"); empty: the target logit alone',
    true,
  );
  if (contrast === null) return;
  const origin: QuestionOrigin = { name: shortPromptName(clean), corrupt };
  const question: AnalysisQuestion = { prompt: clean };
  const resolvedTarget = target ?? { id: await session.topPrediction(question, origin) };
  await session.patch({ clean, corrupt, target: resolvedTarget, ...(contrast ? { contrast } : {}), kind: 'heads-last' }, origin);
}

export const PATCH_COMMANDS: readonly CommandEntry[] = [
  { id: 'circuitTrace.patchPrompt', title: 'Patch', factory: (ctx) => async (uri: string, name: string) => patchEntry(ctx, await findPrompt(ctx, uri, name)) },
  { id: 'circuitTrace.runPatchSweep', title: 'Run Patch Sweep', factory: (ctx) => () => runPatchSweep(ctx) },
];
