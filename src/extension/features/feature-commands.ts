/**
 * The dictionary and feature commands (entries of the command table, src/extension/commands):
 * Load Dictionary… (a local folder, or a Hugging Face repository with an optional subfolder),
 * Show Features (the selection, the `.prompt` prompt at the cursor, or the current analysis's
 * prompt) and Attribution Graph (the same prompt, under the loaded transcoders). The engine does
 * the loading and the computing in its worker.
 */
import { join } from 'node:path';
import * as vscode from 'vscode';
import { EngineError } from '../../engine/errors.js';
import type { DictionarySpec } from '../../protocol/features.js';
import type { CommandContext, CommandEntry } from '../commands/command-table.js';
import { isPromptDocument } from '../prompt-file/prompt-documents.js';
import { hubDictionary, parseDictionaryRepo, parseSubfolder } from './dictionary-choice.js';
import { describeDictionary } from './feature-session.js';

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Asks where the dictionary is; undefined when the user backs out. `organismDir`: where the organism's built-in transcoders go. */
export async function askDictionary(organismDir?: string): Promise<DictionarySpec | undefined> {
  type Pick = vscode.QuickPickItem & { action: 'hub' | 'folder' | 'organism' };
  const items: Pick[] = [
    { label: '$(cloud-download) Hugging Face repository…', description: 'owner/name, optionally a subfolder', action: 'hub' },
    // As for models: an untrusted workspace reads nothing from local folders.
    ...(vscode.workspace.isTrusted
      ? [
          {
            label: '$(folder-opened) Local folder…',
            description: 'cfg.json + sae_weights.safetensors, a circuit-tracer config.yaml, or params.npz',
            action: 'folder' as const,
          },
        ]
      : []),
    ...(organismDir
      ? [
          {
            label: "$(beaker) The organism's transcoders (built in)",
            description: 'features that are its known mechanisms, for the organism model',
            action: 'organism' as const,
          },
        ]
      : []),
  ];
  const pick = await vscode.window.showQuickPick(items, { title: 'Circuit Trace: Load Dictionary', placeHolder: 'Where is the SAE or transcoder?' });
  if (!pick) return undefined;
  if (pick.action === 'organism' && organismDir) return { kind: 'organism', dir: organismDir };
  if (pick.action === 'folder') {
    const folders = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      openLabel: 'Use This Dictionary',
      title: 'A dictionary folder (SAELens, circuit-tracer or Gemma Scope layout)',
    });
    const folder = folders?.[0];
    return folder ? { kind: 'folder', path: folder.fsPath } : undefined;
  }
  const repo = await vscode.window.showInputBox({
    title: 'Load Dictionary (1/2): Hugging Face repository',
    prompt: 'The repository holding the SAE or transcoders, e.g. jbloom/GPT2-Small-SAEs-Reformatted (optionally @revision)',
    placeHolder: 'owner/name',
    ignoreFocusOut: true,
    validateInput: (value) => {
      try {
        parseDictionaryRepo(value);
        return undefined;
      } catch (error) {
        return messageOf(error);
      }
    },
  });
  if (repo === undefined) return undefined;
  const subfolder = await vscode.window.showInputBox({
    title: 'Load Dictionary (2/2): subfolder (optional)',
    prompt: 'The folder of the dictionary inside the repository, e.g. blocks.8.hook_resid_pre; empty: the repository root',
    ignoreFocusOut: true,
    validateInput: (value) => {
      try {
        parseSubfolder(value);
        return undefined;
      } catch (error) {
        return messageOf(error);
      }
    },
  });
  if (subfolder === undefined) return undefined;
  return hubDictionary(repo, subfolder);
}

async function loadDictionary(ctx: CommandContext, arg?: unknown): Promise<void> {
  // A spec passed by another command or a test; else ask.
  const spec = isSpec(arg) ? arg : await askDictionary(join(ctx.models.organismDir, '..', 'organism-transcoder'));
  if (!spec) return;
  const summary = await ctx.features.load(spec);
  const pick = await vscode.window.showInformationMessage(`Circuit Trace: loaded ${describeDictionary(summary)}.`, 'Show Features');
  if (pick === 'Show Features') await showFeatures(ctx);
}

function isSpec(value: unknown): value is DictionarySpec {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    (r.kind === 'folder' && typeof r.path === 'string') ||
    (r.kind === 'hub' && typeof r.repo === 'string') ||
    (r.kind === 'organism' && typeof r.dir === 'string')
  );
}

/** The prompt a feature command works on: the selection, the `.prompt` prompt at the cursor, the current analysis's, or one asked for. */
export async function promptForFeatures(ctx: CommandContext, title: string): Promise<string | undefined> {
  const editor = vscode.window.activeTextEditor;
  if (editor && !editor.selection.isEmpty) {
    const selected = editor.document.getText(editor.selection).replace(/\s+$/, '');
    if (selected.trim() !== '') return selected;
  }
  if (editor && isPromptDocument(editor.document)) {
    const prompt = ctx.documents.promptAt(editor.document, editor.selection.active);
    if (prompt) {
      if (prompt.errorCount > 0)
        throw new EngineError('BAD_ARGUMENT', `Prompt "${prompt.name}" has problems.`, 'Fix them (see the Problems panel) and try again.');
      return prompt.text;
    }
  }
  const fallback = ctx.session.current?.result.prompt ?? '';
  const typed = await vscode.window.showInputBox({
    title,
    prompt: 'The prompt to run (select text or put the cursor in a .prompt prompt to skip this)',
    value: fallback,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() === '' ? 'Enter a prompt.' : undefined),
  });
  return typed === undefined || typed.trim() === '' ? undefined : typed;
}

async function showFeatures(ctx: CommandContext): Promise<void> {
  ctx.features.requireDictionary();
  const prompt = await promptForFeatures(ctx, 'Show Features: prompt');
  if (prompt === undefined) return;
  // The view opens first, so that the results land in it rather than opening the whole Lab too.
  ctx.lab.open('features');
  await ctx.features.features(prompt);
}

async function attributionGraph(ctx: CommandContext): Promise<void> {
  ctx.features.requireDictionary();
  const prompt = await promptForFeatures(ctx, 'Attribution Graph: prompt');
  if (prompt === undefined) return;
  ctx.lab.open('attributionGraph');
  await ctx.features.attributionGraph(prompt);
}

export const FEATURE_COMMANDS: readonly CommandEntry[] = [
  { id: 'circuitTrace.loadDictionary', title: 'Load Dictionary', factory: (ctx) => (arg?: unknown) => loadDictionary(ctx, arg) },
  { id: 'circuitTrace.showFeatures', title: 'Show Features', factory: (ctx) => () => showFeatures(ctx) },
  { id: 'circuitTrace.attributionGraph', title: 'Attribution Graph', factory: (ctx) => () => attributionGraph(ctx) },
];
