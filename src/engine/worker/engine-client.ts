/**
 * EngineApi across a worker thread. The extension host uses this: every call is answered by the
 * worker, so ONNX Runtime's blocking run() never stalls the host's event loop. After a worker crash
 * the pending calls fail with WORKER_CRASHED, a fresh worker starts on the next call, and the last
 * loaded model is loaded into it again before that call runs.
 */
import type { Worker } from 'node:worker_threads';
import type { AnalysisLayerUpdate, AnalysisResult, PatchSweepResult, TokenInfo } from '../../protocol/analysis.js';
import type { AnalyzeRequest, DownloadProgress, EngineApi, LoadedModelInfo, LoadOptions, ModelSpec, PatchRequest } from '../../protocol/engine.js';
import type { CachedModelSummary, EngineCrashKind, EngineWorkerApi } from '../../protocol/engine-worker.js';
import { EngineError } from '../errors.js';
import { createWorker, WorkerRpcClient } from './rpc.js';

/** What the engine does with the Hugging Face cache, besides loading models (all of it in the engine's thread). */
export interface EngineCacheApi {
  /** Downloads a Hub model into the cache without loading it; resolves to its snapshot folder. */
  download(repo: string, options: { revision?: string; cacheDir?: string }, hooks?: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void }): Promise<string>;
  listCachedModels(options: { cacheDir?: string }): Promise<CachedModelSummary[]>;
  deleteCachedModel(repo: string, options: { cacheDir?: string }): Promise<boolean>;
}

export interface EngineClient extends EngineApi, EngineCacheApi {
  /** Called when the worker dies unexpectedly (the next call starts a new one). */
  onCrash(listener: (error: Error) => void): { dispose(): void };
  /** Test hook (needs CIRCUIT_TRACE_TEST_HOOKS=1): makes the worker end abruptly. */
  crashForTests(how?: EngineCrashKind): Promise<void>;
}

export function createEngineClient(options: { workerPath: string }): EngineClient {
  const crashListeners = new Set<(error: Error) => void>();
  let lastLoad: { spec: ModelSpec; options: LoadOptions } | null = null;
  let needsReload = false;
  let disposing = false;

  const startWorker = (): Worker => {
    const worker = createWorker(options.workerPath);
    // An uncaught exception fires 'error' and then 'exit': one crash, reported once.
    let reported = false;
    const crashed = (error: EngineError): void => {
      if (disposing || reported) return;
      reported = true;
      needsReload = lastLoad !== null;
      for (const listener of crashListeners) listener(error);
    };
    worker.on('error', (error) => crashed(new EngineError('WORKER_CRASHED', `The engine worker threw an uncaught error: ${error.message}`)));
    worker.on('exit', (code) => {
      if (code !== 0) crashed(new EngineError('WORKER_CRASHED', `The engine worker exited with code ${code}.`));
    });
    return worker;
  };
  const rpc = new WorkerRpcClient<EngineWorkerApi>(startWorker);

  /**
   * After a crash, the fresh worker holds no model: load the last one again first, from the cache
   * only (it was loaded before, and a call such as a hover must not contact the Hub).
   */
  const ready = async (signal?: AbortSignal): Promise<void> => {
    if (!needsReload || !lastLoad) return;
    needsReload = false;
    try {
      await rpc.call('loadModel', { spec: lastLoad.spec, options: { ...lastLoad.options, offline: true } }, signal ? { signal } : {});
    } catch (error) {
      needsReload = true;
      throw error;
    }
  };

  return {
    onCrash(listener) {
      crashListeners.add(listener);
      return { dispose: () => crashListeners.delete(listener) };
    },
    async loadModel(spec: ModelSpec, loadOptions: LoadOptions, hooks: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void } = {}): Promise<LoadedModelInfo> {
      const info = await rpc.call('loadModel', { spec, options: loadOptions }, {
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(hooks.onProgress ? { onEvent: hooks.onProgress } : {}),
      });
      lastLoad = { spec, options: loadOptions };
      needsReload = false;
      return info;
    },
    async tokenize(text: string): Promise<TokenInfo[]> {
      await ready();
      return rpc.call('tokenize', { text });
    },
    async analyze(request: AnalyzeRequest, hooks: { signal?: AbortSignal; onLayer?: (u: AnalysisLayerUpdate) => void } = {}): Promise<AnalysisResult> {
      await ready(hooks.signal);
      return rpc.call('analyze', request, {
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(hooks.onLayer ? { onEvent: hooks.onLayer } : {}),
      });
    },
    async patch(request: PatchRequest, hooks: { signal?: AbortSignal; onLayer?: (layer: number) => void } = {}): Promise<PatchSweepResult> {
      await ready(hooks.signal);
      const onLayer = hooks.onLayer;
      return rpc.call('patch', request, {
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(onLayer ? { onEvent: (e: { layer: number }) => onLayer(e.layer) } : {}),
      });
    },
    async download(repo, downloadOptions, hooks = {}): Promise<string> {
      const { folder } = await rpc.call('download', { repo, ...downloadOptions }, {
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(hooks.onProgress ? { onEvent: hooks.onProgress } : {}),
      });
      return folder;
    },
    listCachedModels: (cacheOptions) => rpc.call('listCachedModels', cacheOptions),
    deleteCachedModel: (repo, cacheOptions) => rpc.call('deleteCachedModel', { repo, ...cacheOptions }),
    async crashForTests(how: EngineCrashKind = 'exit'): Promise<void> {
      await rpc.call('crashForTests', { how }).catch((error: unknown) => {
        if (!(error instanceof EngineError && error.code === 'WORKER_CRASHED')) throw error;
      });
    },
    async dispose(): Promise<void> {
      disposing = true;
      await rpc.dispose();
    },
  };
}
