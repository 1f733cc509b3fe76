/** Analyze commands: the selection, a whole `.prompt` file, one prompt (CodeLens), a preset, a result. */
import * as vscode from 'vscode';
import { EngineError, isEngineError } from '../../engine/errors.js';
import type { AnalysisQuestion } from '../analysis-key.js';
import { shortPromptName } from '../history-store.js';
import { parseModelChoice } from '../model/model-choice.js';
import { PRESETS } from '../presets.js';
import { isPromptDocument, openDocument } from '../prompt-file/prompt-documents.js';
import { questionOf } from '../prompt-file/prompt-request.js';
import type { CommandContext, CommandEntry } from './command-table.js';
import { info } from './notify.js';
import { analyzeEntry, findPrompt, originOf } from './prompt-entries.js';

async function analyzeSelection(ctx: CommandContext): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    info('open an editor and select the text to analyze.');
    return;
  }
  const { document, selection } = editor;
  if (!selection.isEmpty) {
    // Trailing whitespace of a selection is nearly always accidental (and GPT-2 would tokenize it).
    const text = document.getText(selection).replace(/\s+$/, '');
    if (text.trim() === '') {
      info('the selection is empty: select the text to analyze.');
      return;
    }
    await ctx.session.analyze({ prompt: text }, { name: shortPromptName(text) });
    ctx.refreshHistory();
    return;
  }
  if (isPromptDocument(document)) {
    const prompt = ctx.documents.promptAt(document, selection.active);
    if (!prompt) {
      info('put the cursor in a prompt (below its "## name" header) or select text to analyze.');
      return;
    }
    await analyzeEntry(ctx, prompt);
    return;
  }
  info('nothing selected: select the text to analyze (or use a .prompt file).');
}

async function analyzePromptFile(ctx: CommandContext, uri?: vscode.Uri): Promise<void> {
  const document = uri instanceof vscode.Uri ? await openDocument(uri) : vscode.window.activeTextEditor?.document;
  if (!document || !isPromptDocument(document)) {
    info('open a .prompt file to analyze its prompts.');
    return;
  }
  const file = ctx.documents.parse(document);
  const runnable = file.prompts.filter((p) => p.errorCount === 0);
  if (runnable.length === 0) {
    info(
      file.prompts.length === 0
        ? 'this file has no prompts; start one with a "## name" header line.'
        : 'every prompt of this file has problems; fix them first.',
    );
    return;
  }
  const failures: string[] = [];
  await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: `Circuit Trace: analyzing ${runnable.length} prompt${runnable.length === 1 ? '' : 's'}`,
      cancellable: true,
    },
    async (progress, token) => {
      const controller = new AbortController();
      token.onCancellationRequested(() => controller.abort());
      for (const [i, prompt] of runnable.entries()) {
        if (controller.signal.aborted) break;
        progress.report({ message: `${i + 1} of ${runnable.length}: ${prompt.name}`, increment: 100 / runnable.length });
        try {
          await ctx.session.analyze(questionOf(prompt), originOf(prompt), { quiet: true, signal: controller.signal });
        } catch (error) {
          if (isEngineError(error) && error.code === 'CANCELLED') break;
          failures.push(`${prompt.name}: ${error instanceof Error ? error.message : String(error)}`);
          ctx.log.error(`Analyze Prompt File: "${prompt.name}" failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    },
  );
  ctx.refreshHistory();
  const skipped = file.prompts.length - runnable.length;
  if (failures.length > 0 || skipped > 0) {
    const parts = [];
    if (failures.length > 0) parts.push(`${failures.length} failed (${failures.join('; ')})`);
    if (skipped > 0) parts.push(`${skipped} skipped because of problems`);
    const pick = await vscode.window.showWarningMessage(`Circuit Trace: ${parts.join(', ')}.`, 'Show Logs');
    if (pick === 'Show Logs') ctx.log.show();
  }
}

async function analyzePreset(ctx: CommandContext, presetId: string, modelId?: string): Promise<void> {
  const preset = PRESETS.find((p) => p.id === presetId || p.name === presetId);
  if (!preset) throw new EngineError('BAD_ARGUMENT', `There is no preset "${String(presetId)}".`);
  if (typeof modelId === 'string' && modelId !== '' && ctx.models.active().id !== modelId) {
    const choice = parseModelChoice(modelId);
    if (choice) await ctx.models.select(choice);
  }
  const question: AnalysisQuestion = { prompt: preset.prompt };
  if (preset.target) question.target = { text: preset.target };
  if (preset.contrast) question.contrast = { text: preset.contrast };
  if (preset.metric) question.metric = preset.metric;
  await ctx.session.analyze(question, preset.corrupt ? { name: preset.name, corrupt: preset.corrupt } : { name: preset.name });
  ctx.refreshHistory();
}

function showResult(ctx: CommandContext, key: string): void {
  const analysis = ctx.session.byKey(key);
  if (!analysis) {
    info('that result is gone (the prompt or the model changed); analyze the prompt again.');
    return;
  }
  ctx.session.show(analysis);
  ctx.lab.open();
}

export const ANALYZE_COMMANDS: readonly CommandEntry[] = [
  { id: 'circuitTrace.analyzeSelection', title: 'Analyze Selection', factory: (ctx) => () => analyzeSelection(ctx) },
  { id: 'circuitTrace.analyzePromptFile', title: 'Analyze Prompt File', factory: (ctx) => (uri?: vscode.Uri) => analyzePromptFile(ctx, uri) },
  {
    id: 'circuitTrace.analyzePrompt',
    title: 'Analyze',
    factory: (ctx) => async (uri: string, name: string) => analyzeEntry(ctx, await findPrompt(ctx, uri, name)),
  },
  {
    id: 'circuitTrace.analyzePreset',
    title: 'Analyze Preset',
    factory: (ctx) => (presetId: string, modelId?: string) => analyzePreset(ctx, presetId, modelId),
  },
  { id: 'circuitTrace.showResult', title: 'Show Result', factory: (ctx) => (key: string) => showResult(ctx, key) },
];
