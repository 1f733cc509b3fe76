/**
 * The active model, for the rest of the extension: it follows the settings (model-selection.ts
 * decides), loads through the engine (model-loader.ts), keeps the registry and the cache listing
 * for the views, and shows itself in the status bar (model-status-item.ts). Switching models
 * cancels work in flight. The cache is read, written and downloaded into by the engine's worker.
 */
import * as vscode from 'vscode';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { LoadOptions } from '../../protocol/engine.js';
import { EngineError } from '../../engine/errors.js';
import { ORGANISM_DISPLAY_NAME } from '../../engine/organism/organism-design.js';
import { MODEL_SETTINGS, type Settings } from '../settings.js';
import { allowedWhenUntrusted, modelChoiceId, type ModelChoice } from './model-choice.js';
import { readModelRegistry, type KnownModel } from './model-registry.js';
import { buildCatalog, type CachedRepo, type CatalogEntry } from './model-catalog.js';
import { activeModel, chosenModel, loadKey, loadOptionsOf, modelDisplayName, type ActiveModel } from './model-selection.js';
import { ModelLoader, type LoadedModel, type ModelEngine } from './model-loader.js';
import { vscodeLoaderUi } from './model-loader-ui.js';
import { ModelStatusItem } from './model-status-item.js';

export type { ActiveModel } from './model-selection.js';
export type { LoadedModel } from './model-loader.js';

export class ModelManager implements vscode.Disposable {
  private readonly changeEmitter = new vscode.EventEmitter<void>();
  /** Fires when the active model, its load state, or the cache listing changes. */
  readonly onDidChange = this.changeEmitter.event;

  private readonly loader: ModelLoader;
  private known: KnownModel[] = [];
  private cached: CachedRepo[] = [];
  private readonly statusItem = new ModelStatusItem();
  private readonly switchListeners: (() => void)[] = [];
  /** The model-related settings as last seen, to tell a real change from a repeated event. */
  private lastModelSettings: string;
  private lastCacheFolder: string;
  private lastSettingProblem: string | null = null;

  constructor(
    private readonly engine: ModelEngine,
    private readonly settings: () => Settings,
    private readonly extensionUri: vscode.Uri,
    private readonly globalStorage: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.loader = new ModelLoader(engine, vscodeLoaderUi(log), log, this.organismDir, homedir(), () => {
      this.updateStatus();
      this.changeEmitter.fire();
    });
    this.lastModelSettings = this.modelSettingsSnapshot();
    this.lastCacheFolder = this.settings().cacheFolder;
    this.updateStatus();
  }

  dispose(): void {
    this.loader.reset();
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
      this.cached = await this.engine.listCachedModels(this.cacheOptions());
    } catch (error) {
      this.log.warn(`Could not list the Hugging Face cache: ${error instanceof Error ? error.message : String(error)}`);
      this.cached = [];
    }
    this.changeEmitter.fire();
  }

  /** The model the settings choose right now (or the organism while falling back). */
  active(): ActiveModel {
    const setting = this.settings().model;
    const { problem } = chosenModel({ setting, known: this.known, cached: this.cached });
    if (problem && problem !== this.lastSettingProblem) this.log.warn(problem);
    this.lastSettingProblem = problem;
    return activeModel({ setting, known: this.known, cached: this.cached, fallback: this.loader.fallback });
  }

  /** The loaded model if it is the active one with the current options. */
  current(): LoadedModel | undefined {
    return this.loader.current(loadKey(this.active().id, this.loadOptions()));
  }

  isLoading(): boolean {
    return this.loader.isLoading();
  }

  catalog(): CatalogEntry[] {
    return buildCatalog({ organismName: ORGANISM_DISPLAY_NAME, cached: this.cached, known: this.known, activeId: this.active().id });
  }

  displayName(choice: ModelChoice): string {
    return modelDisplayName(choice, this.known);
  }

  loadOptions(): LoadOptions {
    return loadOptionsOf(this.settings());
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
    this.switching();
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
      throw new EngineError(
        'UNTRUSTED_WORKSPACE',
        'This workspace is not trusted, so models load only from the Hugging Face cache or the Hub, not from folders.',
        'Trust the workspace to load a local folder.',
      );
    }
    const config = vscode.workspace.getConfiguration('circuitTrace');
    const inspected = config.inspect<string>('model');
    const target =
      inspected?.workspaceFolderValue !== undefined || inspected?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
    const id = modelChoiceId(choice);
    if (this.settings().model !== id) await config.update('model', id, target);
    // Apply now rather than when onDidChangeConfiguration arrives, so that work started right after
    // this call is not cancelled by the late event (which then finds nothing changed).
    if (!this.configurationChanged() && this.loader.fallback) this.switching();
  }

  /**
   * Loads the active model unless it is loaded already. `background` (diagnostics on opening a
   * `.prompt` file, hovers, views) uses the Hugging Face cache only, never the network, and
   * returns undefined when the model is not there.
   */
  ensureLoaded(options: { signal?: AbortSignal; background?: boolean } = {}): Promise<LoadedModel | undefined> {
    return this.loader.ensureLoaded({
      model: this.active(),
      options: this.loadOptions(),
      trusted: vscode.workspace.isTrusted,
      ...(options.background ? { background: true } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** Downloads a Hub model into the cache (without loading it), with bytes and speed, cancellable. */
  async download(repo: string, revision?: string): Promise<string | undefined> {
    const s = this.settings();
    if (s.offline) {
      throw new EngineError(
        'OFFLINE',
        `Offline mode is on (circuitTrace.offline), so ${repo} cannot be downloaded.`,
        'Turn circuitTrace.offline off to download models.',
      );
    }
    if (
      !vscode.workspace.isTrusted &&
      !(await vscodeLoaderUi(this.log).confirmHubAccess({
        id: repo,
        choice: { kind: 'hub', repo },
        displayName: this.displayName({ kind: 'hub', repo }),
        fallbackReason: null,
      }))
    ) {
      throw new EngineError(
        'UNTRUSTED_WORKSPACE',
        `This untrusted workspace may contact the Hugging Face Hub only with your permission, so ${repo} was not downloaded.`,
        'Trust the workspace, or answer "Contact the Hub".',
      );
    }
    const folder = await this.loader.download(repo, {
      ...(revision ? { revision } : {}),
      ...this.cacheOptions(),
      displayName: this.displayName({ kind: 'hub', repo }),
    });
    await this.refresh();
    return folder;
  }

  async deleteFromCache(repo: string): Promise<boolean> {
    const deleted = await this.engine.deleteCachedModel(repo, this.cacheOptions());
    this.log.info(deleted ? `Deleted ${repo} from the Hugging Face cache.` : `${repo} was not in the cache.`);
    this.loader.forget(repo);
    await this.refresh();
    return deleted;
  }

  private cacheOptions(): { cacheDir?: string } {
    const cacheDir = this.settings().cacheFolder;
    return cacheDir ? { cacheDir } : {};
  }

  private switching(): void {
    this.loader.reset();
    for (const listener of this.switchListeners) listener();
    this.updateStatus();
    this.changeEmitter.fire();
  }

  updateStatus(): void {
    this.statusItem.show({ active: this.active(), loaded: this.current(), loading: this.loader.isLoading(), deviceSetting: this.settings().device });
  }
}
