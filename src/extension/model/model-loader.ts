/**
 * Loads the active model into the engine: one load at a time per model and options (callers of
 * the same load share it), cancelled when the model changes, from the cache only for background
 * loads, with the user's permission before an untrusted workspace contacts the Hub, and falling
 * back to the organism when the Hub cannot be reached. No vscode import: the questions and
 * progress go through `LoaderUi`, so the rules are tested with a fake Hub (model-network.test.ts).
 */
import type { DownloadProgress, EngineApi, LoadedModelInfo, LoadOptions } from '../../protocol/engine.js';
import { EngineError, isEngineError } from '../../engine/errors.js';
import type { EngineCacheApi } from '../../engine/worker/engine-client.js';
import { isHubUnreachable } from '../error-actions.js';
import { toModelSpec } from './model-choice.js';
import { hubRefusedError, loadKey, networkUse, ORGANISM_MODEL, untrustedFolderError, type ActiveModel, type ModelFallback } from './model-selection.js';

/** The engine calls the model manager needs (EngineClient provides them in the worker). */
export type ModelEngine = Pick<EngineApi, 'loadModel'> & EngineCacheApi;

export interface LoadedModel {
  id: string;
  info: LoadedModelInfo;
}

/** What the loader shows and asks; the extension implements it with VS Code notifications. */
export interface LoaderUi {
  /** Runs a load; `onDownload` reports download progress (shown once the first bytes arrive), `cancel` fires when the user cancels the download. */
  withLoadProgress<T>(title: string, task: (onDownload: (p: DownloadProgress) => void, cancel: AbortSignal) => Promise<T>): Promise<T>;
  /** The modal "Contact the Hugging Face Hub?" question; true for yes. */
  confirmHubAccess(model: ActiveModel): Promise<boolean>;
  /** The organism replaced a model that could not be loaded. */
  fallbackNotice(reason: string): void;
  deviceNotice(note: string): void;
}

export interface LoaderLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface LoadRequest {
  model: ActiveModel;
  options: LoadOptions;
  trusted: boolean;
  /** A load nobody asked for explicitly (activation, opening a file, hovers): cache only, no questions. */
  background?: boolean;
  /** The caller stops waiting (the load goes on for others). */
  signal?: AbortSignal;
}

interface PendingLoad {
  key: string;
  /** Whether this load may contact the Hub. */
  cacheOnly: boolean;
  controller: AbortController;
  promise: Promise<LoadedModel>;
}

function cancelled(): EngineError {
  return new EngineError('CANCELLED', 'The run was cancelled.');
}

export class ModelLoader {
  private loaded: { key: string; model: LoadedModel } | null = null;
  private loading: PendingLoad | null = null;
  private fallbackInForce: ModelFallback | null = null;

  constructor(
    private readonly engine: ModelEngine,
    private readonly ui: LoaderUi,
    private readonly log: LoaderLog,
    private readonly organismDir: string,
    private readonly homeDir: string,
    /** Called when a load starts or settles, and when a fallback starts. */
    private readonly changed: () => void,
  ) {}

  get fallback(): ModelFallback | null {
    return this.fallbackInForce;
  }

  isLoading(): boolean {
    return this.loading !== null;
  }

  /** The loaded model if it was loaded with exactly this key. */
  current(key: string): LoadedModel | undefined {
    return this.loaded?.key === key ? this.loaded.model : undefined;
  }

  /** The model changed: stop loading, and forget a fallback. */
  reset(): void {
    this.loading?.controller.abort();
    this.loading = null;
    this.fallbackInForce = null;
  }

  /** The model left the cache: it is loaded again (from wherever it comes) on next use. */
  forget(id: string): void {
    if (this.loaded?.model.id === id) this.loaded = null;
  }

  /**
   * Loads `request.model` unless it is loaded already. A background load that would need the Hub
   * returns undefined (nothing loaded, nothing asked).
   */
  async ensureLoaded(request: LoadRequest): Promise<LoadedModel | undefined> {
    const { model, options } = request;
    const key = loadKey(model.id, options);
    if (this.loaded?.key === key) return this.loaded.model;
    const refused = untrustedFolderError(model, request.trusted);
    if (refused) throw refused;
    const network = networkUse({ background: request.background === true, trusted: request.trusted });
    let pending = this.loading?.key === key ? this.loading : null;
    if (network === 'cache-only' || (pending && !pending.cacheOnly)) {
      pending ??= this.start(key, model, options, true);
      try {
        return await this.wait(pending, request.signal);
      } catch (error) {
        if (network === 'cache-only' && isNotCached(error, options)) {
          this.log.info(`${model.displayName} is not in the Hugging Face cache; a background load does not download it.`);
          return undefined;
        }
        throw error;
      }
    }
    // An explicit load. A cache-only load of the same model in flight may already get it.
    if (pending) {
      try {
        return await this.wait(pending, request.signal);
      } catch (error) {
        if (!isNotCached(error, options)) throw error;
      }
      if (this.loaded?.key === key) return this.loaded.model;
    }
    if (network === 'ask-first' && model.choice.kind === 'hub' && !options.offline) {
      // Untrusted: the cache first, and the Hub only after a yes.
      try {
        return await this.wait(this.loading?.key === key ? this.loading : this.start(key, model, options, true), request.signal);
      } catch (error) {
        if (!isNotCached(error, options)) throw error;
      }
      if (!(await this.ui.confirmHubAccess(model))) throw hubRefusedError(model);
    }
    return this.wait(this.loading?.key === key && !this.loading.cacheOnly ? this.loading : this.start(key, model, options, false), request.signal);
  }

  /** Downloads a Hub model into the cache in the engine, with progress; cancellable. */
  async download(repo: string, options: { revision?: string; cacheDir?: string; displayName: string }): Promise<string> {
    this.log.info(`Downloading ${repo}${options.revision ? `@${options.revision}` : ''}.`);
    const folder = await this.ui.withLoadProgress(`downloading ${options.displayName}`, (onDownload, cancel) =>
      this.engine.download(
        repo,
        { ...(options.revision ? { revision: options.revision } : {}), ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}) },
        { signal: cancel, onProgress: onDownload },
      ),
    );
    this.log.info(`Downloaded ${repo} to ${folder}.`);
    return folder;
  }

  private start(key: string, model: ActiveModel, options: LoadOptions, cacheOnly: boolean): PendingLoad {
    this.loading?.controller.abort();
    const controller = new AbortController();
    const promise = this.load(model, options, key, cacheOnly, controller.signal);
    const pending: PendingLoad = { key, cacheOnly, controller, promise };
    this.loading = pending;
    this.changed();
    const settled = (): void => {
      if (this.loading === pending) this.loading = null;
      this.changed();
    };
    void promise.then(settled, settled);
    return pending;
  }

  /** A caller giving up does not cancel a load others may wait for; it only stops waiting. */
  private wait(pending: PendingLoad, signal: AbortSignal | undefined): Promise<LoadedModel> {
    if (!signal) return pending.promise;
    return new Promise<LoadedModel>((resolve, reject) => {
      if (signal.aborted) reject(cancelled());
      signal.addEventListener('abort', () => reject(cancelled()), { once: true });
      pending.promise.then(resolve, reject);
    });
  }

  private async load(model: ActiveModel, options: LoadOptions, key: string, cacheOnly: boolean, signal: AbortSignal): Promise<LoadedModel> {
    const spec = toModelSpec(model.choice, this.organismDir, this.homeDir);
    const engineOptions: LoadOptions = cacheOnly ? { ...options, offline: true } : options;
    this.log.info(`Loading ${model.displayName} (${model.id}) on ${options.device}${cacheOnly ? ' from the cache' : ''}.`);
    try {
      const info = await this.ui.withLoadProgress(`Loading ${model.displayName}`, (onDownload, cancel) =>
        this.engine.loadModel(spec, engineOptions, { signal: AbortSignal.any([signal, cancel]), onProgress: onDownload }),
      );
      const loaded: LoadedModel = { id: model.id, info };
      this.loaded = { key, model: loaded };
      this.log.info(
        `Loaded ${info.displayName}: ${info.nLayers} layers × ${info.nHeads} heads, device ${info.device}${info.deviceNote ? ` (${info.deviceNote})` : ''}, ${info.loadMs.toFixed(0)} ms.`,
      );
      if (info.deviceNote) this.ui.deviceNotice(info.deviceNote);
      return loaded;
    } catch (error) {
      const code = isEngineError(error) ? error.code : null;
      if (!cacheOnly && code && isHubUnreachable(code) && model.choice.kind === 'hub' && !signal.aborted) {
        // The organism needs no network: use it rather than leave the user with nothing.
        const reason = `${model.displayName} could not be loaded (${error instanceof Error ? error.message : String(error)}); using ${ORGANISM_MODEL.displayName} instead.`;
        this.log.warn(reason);
        this.fallbackInForce = { fromId: model.id, reason };
        this.changed();
        this.ui.fallbackNotice(reason);
        const organism = { ...ORGANISM_MODEL, fallbackReason: reason };
        return this.load(organism, options, loadKey(organism.id, options), false, signal);
      }
      throw error;
    }
  }
}

/** A cache-only load failed because the model is not (completely) in the cache. */
function isNotCached(error: unknown, options: LoadOptions): boolean {
  // With the offline setting on, OFFLINE is the answer to give, not a reason to try the Hub.
  return !options.offline && isEngineError(error) && error.code === 'OFFLINE';
}
