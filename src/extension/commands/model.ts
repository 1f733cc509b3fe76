/** Model commands: select, download (palette, argument or Models view item), use, delete, refresh. */
import * as vscode from 'vscode';
import { EngineError } from '../../engine/errors.js';
import { GPT2_SMALL_REPOS } from '../analysis-session.js';
import { formatBytes } from '../format/token-text.js';
import { knownModelDetail } from '../model/model-catalog.js';
import { parseModelChoice, type ModelChoice } from '../model/model-choice.js';
import { ModelItem } from '../views/models-view.js';
import type { CommandContext, CommandEntry } from './command-table.js';
import { info } from './notify.js';

async function selectAndLoad(ctx: CommandContext, choice: ModelChoice): Promise<void> {
  await ctx.models.select(choice);
  const loaded = await ctx.models.ensureLoaded();
  if (loaded) vscode.window.setStatusBarMessage(`Circuit Trace: ${loaded.info.displayName} ready on ${loaded.info.device}`, 4000);
}

async function download(ctx: CommandContext, repo: string, revision?: string): Promise<void> {
  const { models } = ctx;
  const folder = await models.download(repo, revision);
  if (!folder) return;
  if (GPT2_SMALL_REPOS.includes(repo)) void vscode.commands.executeCommand('setContext', 'circuitTrace.walkthrough.gpt2Cached', true);
  const name = models.displayName({ kind: 'hub', repo });
  if (models.active().id === repo) {
    info(`downloaded ${name}.`);
    return;
  }
  const pick = await vscode.window.showInformationMessage(`Circuit Trace: downloaded ${name}.`, 'Use Model');
  if (pick === 'Use Model') await selectAndLoad(ctx, revision ? { kind: 'hub', repo, revision } : { kind: 'hub', repo });
}

async function askRepo(): Promise<string | undefined> {
  return vscode.window.showInputBox({
    title: 'Hugging Face model id',
    prompt: 'A model with config.json, tokenizer.json and safetensors (or pytorch_model.bin) weights, e.g. openai-community/gpt2',
    placeHolder: 'owner/name',
    ignoreFocusOut: true,
    validateInput: (value) => {
      try {
        const choice = parseModelChoice(value);
        return choice?.kind === 'hub' ? undefined : 'Enter a Hugging Face model id such as openai-community/gpt2.';
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
    },
  });
}

async function selectModel(ctx: CommandContext): Promise<void> {
  const { models } = ctx;
  await models.refresh();
  type Pick = vscode.QuickPickItem & { action: 'choice' | 'folder' | 'hub'; choice?: ModelChoice };
  const catalog = models.catalog();
  const items: Pick[] = [];
  const kinds: [string, string][] = [
    ['organism', 'Built-in'],
    ['cached', 'In the Hugging Face cache'],
    ['remote', 'Downloadable'],
  ];
  for (const [kind, title] of kinds) {
    const entries = catalog.filter((e) => e.kind === kind);
    if (entries.length === 0) continue;
    items.push({ label: title, kind: vscode.QuickPickItemKind.Separator, action: 'choice' });
    for (const e of entries)
      items.push({ label: `${e.active ? '$(check) ' : ''}${e.label}`, description: e.description, detail: e.detail, action: 'choice', choice: e.choice });
  }
  items.push({ label: 'Other', kind: vscode.QuickPickItemKind.Separator, action: 'choice' });
  items.push({ label: '$(cloud-download) Other Hugging Face model…', description: 'enter a model id', action: 'hub' });
  if (vscode.workspace.isTrusted)
    items.push({
      label: '$(folder-opened) Local folder…',
      description: 'config.json, tokenizer.json, model.safetensors or pytorch_model.bin',
      action: 'folder',
    });
  const active = models.active();
  const pick = await vscode.window.showQuickPick(items, {
    title: 'Circuit Trace: Select Model',
    placeHolder: `Active: ${active.displayName} (${active.id})`,
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!pick) return;
  if (pick.action === 'choice' && pick.choice) {
    await selectAndLoad(ctx, pick.choice);
  } else if (pick.action === 'hub') {
    const repo = await askRepo();
    if (!repo) return;
    const choice = parseModelChoice(repo);
    if (choice) await selectAndLoad(ctx, choice);
  } else if (pick.action === 'folder') {
    const folders = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      openLabel: 'Use This Model Folder',
      title: 'A model folder in Hugging Face layout',
    });
    const folder = folders?.[0];
    if (folder) await selectAndLoad(ctx, { kind: 'folder', path: folder.fsPath });
  }
}

async function downloadModel(ctx: CommandContext, arg?: string | ModelItem): Promise<void> {
  const { models } = ctx;
  if (arg instanceof ModelItem) {
    if (arg.entry.choice.kind !== 'hub') return;
    await download(ctx, arg.entry.choice.repo, arg.entry.choice.revision);
    return;
  }
  if (typeof arg === 'string' && arg !== '') {
    const choice = parseModelChoice(arg);
    if (choice?.kind !== 'hub') throw new EngineError('BAD_ARGUMENT', `"${arg}" is not a Hugging Face model id.`);
    await download(ctx, choice.repo, choice.revision);
    return;
  }
  await models.refresh();
  const cached = new Set(models.cachedModels.filter((c) => c.complete).map((c) => c.repo));
  type Pick = vscode.QuickPickItem & { repo?: string; revision?: string };
  const items: Pick[] = models.knownModels
    .filter((k) => !cached.has(k.repo))
    .map((k) => ({
      label: k.displayName,
      description: `${k.repo}${k.sizeBytes ? ` · ${formatBytes(k.sizeBytes)}` : ''}${k.gated ? ' · gated: needs HF_TOKEN' : ''}`,
      detail: knownModelDetail(k, true),
      repo: k.repo,
      ...(k.revision ? { revision: k.revision } : {}),
    }));
  items.push({ label: '$(edit) Other Hugging Face model…', description: 'enter a model id' });
  const pick = await vscode.window.showQuickPick(items, {
    title: 'Circuit Trace: Download Model',
    placeHolder: 'A model to fetch into the Hugging Face cache',
  });
  if (!pick) return;
  const repo = pick.repo ?? (await askRepo());
  if (!repo) return;
  const choice = parseModelChoice(repo);
  if (choice?.kind === 'hub') await download(ctx, choice.repo, pick.revision ?? choice.revision);
}

async function deleteModel(ctx: CommandContext, item?: ModelItem): Promise<void> {
  if (!(item instanceof ModelItem) || item.entry.choice.kind !== 'hub') return;
  const repo = item.entry.choice.repo;
  const size = ctx.models.cachedModels.find((c) => c.repo === repo)?.sizeOnDisk;
  const pick = await vscode.window.showWarningMessage(
    `Delete ${item.entry.label} (${repo}${size ? `, ${formatBytes(size)}` : ''}) from the Hugging Face cache? Other tools that use the cache lose it too.`,
    { modal: true },
    'Delete',
  );
  if (pick !== 'Delete') return;
  await ctx.models.deleteFromCache(repo);
}

export const MODEL_COMMANDS: readonly CommandEntry[] = [
  { id: 'circuitTrace.selectModel', title: 'Select Model', factory: (ctx) => () => selectModel(ctx) },
  { id: 'circuitTrace.downloadModel', title: 'Download Model', factory: (ctx) => (arg?: string | ModelItem) => downloadModel(ctx, arg) },
  {
    id: 'circuitTrace.models.activate',
    title: 'Use Model',
    factory: (ctx) => async (item?: ModelItem | string) => {
      const choice = item instanceof ModelItem ? item.entry.choice : typeof item === 'string' ? parseModelChoice(item) : null;
      if (choice) await selectAndLoad(ctx, choice);
    },
  },
  {
    id: 'circuitTrace.models.download',
    title: 'Download Model',
    factory: (ctx) => async (item?: ModelItem) => {
      if (item instanceof ModelItem && item.entry.choice.kind === 'hub') await download(ctx, item.entry.choice.repo, item.entry.choice.revision);
    },
  },
  { id: 'circuitTrace.models.delete', title: 'Delete Model', factory: (ctx) => (item?: ModelItem) => deleteModel(ctx, item) },
  { id: 'circuitTrace.models.refresh', title: 'Refresh Models', factory: (ctx) => () => ctx.models.refresh() },
];
