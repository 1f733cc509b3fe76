/**
 * EngineApi across a worker thread. The extension host uses this: every call is answered by the
 * worker, so ONNX Runtime's blocking run() never stalls the host's event loop. By default the
 * worker thread lives in a relay child process (relay-process.ts), so that a native crash in ONNX
 * Runtime ends that process, not the host. After a crash (of the worker or of its process) the
 * pending calls fail with WORKER_CRASHED, a fresh worker starts on the next call, and the last
 * loaded model is loaded into it again before that call runs.
 */
import type { AnalysisLayerUpdate, AnalysisResult, PatchSweepResult, TokenInfo } from '../../protocol/analysis.js';
import type { AnalyzeRequest, DownloadProgress, EngineApi, LoadedModelInfo, LoadOptions, ModelSpec, PatchRequest } from '../../protocol/engine.js';
import type { CachedModelSummary, EngineCrashKind, EngineWorkerApi } from '../../protocol/engine-worker.js';
import type { CircuitReport, CircuitRequest, EdgeCheck, EdgeCheckRequest } from '../../protocol/circuit.js';
import type { CircuitCheckRequest, CircuitCheckResult } from '../../protocol/circuit-check.js';
import type { CircuitSizesRequest, CircuitSizesResult } from '../../protocol/circuit-sizes.js';
import type { EngineFeaturesApi } from '../../protocol/features.js';
import type { EngineAttributionGraphApi } from '../../protocol/attribution-graph-run.js';
import { EngineError } from '../errors.js';
import { createWorker, WorkerRpcClient } from './rpc.js';
import { forkRelay, relayEntryBeside } from './relay-process.js';

/** What the engine does with the Hugging Face cache, besides loading models (all of it in the engine's thread). */
export interface EngineCacheApi {
  /** Downloads a Hub model into the cache without loading it; resolves to its snapshot folder. */
  download(
    repo: string,
    options: { revision?: string; cacheDir?: string },
    hooks?: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void },
  ): Promise<string>;
  listCachedModels(options: { cacheDir?: string }): Promise<CachedModelSummary[]>;
  deleteCachedModel(repo: string, options: { cacheDir?: string }): Promise<boolean>;
}

export interface EngineClient extends EngineApi, EngineCacheApi, EngineFeaturesApi, EngineAttributionGraphApi {
  /** Called when the worker (or the process it runs in) dies unexpectedly (the next call starts a new one). */
  onCrash(listener: (error: Error) => void): { dispose(): void };
  /** Test hook (needs CIRCUIT_TRACE_TEST_HOOKS=1): makes the worker end abruptly. */
  crashForTests(how?: EngineCrashKind): Promise<void>;
}

export interface EngineClientOptions {
  /** The worker entry: dist/engine-worker.js when bundled, src/engine/worker/worker-main.ts under tsx. */
  workerPath: string;
  /**
   * 'process' (default): the worker thread runs in a relay child process, so a native crash is
   * recovered like any other. 'thread': in this process, one hop fewer, but a native crash ends it.
   */
  isolation?: 'process' | 'thread';
  /** The relay entry; by default the one beside the worker entry (relayEntryBeside). */
  relayPath?: string;
}

export function createEngineClient(options: EngineClientOptions): EngineClient {
  const crashListeners = new Set<(error: Error) => void>();
  let lastLoad: { spec: ModelSpec; options: LoadOptions } | null = null;
  let needsReload = false;

  const relayPath = options.relayPath ?? relayEntryBeside(options.workerPath);
  const rpc = new WorkerRpcClient<EngineWorkerApi>(
    () => (options.isolation === 'thread' ? createWorker(options.workerPath) : forkRelay(relayPath, options.workerPath)),
    {
      // Once per crash; never for the end that dispose() causes.
      onCrash: (error) => {
        needsReload = lastLoad !== null;
        for (const listener of crashListeners) listener(error);
      },
    },
  );

  let reloading: Promise<void> | null = null;

  /**
   * After a crash, the fresh worker holds no model: load the last one again first, from the cache
   * only (it was loaded before, and a call such as a hover must not contact the Hub). Calls made
   * while that reload runs wait for the same one, rather than reaching the empty worker first. It
   * takes no caller's signal, so one caller's cancellation does not fail the others' reload.
   */
  const ready = async (): Promise<void> => {
    if (!needsReload || !lastLoad) return;
    const { spec, options: loadOptions } = lastLoad;
    reloading ??= rpc
      .call('loadModel', { spec, options: { ...loadOptions, offline: true } })
      .then(() => {
        needsReload = false;
      })
      .finally(() => {
        reloading = null;
      });
    await reloading;
  };

  return {
    onCrash(listener) {
      crashListeners.add(listener);
      return { dispose: () => crashListeners.delete(listener) };
    },
    async loadModel(
      spec: ModelSpec,
      loadOptions: LoadOptions,
      hooks: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void } = {},
    ): Promise<LoadedModelInfo> {
      const info = await rpc.call(
        'loadModel',
        { spec, options: loadOptions },
        {
          ...(hooks.signal ? { signal: hooks.signal } : {}),
          ...(hooks.onProgress ? { onEvent: hooks.onProgress } : {}),
        },
      );
      lastLoad = { spec, options: loadOptions };
      needsReload = false;
      return info;
    },
    async tokenize(text: string): Promise<TokenInfo[]> {
      await ready();
      return rpc.call('tokenize', { text });
    },
    async analyze(request: AnalyzeRequest, hooks: { signal?: AbortSignal; onLayer?: (u: AnalysisLayerUpdate) => void } = {}): Promise<AnalysisResult> {
      await ready();
      return rpc.call('analyze', request, {
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(hooks.onLayer ? { onEvent: hooks.onLayer } : {}),
      });
    },
    async patch(request: PatchRequest, hooks: { signal?: AbortSignal; onLayer?: (layer: number) => void } = {}): Promise<PatchSweepResult> {
      await ready();
      const onLayer = hooks.onLayer;
      return rpc.call('patch', request, {
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(onLayer ? { onEvent: (e: { layer: number }) => onLayer(e.layer) } : {}),
      });
    },
    async circuit(request: CircuitRequest, hooks: { signal?: AbortSignal } = {}): Promise<CircuitReport> {
      await ready();
      return rpc.call('circuit', request, hooks.signal ? { signal: hooks.signal } : {});
    },
    async circuitSizes(request: CircuitSizesRequest, hooks: { signal?: AbortSignal } = {}): Promise<CircuitSizesResult> {
      await ready();
      return rpc.call('circuitSizes', request, hooks.signal ? { signal: hooks.signal } : {});
    },
    async checkEdge(request: EdgeCheckRequest, hooks: { signal?: AbortSignal } = {}): Promise<EdgeCheck> {
      await ready();
      return rpc.call('checkEdge', request, hooks.signal ? { signal: hooks.signal } : {});
    },
    async checkCircuit(request: CircuitCheckRequest, hooks: { signal?: AbortSignal } = {}): Promise<CircuitCheckResult> {
      await ready();
      return rpc.call('checkCircuit', request, hooks.signal ? { signal: hooks.signal } : {});
    },
    async attribute(request, hooks = {}) {
      await ready();
      return rpc.call('attribute', request, {
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(hooks.onProgress ? { onEvent: hooks.onProgress } : {}),
      });
    },
    async pathPatch(request, hooks = {}) {
      await ready();
      return rpc.call('pathPatch', request, {
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(hooks.onProgress ? { onEvent: hooks.onProgress } : {}),
      });
    },
    async features(request, hooks = {}) {
      await ready();
      return rpc.call('features', request, hooks.signal ? { signal: hooks.signal } : {});
    },
    async steerFeatures(request, hooks = {}) {
      await ready();
      return rpc.call('steerFeatures', request, hooks.signal ? { signal: hooks.signal } : {});
    },
    async attributionGraph(request, hooks = {}) {
      await ready();
      return rpc.call('attributionGraph', request, {
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(hooks.onProgress ? { onEvent: hooks.onProgress } : {}),
      });
    },
    async download(repo, downloadOptions, hooks = {}): Promise<string> {
      const { folder } = await rpc.call(
        'download',
        { repo, ...downloadOptions },
        {
          ...(hooks.signal ? { signal: hooks.signal } : {}),
          ...(hooks.onProgress ? { onEvent: hooks.onProgress } : {}),
        },
      );
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
      await rpc.dispose();
    },
  };
}
