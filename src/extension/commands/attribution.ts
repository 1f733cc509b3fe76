/**
 * Attribution Heatmaps: on a `.prompt` prompt with @corrupt (target and contrast from its
 * directives, the target defaulting to the clean prompt's top prediction), runs AtP over heads and
 * positions, path patching of every head to the logits, and the exact activation-patching sweep of
 * each head at every position on the same token ids, and opens the Lab's attribution view with
 * its heatmaps and the AtP-vs-exact scatter. Anywhere else it opens that view, whose form starts
 * from the current analysis.
 */
import * as vscode from 'vscode';
import { EngineError } from '../../engine/errors.js';
import type { AttributionPrompts } from '../../protocol/attribution.js';
import type { PatchRequest } from '../../protocol/engine.js';
import { isPromptDocument } from '../prompt-file/prompt-documents.js';
import type { PromptEntry } from '../prompt-file/parser.js';
import { questionOf, tokenRefOf } from '../prompt-file/prompt-request.js';
import type { CommandContext, CommandEntry } from './command-table.js';
import { originOf } from './prompt-entries.js';

/** The prompts of a `.prompt` entry as attribution takes them; attribution has no @metric (it needs a gradient of the logit difference or log-probability). */
async function promptsOf(ctx: CommandContext, prompt: PromptEntry & { corrupt: NonNullable<PromptEntry['corrupt']> }): Promise<AttributionPrompts> {
  if (prompt.errorCount > 0) throw new EngineError('BAD_ARGUMENT', `Prompt "${prompt.name}" has problems.`, 'Fix them (see the Problems panel) and try again.');
  if (prompt.metric)
    throw new EngineError(
      'BAD_ARGUMENT',
      `Attribution measures the logit difference or the log-probability of the target, not @metric ${prompt.metric.kind}.`,
      'Remove the @metric line, or use Run Patch Sweep for that metric.',
    );
  const target = tokenRefOf(prompt.target) ?? { id: await ctx.session.topPrediction(questionOf(prompt), originOf(prompt)) };
  const contrast = tokenRefOf(prompt.contrast);
  return { clean: prompt.text, corrupt: prompt.corrupt.text, target, ...(contrast ? { contrast } : {}) };
}

async function attributionHeatmaps(ctx: CommandContext): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const prompt =
    editor && isPromptDocument(editor.document) && editor.selection.isEmpty ? ctx.documents.promptAt(editor.document, editor.selection.active) : undefined;
  ctx.lab.open('attribution');
  if (!prompt?.corrupt) return;
  const prompts = await promptsOf(ctx, { ...prompt, corrupt: prompt.corrupt });
  const map = await ctx.lab.attribution.attribute({ ...prompts, method: 'atp' });
  await ctx.lab.attribution.pathPatch({ ...prompts, receivers: 'logits' });
  // The exact sweep on the attribution's own ids (BOS included), so the scatter pairs like with like.
  const sweep: PatchRequest = {
    cleanIds: map.cleanTokens.map((t) => t.id),
    corruptIds: map.corruptTokens.map((t) => t.id),
    target: { id: map.targetId },
    ...(map.contrastId !== null ? { contrast: { id: map.contrastId } } : {}),
    kind: 'heads-all',
  };
  await ctx.session.patch(sweep, originOf(prompt));
}

export const ATTRIBUTION_COMMANDS: readonly CommandEntry[] = [
  { id: 'circuitTrace.attributionHeatmaps', title: 'Attribution Heatmaps', factory: (ctx) => () => attributionHeatmaps(ctx) },
];
