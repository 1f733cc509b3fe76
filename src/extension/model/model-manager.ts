/**
 * The active model: which one the settings choose, loading it into the engine (with download
 * progress when it comes from the Hub), falling back to the model organism when the Hub cannot be
 * reached, and the status bar item that shows it. Switching models cancels work in flight.
 */
import * as vscode from 'vscode';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { EngineApi, LoadedModelInfo, LoadOptions } from '../../protocol/engine.js';
import { EngineError, isEngineError } from '../../engine/errors.js';
import { deleteCachedModel, inspectCachedSnapshot, listCachedModels } from '../../engine/model/hub/cache-layout.js';
import { downloadModel } from '../../engine/model/hub/download.js';
import { ORGANISM_DISPLAY_NAME } from '../../engine/organism/index.js';
import { MODEL_SETTINGS, type Settings } from '../settings.js';
import { allowedWhenUntrusted, automaticChoice, modelChoiceId, parseModelChoice, toModelSpec, type ModelChoice } from './model-choice.js';
import { readModelRegistry, type KnownModel } from './model-registry.js';
import { buildCatalog, completeCachedRepos, type CachedRepo, type CatalogEntry } from './model-catalog.js';
import { progressMessage, TransferRate } from './transfer-rate.js';
import { isHubUnreachable } from '../error-actions.js';

export interface ActiveModel {
  /** Canonical choice id (analysis keys and history use it). */
  id: string;
  choice: ModelChoice;
  displayName: string;
  /** Why this model is active when it is not what the setting says (e.g. the Hub was unreachable). */
  fallbackReason: string | null;
}

export interface LoadedModel {
  id: string;
  info: LoadedModelInfo;
}

/** What identifies one load: the model and every option that changes what gets loaded. */
function loadKey(id: string, options: LoadOptions): string {
  return JSON.stringify([id, options.device, options.maxTokens, options.offline, options.cacheDir ?? '']);
}

export class ModelManager implements vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  /** Fires when the active model, its load state, or the cache listing changes. */
  readonly onDidChange = this.changeEmitter.event;

  private loaded: { key: string; model: LoadedModel } | null = null;
  private loading: { key: string; controller: AbortController; promise: Promise<LoadedModel> } | null = null;
  private fallback: { fromId: string; reason: string } | null = null;
  private known: KnownModel[] = [];
  private cached: CachedRepo[] = [];
  private readonly statusItem: vscode.StatusBarItem;
  private readonly switchListeners: (() => void)[] = [];
  /** The model-related settings as last seen, to tell a real change from a repeated event. */
  private lastModelSettings: string;
  private lastCacheFolder: string;

  constructor(
    private readonly engine: EngineApi,
    private readonly settings: () => Settings,
    private readonly extensionUri: vscode.Uri,
    private readonly globalStorage: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.statusItem = vscode.window.createStatusBarItem('circuitTrace.model', vscode.StatusBarAlignment.Right, 100);
    this.statusItem.name = 'Circuit Trace Model';
    this.statusItem.command = 'circuitTrace.selectModel';
    this.lastModelSettings = this.modelSettingsSnapshot();
    this.lastCacheFolder = this.settings().cacheFolder;
    this.updateStatus();
    this.statusItem.show();
  }

  dispose(): void {
    this.loading?.controller.abort();
    this.statusItem.dispose();
    this.changeEmitter.dispose();
  }

  /** Called when the model changes, before anything new loads: the analysis queues cancel their work. */
  onWillSwitch(listener: () => void): void {
    this.switchListeners.push(listener);
  }

  get organismDir(): string {
    return join(this.globalStorage.fsPath, 'organism');
  }

  get knownModels(): readonly KnownModel[] {
    return this.known;
  }

  get cachedModels(): readonly CachedRepo[] {
    return this.cached;
  }

  /** The registry and the cache listing; call on start, after downloads and deletions, and on cacheFolder changes. */
  async refresh(): Promise<void> {
    let text: string | undefined;
    try {
      text = await readFile(vscode.Uri.joinPath(this.extensionUri, 'models', 'registry.json').fsPath, 'utf8');
    } catch {
      text = undefined;
    }
    const reading = readModelRegistry(text);
    for (const problem of reading.problems) this.log.warn(`Model registry: ${problem}`);
    this.known = reading.models;
    try {
      const cacheDir = this.settings().cacheFolder || undefined;
      const listed = await listCachedModels(cacheDir ? { cacheDir } : {});
      this.cached = listed.map((m) => ({
        repo: m.repo,
        sizeOnDisk: m.sizeOnDisk,
        complete: m.snapshots.some((s) => s.complete),
        partialDownloads: m.partialDownloads,
      }));
    } catch (error) {
      this.log.warn(`Could not list the Hugging Face cache: ${error instanceof Error ? error.message : String(error)}`);
      this.cached = [];
    }
    this.changeEmitter.fire();
  }

  /** The model the settings choose right now (or the organism while falling back). */
  active(): ActiveModel {
    const chosen = this.chosen();
    if (this.fallback && this.fallback.fromId === modelChoiceId(chosen)) {
      return { id: 'organism', choice: { kind: 'organism' }, displayName: ORGANISM_DISPLAY_NAME, fallbackReason: this.fallback.reason };
    }
    return { id: modelChoiceId(chosen), choice: chosen, displayName: this.displayName(chosen), fallbackReason: null };
  }

  /** The loaded model if it is the active one with the current options. */
  current(): LoadedModel | undefined {
    const active = this.active();
    return this.loaded?.key === loadKey(active.id, this.loadOptions()) ? this.loaded.model : undefined;
  }

  isLoading(): boolean {
    return this.loading !== null;
  }

  catalog(): CatalogEntry[] {
    return buildCatalog({ organismName: ORGANISM_DISPLAY_NAME, cached: this.cached, known: this.known, activeId: this.active().id });
  }

  displayName(choice: ModelChoice): string {
    switch (choice.kind) {
      case 'organism':
        return ORGANISM_DISPLAY_NAME;
      case 'hub':
        return this.known.find((k) => k.repo === choice.repo)?.displayName ?? choice.repo;
      case 'folder':
        return basename(choice.path) || choice.path;
    }
  }

  loadOptions(): LoadOptions {
    const s = this.settings();
    const options: LoadOptions = { device: s.device, maxTokens: s.maxTokens, offline: s.offline };
    if (s.cacheFolder) options.cacheDir = s.cacheFolder;
    return options;
  }

  private modelSettingsSnapshot(): string {
    const s = this.settings();
    return JSON.stringify(MODEL_SETTINGS.map((key) => s[key]));
  }

  /**
   * Call on every configuration change: when a setting that selects or loads the model changed,
   * work in flight is cancelled and the fallback forgotten. Returns whether anything changed.
   */
  configurationChanged(): boolean {
    const snapshot = this.modelSettingsSnapshot();
    if (snapshot === this.lastModelSettings) return false;
    const cacheFolder = this.settings().cacheFolder;
    const cacheChanged = cacheFolder !== this.lastCacheFolder;
    this.lastModelSettings = snapshot;
    this.lastCacheFolder = cacheFolder;
    this.fallback = null;
    this.switching();
    this.updateStatus();
    this.changeEmitter.fire();
    if (cacheChanged) void this.refresh();
    return true;
  }

  /**
   * Workspace trust was granted: restricted settings (circuitTrace.model, circuitTrace.cacheFolder)
   * may now take their workspace values, so the active model may differ.
   */
  settingsChangedByTrust(): void {
    this.lastModelSettings = '';
    this.configurationChanged();
  }

  /** Writes the model setting where it takes effect (workspace if the workspace overrides it). */
  async select(choice: ModelChoice): Promise<void> {
    if (!vscode.workspace.isTrusted && !allowedWhenUntrusted(choice)) {
      throw new EngineError('BAD_ARGUMENT', 'This workspace is not trusted, so models load only from the Hugging Face cache or the Hub, not from folders.', 'Trust the workspace to load a local folder.');
    }
    const config = vscode.workspace.getConfiguration('circuitTrace');
    const inspected = config.inspect<string>('model');
    const target = inspected?.workspaceFolderValue !== undefined || inspected?.workspaceValue !== undefined ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    const id = modelChoiceId(choice);
    if (this.settings().model !== id) await config.update('model', id, target);
    // Apply now rather than when onDidChangeConfiguration arrives, so that work started right after
    // this call is not cancelled by the late event (which then finds nothing changed).
    if (!this.configurationChanged() && this.fallback) {
      this.fallback = null;
      this.switching();
      this.updateStatus();
      this.changeEmitter.fire();
    }
  }

  /**
   * Loads the active model unless it is loaded already. `background` loads only when no download
   * is needed (for diagnostics on opening a `.prompt` file) and returns undefined otherwise.
   */
  async ensureLoaded(options: { signal?: AbortSignal; background?: boolean } = {}): Promise<LoadedModel | undefined> {
    const active = this.active();
    const loadOptions = this.loadOptions();
    const key = loadKey(active.id, loadOptions);
    if (this.loaded?.key === key) return this.loaded.model;
    if (!vscode.workspace.isTrusted && !allowedWhenUntrusted(active.choice)) {
      throw new EngineError(
        'BAD_ARGUMENT',
        `This workspace is not trusted, so Circuit Trace loads models only from the Hugging Face cache or the Hub, not from the folder ${active.id}.`,
        'Select another model, or trust the workspace.',
      );
    }
    if (options.background && (!this.loading || this.loading.key !== key) && (await this.needsDownload(active.choice))) return undefined;
    // Another caller may have started (or finished) this very load while the cache was inspected.
    if (this.loaded?.key === key) return this.loaded.model;
    if (!this.loading || this.loading.key !== key) {
      this.loading?.controller.abort();
      const controller = new AbortController();
      const promise = this.load(active, loadOptions, key, controller.signal);
      this.loading = { key, controller, promise };
      this.updateStatus();
      this.changeEmitter.fire();
      void promise.then(
        () => this.loadSettled(key),
        () => this.loadSettled(key),
      );
    }
    const pending = this.loading;
    if (!options.signal) return pending.promise;
    // A caller giving up does not cancel a load others may wait for; it only stops waiting.
    const signal = options.signal;
    return new Promise<LoadedModel>((resolve, reject) => {
      if (signal.aborted) reject(new EngineError('CANCELLED', 'The run was cancelled.'));
      signal.addEventListener('abort', () => reject(new EngineError('CANCELLED', 'The run was cancelled.')), { once: true });
      pending.promise.then(resolve, reject);
    });
  }

  private loadSettled(key: string): void {
    if (this.loading?.key === key) this.loading = null;
    this.updateStatus();
    this.changeEmitter.fire();
  }

  private async needsDownload(choice: ModelChoice): Promise<boolean> {
    if (choice.kind !== 'hub') return false;
    const cacheDir = this.settings().cacheFolder || undefined;
    try {
      const state = await inspectCachedSnapshot(choice.repo, { ...(choice.revision ? { revision: choice.revision } : {}), ...(cacheDir ? { cacheDir } : {}) });
      return state.folder === null;
    } catch {
      return true;
    }
  }

  private async load(active: ActiveModel, options: LoadOptions, key: string, signal: AbortSignal): Promise<LoadedModel> {
    const spec = toModelSpec(active.choice, this.organismDir, homedir());
    const download = await this.needsDownload(active.choice);
    this.log.info(`Loading ${active.displayName} (${active.id}) on ${options.device}${download ? ', downloading it first' : ''}.`);
    const run = async (onProgress?: (message: string) => void, progressSignal?: AbortSignal): Promise<LoadedModelInfo> => {
      const rate = new TransferRate();
      const combined = progressSignal ? AbortSignal.any([signal, progressSignal]) : signal;
      return this.engine.loadModel(spec, options, {
        signal: combined,
        onProgress: (p) => {
          rate.sample(p, Date.now());
          onProgress?.(progressMessage(p, rate.bytesPerSecond()));
        },
      });
    };
    try {
      const info = download
        ? await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title: `Circuit Trace: downloading ${active.displayName}`, cancellable: true },
            async (progress, token) => {
              const cancel = new AbortController();
              token.onCancellationRequested(() => cancel.abort());
              return run((message) => progress.report({ message }), cancel.signal);
            },
          )
        : await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Loading ${active.displayName}` }, () => run());
      const model: LoadedModel = { id: active.id, info };
      this.loaded = { key, model };
      this.log.info(`Loaded ${info.displayName}: ${info.nLayers} layers × ${info.nHeads} heads, device ${info.device}${info.deviceNote ? ` (${info.deviceNote})` : ''}, ${info.loadMs.toFixed(0)} ms.`);
      if (info.deviceNote) void vscode.window.showInformationMessage(`Circuit Trace: ${info.deviceNote}`);
      return model;
    } catch (error) {
      const code = isEngineError(error) ? error.code : null;
      if (code && isHubUnreachable(code) && active.choice.kind === 'hub' && !signal.aborted) {
        // The organism needs no network: use it rather than leave the user with nothing.
        const reason = `${active.displayName} could not be loaded (${error instanceof Error ? error.message : String(error)}); using ${ORGANISM_DISPLAY_NAME} instead.`;
        this.log.warn(reason);
        this.fallback = { fromId: active.id, reason };
        void vscode.window.showWarningMessage(`Circuit Trace: ${reason}`, 'Select Model', 'Show Logs').then((pick) => {
          if (pick === 'Select Model') void vscode.commands.executeCommand('circuitTrace.selectModel');
          if (pick === 'Show Logs') this.log.show();
        });
        const organism = this.active();
        return this.load(organism, options, loadKey(organism.id, options), signal);
      }
      throw error;
    }
  }

  /** Downloads a Hub model into the cache (without loading it), with bytes and speed, cancellable. */
  async download(repo: string, revision?: string): Promise<string | undefined> {
    const s = this.settings();
    if (s.offline) {
      throw new EngineError('OFFLINE', `Offline mode is on (circuitTrace.offline), so ${repo} cannot be downloaded.`, 'Turn circuitTrace.offline off to download models.');
    }
    const name = this.known.find((k) => k.repo === repo)?.displayName ?? repo;
    this.log.info(`Downloading ${repo}${revision ? `@${revision}` : ''}.`);
    const folder = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Circuit Trace: downloading ${name}`, cancellable: true },
      async (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        const rate = new TransferRate();
        progress.report({ message: 'asking the Hub…' });
        return downloadModel(repo, {
          ...(revision ? { revision } : {}),
          ...(s.cacheFolder ? { cacheDir: s.cacheFolder } : {}),
          offline: false,
          signal: controller.signal,
          onProgress: (p) => {
            rate.sample(p, Date.now());
            progress.report({ message: progressMessage(p, rate.bytesPerSecond()) });
          },
        });
      },
    );
    this.log.info(`Downloaded ${repo} to ${folder}.`);
    await this.refresh();
    return folder;
  }

  async deleteFromCache(repo: string): Promise<boolean> {
    const cacheDir = this.settings().cacheFolder || undefined;
    const deleted = await deleteCachedModel(repo, cacheDir ? { cacheDir } : {});
    this.log.info(deleted ? `Deleted ${repo} from the Hugging Face cache.` : `${repo} was not in the cache.`);
    if (this.loaded?.model.id === repo) this.loaded = null;
    await this.refresh();
    return deleted;
  }

  /** The model the settings choose (ignoring a fallback). */
  private chosen(): ModelChoice {
    const raw = this.settings().model;
    try {
      const parsed = parseModelChoice(raw);
      if (parsed) return parsed;
    } catch (error) {
      this.log.warn(`circuitTrace.model: ${error instanceof Error ? error.message : String(error)} Using the automatic choice.`);
    }
    return automaticChoice({ knownRepos: this.known.map((k) => k.repo), cachedRepos: completeCachedRepos(this.cached) });
  }

  private switching(): void {
    this.loading?.controller.abort();
    this.loading = null;
    for (const listener of this.switchListeners) listener();
  }

  updateStatus(): void {
    const active = this.active();
    // The organism's full name is long for the status bar.
    const short = active.choice.kind === 'organism' ? 'Organism' : active.displayName;
    const loaded = this.current();
    if (this.loading) {
      this.statusItem.text = `$(sync~spin) ${short}`;
      this.statusItem.tooltip = `Circuit Trace: loading ${active.displayName}…`;
    } else if (loaded) {
      this.statusItem.text = `$(circuit-board) ${short} · ${loaded.info.device}`;
      this.statusItem.tooltip = new vscode.MarkdownString(
        `**Circuit Trace model:** ${active.displayName} (${active.id})\n\n${loaded.info.nLayers} layers × ${loaded.info.nHeads} heads · device ${loaded.info.device}${loaded.info.deviceNote ? ` (${loaded.info.deviceNote})` : ''}${active.fallbackReason ? `\n\n$(warning) ${active.fallbackReason}` : ''}\n\nClick to select another model.`,
        true,
      );
    } else {
      this.statusItem.text = `$(circuit-board) ${short} · ${this.settings().device}`;
      this.statusItem.tooltip = `Circuit Trace model: ${active.displayName} (${active.id}), loaded on first analysis. Device setting: ${this.settings().device}. Click to select another model.`;
    }
  }
}
