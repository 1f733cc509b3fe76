/**
 * The commands of the extension (package.json contributes.commands): thin handlers that gather
 * input from the editor or the user and hand the work to the session and the model manager.
 */
import * as vscode from 'vscode';
import { EngineError, isEngineError } from '../engine/errors.js';
import type { TokenRef } from '../protocol/engine.js';
import type { LabPanelController } from './panels/lab-panel.js';
import type { AnalysisSession, QuestionOrigin } from './analysis-session.js';
import { GPT2_SMALL_REPOS } from './analysis-session.js';
import type { AnalysisQuestion } from './analysis-key.js';
import type { ModelManager } from './model/model-manager.js';
import { parseModelChoice, type ModelChoice } from './model/model-choice.js';
import type { PromptDocuments } from './prompt-file/prompt-documents.js';
import { isPromptDocument, openDocument } from './prompt-file/prompt-documents.js';
import type { PromptEntry } from './prompt-file/parser.js';
import { patchRequestOf, questionOf } from './prompt-file/prompt-request.js';
import { notifyError } from './error-notifier.js';
import { PRESETS, presetsAsPromptFile } from './presets.js';
import { shortPromptName } from './history-store.js';
import { parseTokenInput } from './token-input.js';
import { ModelItem } from './views/models-view.js';
import { HistoryItem } from './views/history-view.js';
import { exportAnalysis, type ExportArgs } from './export/export-command.js';
import { formatBytes } from './format/token-text.js';

export interface CommandDeps {
  context: vscode.ExtensionContext;
  session: AnalysisSession;
  models: ModelManager;
  documents: PromptDocuments;
  lab: LabPanelController;
  log: vscode.LogOutputChannel;
  refreshHistory(): void;
}

/** Runs a command body, turning its failure into a notification with fitting actions. */
function guarded<A extends unknown[]>(what: string, deps: CommandDeps, body: (...args: A) => Promise<unknown>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await body(...args);
    } catch (error) {
      const active = deps.models.active().choice;
      await notifyError(error, what, deps.log, active.kind === 'hub' ? { downloadRepo: active.repo } : {});
    }
  };
}

function info(message: string): void {
  void vscode.window.showInformationMessage(`Circuit Trace: ${message}`);
}

export function registerCommands(deps: CommandDeps): void {
  const { context, session, models, documents, lab, log } = deps;

  const analyzeEntry = async (prompt: PromptEntry): Promise<void> => {
    if (prompt.errorCount > 0) {
      throw new EngineError('BAD_ARGUMENT', `Prompt "${prompt.name}" has ${prompt.errorCount} problem${prompt.errorCount === 1 ? '' : 's'}.`, 'Fix them (see the Problems panel) and analyze again.');
    }
    const origin: QuestionOrigin = prompt.corrupt ? { name: prompt.name, corrupt: prompt.corrupt.text } : { name: prompt.name };
    await session.analyze(questionOf(prompt), origin);
    deps.refreshHistory();
  };

  const patchEntry = async (prompt: PromptEntry): Promise<void> => {
    if (prompt.errorCount > 0) {
      throw new EngineError('BAD_ARGUMENT', `Prompt "${prompt.name}" has ${prompt.errorCount} problem${prompt.errorCount === 1 ? '' : 's'}.`, 'Fix them (see the Problems panel) and run the sweep again.');
    }
    if (!prompt.corrupt) {
      throw new EngineError('BAD_ARGUMENT', `Prompt "${prompt.name}" has no corrupted counterpart.`, 'Add @corrupt "..." (same token length) below it.');
    }
    const origin: QuestionOrigin = { name: prompt.name, corrupt: prompt.corrupt.text };
    const fallback = prompt.target ? undefined : { id: await session.topPrediction(questionOf(prompt), origin) };
    const request = patchRequestOf(prompt, fallback);
    if (!request) throw new EngineError('INTERNAL', 'Could not build the patch request.');
    await session.patch(request, origin);
    deps.refreshHistory();
  };

  const findPrompt = async (uri: string, name: string): Promise<PromptEntry> => {
    const document = await openDocument(uri);
    const prompt = documents.byName(document, name);
    if (!prompt) throw new EngineError('BAD_ARGUMENT', `There is no prompt "${name}" in ${vscode.workspace.asRelativePath(document.uri)} any more.`);
    return prompt;
  };

  const selectAndLoad = async (choice: ModelChoice): Promise<void> => {
    await models.select(choice);
    const loaded = await models.ensureLoaded();
    if (loaded) vscode.window.setStatusBarMessage(`Circuit Trace: ${loaded.info.displayName} ready on ${loaded.info.device}`, 4000);
  };

  const download = async (repo: string, revision?: string): Promise<void> => {
    const folder = await models.download(repo, revision);
    if (!folder) return;
    if (GPT2_SMALL_REPOS.includes(repo)) void vscode.commands.executeCommand('setContext', 'circuitTrace.walkthrough.gpt2Cached', true);
    const name = models.displayName({ kind: 'hub', repo });
    if (models.active().id === repo) {
      info(`downloaded ${name}.`);
      return;
    }
    const pick = await vscode.window.showInformationMessage(`Circuit Trace: downloaded ${name}.`, 'Use Model');
    if (pick === 'Use Model') await selectAndLoad(revision ? { kind: 'hub', repo, revision } : { kind: 'hub', repo });
  };

  const askRepo = async (): Promise<string | undefined> =>
    vscode.window.showInputBox({
      title: 'Hugging Face model id',
      prompt: 'A GPT-2-family model with config.json, tokenizer.json and safetensors weights, e.g. openai-community/gpt2',
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

  const askToken = async (title: string, prompt: string, optional: boolean): Promise<TokenRef | undefined | null> => {
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
  };

  const register = (id: string, handler: (...args: never[]) => unknown): void => {
    context.subscriptions.push(vscode.commands.registerCommand(id, handler as (...args: unknown[]) => unknown));
  };

  register(
    'circuitTrace.analyzeSelection',
    guarded('Analyze Selection', deps, async () => {
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
        await session.analyze({ prompt: text }, { name: shortPromptName(text) });
        deps.refreshHistory();
        return;
      }
      if (isPromptDocument(document)) {
        const prompt = documents.promptAt(document, selection.active);
        if (!prompt) {
          info('put the cursor in a prompt (below its "## name" header) or select text to analyze.');
          return;
        }
        await analyzeEntry(prompt);
        return;
      }
      info('nothing selected: select the text to analyze (or use a .prompt file).');
    }),
  );

  register(
    'circuitTrace.analyzePromptFile',
    guarded('Analyze Prompt File', deps, async (uri?: vscode.Uri) => {
      const document = uri instanceof vscode.Uri ? await openDocument(uri) : vscode.window.activeTextEditor?.document;
      if (!document || !isPromptDocument(document)) {
        info('open a .prompt file to analyze its prompts.');
        return;
      }
      const file = documents.parse(document);
      const runnable = file.prompts.filter((p) => p.errorCount === 0);
      if (runnable.length === 0) {
        info(file.prompts.length === 0 ? 'this file has no prompts; start one with a "## name" header line.' : 'every prompt of this file has problems; fix them first.');
        return;
      }
      const failures: string[] = [];
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Circuit Trace: analyzing ${runnable.length} prompt${runnable.length === 1 ? '' : 's'}`, cancellable: true },
        async (progress, token) => {
          const controller = new AbortController();
          token.onCancellationRequested(() => controller.abort());
          for (const [i, prompt] of runnable.entries()) {
            if (controller.signal.aborted) break;
            progress.report({ message: `${i + 1} of ${runnable.length}: ${prompt.name}`, increment: 100 / runnable.length });
            try {
              const origin: QuestionOrigin = prompt.corrupt ? { name: prompt.name, corrupt: prompt.corrupt.text } : { name: prompt.name };
              await session.analyze(questionOf(prompt), origin, { quiet: true, signal: controller.signal });
            } catch (error) {
              if (isEngineError(error) && error.code === 'CANCELLED') break;
              failures.push(`${prompt.name}: ${error instanceof Error ? error.message : String(error)}`);
              log.error(`Analyze Prompt File: "${prompt.name}" failed: ${error instanceof Error ? error.message : String(error)}`);
            }
          }
        },
      );
      deps.refreshHistory();
      const skipped = file.prompts.length - runnable.length;
      if (failures.length > 0 || skipped > 0) {
        const parts = [];
        if (failures.length > 0) parts.push(`${failures.length} failed (${failures.join('; ')})`);
        if (skipped > 0) parts.push(`${skipped} skipped because of problems`);
        const pick = await vscode.window.showWarningMessage(`Circuit Trace: ${parts.join(', ')}.`, 'Show Logs');
        if (pick === 'Show Logs') log.show();
      }
    }),
  );

  register(
    'circuitTrace.analyzePrompt',
    guarded('Analyze', deps, async (uri: string, name: string) => analyzeEntry(await findPrompt(uri, name))),
  );

  register(
    'circuitTrace.patchPrompt',
    guarded('Patch', deps, async (uri: string, name: string) => patchEntry(await findPrompt(uri, name))),
  );

  register(
    'circuitTrace.runPatchSweep',
    guarded('Run Patch Sweep', deps, async () => {
      const editor = vscode.window.activeTextEditor;
      if (editor && isPromptDocument(editor.document) && editor.selection.isEmpty) {
        const prompt = documents.promptAt(editor.document, editor.selection.active);
        if (prompt?.corrupt) {
          await patchEntry(prompt);
          return;
        }
      }
      const selected = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection).replace(/\s+$/, '') : (session.current?.result.prompt ?? '');
      const clean = await vscode.window.showInputBox({ title: 'Run Patch Sweep (1/4): clean prompt', prompt: 'The prompt whose behaviour to explain', value: selected, ignoreFocusOut: true, validateInput: (v) => (v.trim() === '' ? 'Enter the clean prompt.' : undefined) });
      if (clean === undefined) return;
      const corrupt = await vscode.window.showInputBox({
        title: 'Run Patch Sweep (2/4): corrupted prompt',
        prompt: 'The same prompt with the crucial part changed; it must have the same number of tokens',
        value: clean,
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() === '' ? 'Enter the corrupted prompt.' : v === clean ? 'The corrupted prompt must differ from the clean one.' : undefined),
      });
      if (corrupt === undefined) return;
      const target = await askToken('Run Patch Sweep (3/4): target token', 'The token whose probability the sweep measures, as a JSON string (e.g. " Mary") or a token id; empty: the clean prompt\'s top prediction', true);
      if (target === null) return;
      const contrast = await askToken('Run Patch Sweep (4/4): contrast token (optional)', 'Measure the logit difference target − contrast (e.g. " John"); empty: the target logit alone', true);
      if (contrast === null) return;
      const origin: QuestionOrigin = { name: shortPromptName(clean), corrupt };
      const question: AnalysisQuestion = { prompt: clean };
      const resolvedTarget = target ?? { id: await session.topPrediction(question, origin) };
      await session.patch({ clean, corrupt, target: resolvedTarget, ...(contrast ? { contrast } : {}), kind: 'heads-last' }, origin);
    }),
  );

  register(
    'circuitTrace.selectModel',
    guarded('Select Model', deps, async () => {
      await models.refresh();
      type Pick = vscode.QuickPickItem & { action: 'choice' | 'folder' | 'hub'; choice?: ModelChoice };
      const catalog = models.catalog();
      const items: Pick[] = [];
      const kinds: [string, string][] = [['organism', 'Built-in'], ['cached', 'In the Hugging Face cache'], ['remote', 'Downloadable']];
      for (const [kind, title] of kinds) {
        const entries = catalog.filter((e) => e.kind === kind);
        if (entries.length === 0) continue;
        items.push({ label: title, kind: vscode.QuickPickItemKind.Separator, action: 'choice' });
        for (const e of entries) items.push({ label: `${e.active ? '$(check) ' : ''}${e.label}`, description: e.description, detail: e.detail, action: 'choice', choice: e.choice });
      }
      items.push({ label: 'Other', kind: vscode.QuickPickItemKind.Separator, action: 'choice' });
      items.push({ label: '$(cloud-download) Other Hugging Face model…', description: 'enter a model id', action: 'hub' });
      if (vscode.workspace.isTrusted) items.push({ label: '$(folder-opened) Local folder…', description: 'config.json, tokenizer.json, model.safetensors', action: 'folder' });
      const active = models.active();
      const pick = await vscode.window.showQuickPick(items, {
        title: 'Circuit Trace: Select Model',
        placeHolder: `Active: ${active.displayName} (${active.id})`,
        matchOnDescription: true,
        matchOnDetail: true,
      });
      if (!pick) return;
      if (pick.action === 'choice' && pick.choice) {
        await selectAndLoad(pick.choice);
      } else if (pick.action === 'hub') {
        const repo = await askRepo();
        if (!repo) return;
        const choice = parseModelChoice(repo);
        if (choice) await selectAndLoad(choice);
      } else if (pick.action === 'folder') {
        const folders = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Use This Model Folder', title: 'A model folder in Hugging Face layout' });
        const folder = folders?.[0];
        if (folder) await selectAndLoad({ kind: 'folder', path: folder.fsPath });
      }
    }),
  );

  register(
    'circuitTrace.downloadModel',
    guarded('Download Model', deps, async (arg?: string | ModelItem) => {
      if (arg instanceof ModelItem) {
        if (arg.entry.choice.kind !== 'hub') return;
        await download(arg.entry.choice.repo, arg.entry.choice.revision);
        return;
      }
      if (typeof arg === 'string' && arg !== '') {
        const choice = parseModelChoice(arg);
        if (choice?.kind !== 'hub') throw new EngineError('BAD_ARGUMENT', `"${arg}" is not a Hugging Face model id.`);
        await download(choice.repo, choice.revision);
        return;
      }
      await models.refresh();
      const cached = new Set(models.cachedModels.filter((c) => c.complete).map((c) => c.repo));
      type Pick = vscode.QuickPickItem & { repo?: string; revision?: string };
      const items: Pick[] = models.knownModels
        .filter((k) => !cached.has(k.repo))
        .map((k) => ({ label: k.displayName, description: `${k.repo}${k.sizeBytes ? ` · ${formatBytes(k.sizeBytes)}` : ''}`, detail: k.description ?? '', repo: k.repo, ...(k.revision ? { revision: k.revision } : {}) }));
      items.push({ label: '$(edit) Other Hugging Face model…', description: 'enter a model id' });
      const pick = await vscode.window.showQuickPick(items, { title: 'Circuit Trace: Download Model', placeHolder: 'A model to fetch into the Hugging Face cache' });
      if (!pick) return;
      const repo = pick.repo ?? (await askRepo());
      if (!repo) return;
      const choice = parseModelChoice(repo);
      if (choice?.kind === 'hub') await download(choice.repo, pick.revision ?? choice.revision);
    }),
  );

  register(
    'circuitTrace.openLab',
    guarded('Open Lab', deps, async (view?: string) => {
      lab.open(typeof view === 'string' ? view : undefined);
    }),
  );

  register(
    'circuitTrace.exportAnalysis',
    guarded('Export Analysis', deps, async (args?: ExportArgs) => exportAnalysis(session, context, log, args)),
  );

  register('circuitTrace.showLogs', () => log.show());

  register(
    'circuitTrace.showResult',
    guarded('Show Result', deps, async (key: string) => {
      const analysis = session.byKey(key);
      if (!analysis) {
        info('that result is gone (the prompt or the model changed); analyze the prompt again.');
        return;
      }
      session.show(analysis);
      lab.open();
    }),
  );

  register(
    'circuitTrace.analyzePreset',
    guarded('Analyze Preset', deps, async (presetId: string, modelId?: string) => {
      const preset = PRESETS.find((p) => p.id === presetId || p.name === presetId);
      if (!preset) throw new EngineError('BAD_ARGUMENT', `There is no preset "${String(presetId)}".`);
      if (typeof modelId === 'string' && modelId !== '' && models.active().id !== modelId) {
        const choice = parseModelChoice(modelId);
        if (choice) await models.select(choice);
      }
      const question: AnalysisQuestion = { prompt: preset.prompt };
      if (preset.target) question.target = { text: preset.target };
      if (preset.contrast) question.contrast = { text: preset.contrast };
      await session.analyze(question, preset.corrupt ? { name: preset.name, corrupt: preset.corrupt } : { name: preset.name });
      deps.refreshHistory();
    }),
  );

  register(
    'circuitTrace.newPromptFile',
    guarded('New Prompt File', deps, async () => {
      const header = '// A .prompt file holds named prompts (docs/prompt-format.md).\n// Click Analyze above a prompt; hover its tokens afterwards.\n\n';
      const document = await vscode.workspace.openTextDocument({ language: 'prompt', content: header + presetsAsPromptFile() });
      await vscode.window.showTextDocument(document);
    }),
  );

  register(
    'circuitTrace.models.activate',
    guarded('Use Model', deps, async (item?: ModelItem | string) => {
      const choice = item instanceof ModelItem ? item.entry.choice : typeof item === 'string' ? parseModelChoice(item) : null;
      if (choice) await selectAndLoad(choice);
    }),
  );

  register(
    'circuitTrace.models.download',
    guarded('Download Model', deps, async (item?: ModelItem) => {
      if (item instanceof ModelItem && item.entry.choice.kind === 'hub') await download(item.entry.choice.repo, item.entry.choice.revision);
    }),
  );

  register(
    'circuitTrace.models.delete',
    guarded('Delete Model', deps, async (item?: ModelItem) => {
      if (!(item instanceof ModelItem) || item.entry.choice.kind !== 'hub') return;
      const repo = item.entry.choice.repo;
      const size = models.cachedModels.find((c) => c.repo === repo)?.sizeOnDisk;
      const pick = await vscode.window.showWarningMessage(
        `Delete ${item.entry.label} (${repo}${size ? `, ${formatBytes(size)}` : ''}) from the Hugging Face cache? Other tools that use the cache lose it too.`,
        { modal: true },
        'Delete',
      );
      if (pick !== 'Delete') return;
      await models.deleteFromCache(repo);
    }),
  );

  register('circuitTrace.models.refresh', guarded('Refresh Models', deps, async () => models.refresh()));

  register(
    'circuitTrace.heads.select',
    guarded('Select Head', deps, async (layer: number, head: number) => {
      lab.open();
      lab.select({ layer, head });
    }),
  );

  register(
    'circuitTrace.history.reopen',
    guarded('Reopen Analysis', deps, async (item?: HistoryItem | string) => {
      const id = item instanceof HistoryItem ? item.entry.id : item;
      if (typeof id !== 'string') return;
      await session.reopen(id);
      deps.refreshHistory();
    }),
  );

  register(
    'circuitTrace.history.delete',
    guarded('Delete From History', deps, async (item?: HistoryItem | string) => {
      const id = item instanceof HistoryItem ? item.entry.id : item;
      if (typeof id !== 'string') return;
      await session.history.remove(id);
      session.forget(id);
      deps.refreshHistory();
    }),
  );

  register(
    'circuitTrace.history.clear',
    guarded('Clear History', deps, async () => {
      for (const entry of session.history.list()) session.forget(entry.id);
      await session.history.clear();
      deps.refreshHistory();
    }),
  );
}
