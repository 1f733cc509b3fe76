/**
 * Analyze and patch one prompt of a `.prompt` file: shared by the CodeLens commands, Analyze
 * Selection (cursor in a prompt) and Run Patch Sweep (cursor on a prompt with @corrupt).
 */
import * as vscode from 'vscode';
import { EngineError } from '../../engine/errors.js';
import type { QuestionOrigin } from '../analysis-session.js';
import type { PromptEntry } from '../prompt-file/parser.js';
import { openDocument } from '../prompt-file/prompt-documents.js';
import { patchRequestOf, questionOf } from '../prompt-file/prompt-request.js';
import type { CommandContext } from './command-table.js';

export function originOf(prompt: PromptEntry): QuestionOrigin {
  return prompt.corrupt ? { name: prompt.name, corrupt: prompt.corrupt.text } : { name: prompt.name };
}

function problemsError(prompt: PromptEntry, action: string): EngineError {
  return new EngineError(
    'BAD_ARGUMENT',
    `Prompt "${prompt.name}" has ${prompt.errorCount} problem${prompt.errorCount === 1 ? '' : 's'}.`,
    `Fix them (see the Problems panel) and ${action} again.`,
  );
}

export async function analyzeEntry(ctx: CommandContext, prompt: PromptEntry): Promise<void> {
  if (prompt.errorCount > 0) throw problemsError(prompt, 'analyze');
  await ctx.session.analyze(questionOf(prompt), originOf(prompt));
  ctx.refreshHistory();
}

export async function patchEntry(ctx: CommandContext, prompt: PromptEntry): Promise<void> {
  if (prompt.errorCount > 0) throw problemsError(prompt, 'run the sweep');
  if (!prompt.corrupt) {
    throw new EngineError('BAD_ARGUMENT', `Prompt "${prompt.name}" has no corrupted counterpart.`, 'Add @corrupt "..." (same token length) below it.');
  }
  const origin = originOf(prompt);
  const fallback = prompt.target ? undefined : { id: await ctx.session.topPrediction(questionOf(prompt), origin) };
  const request = patchRequestOf(prompt, fallback);
  if (!request) throw new EngineError('INTERNAL', 'Could not build the patch request.');
  await ctx.session.patch(request, origin);
  ctx.refreshHistory();
}

/** The prompt named `name` in the document at `uri` (CodeLens arguments). */
export async function findPrompt(ctx: CommandContext, uri: string, name: string): Promise<PromptEntry> {
  const document = await openDocument(uri);
  const prompt = ctx.documents.byName(document, name);
  if (!prompt) throw new EngineError('BAD_ARGUMENT', `There is no prompt "${name}" in ${vscode.workspace.asRelativePath(document.uri)} any more.`);
  return prompt;
}
