/**
 * Entry of the engine's worker thread: an in-thread Engine served over the typed RPC layer.
 * ONNX Runtime's blocking run() happens here, never on the extension host's thread.
 */
import type { EngineWorkerApi } from '../../protocol/engine-worker.js';
import { eapEdgeScorer } from '../circuits/eap-edge-scorer.js';
import { Engine } from '../engine.js';
import { loadDictionaryFromSpec } from '../features/dictionary-spec-loader.js';
import { EngineError } from '../errors.js';
import { deleteCachedModel, listCachedModels } from '../model/hub/cache-layout.js';
import { downloadModel } from '../model/hub/download.js';
import { serveRpc, withTransfer } from './rpc.js';

const cacheOptions = (cacheDir: string | undefined): { cacheDir?: string } => (cacheDir ? { cacheDir } : {});

const engine = new Engine({ edgeScorer: eapEdgeScorer, loadDictionary: loadDictionaryFromSpec });

serveRpc<EngineWorkerApi>({
  loadModel: ({ spec, options }, { signal, emit }) => engine.loadModel(spec, options, { signal, onProgress: (p) => emit(p) }),
  tokenize: ({ text }) => engine.tokenize(text),
  analyze: async (request, { signal, emit }) => {
    // Each layer's pattern is a fresh copy, so it can be moved to the caller without copying again.
    const result = await engine.analyze(request, { signal, onLayer: (u) => emit(u, [u.pattern.buffer as ArrayBuffer]) });
    return withTransfer(result);
  },
  patch: (request, { signal, emit }) => engine.patch(request, { signal, onLayer: (layer) => emit({ layer }) }),
  circuit: (request, { signal }) => engine.circuit(request, { signal }),
  circuitSizes: (request, { signal }) => engine.circuitSizes(request, { signal }),
  checkEdge: (request, { signal }) => engine.checkEdge(request, { signal }),
  checkCircuit: (request, { signal }) => engine.checkCircuit(request, { signal }),
  attribute: async (request, { signal, emit }) => withTransfer(await engine.attribute(request, { signal, onProgress: (p) => emit(p) })),
  pathPatch: (request, { signal, emit }) => engine.pathPatch(request, { signal, onProgress: (p) => emit(p) }),
  // Every typed array of a features result is made for it (never a cached weight), so it can move.
  features: async (request, { signal }) => withTransfer(await engine.features(request, { signal })),
  steerFeatures: (request, { signal }) => engine.steerFeatures(request, { signal }),
  attributionGraph: (request, { signal, emit }) => engine.attributionGraph(request, { signal, onProgress: (p) => emit(p) }),
  download: async ({ repo, revision, cacheDir }, { signal, emit }) => {
    const folder = await downloadModel(repo, {
      ...(revision ? { revision } : {}),
      ...cacheOptions(cacheDir),
      offline: false,
      signal,
      onProgress: (p) => emit(p),
    });
    return { folder };
  },
  listCachedModels: async ({ cacheDir }) =>
    (await listCachedModels(cacheOptions(cacheDir))).map((m) => ({
      repo: m.repo,
      sizeOnDisk: m.sizeOnDisk,
      complete: m.snapshots.some((s) => s.complete),
      partialDownloads: m.partialDownloads,
    })),
  deleteCachedModel: ({ repo, cacheDir }) => deleteCachedModel(repo, cacheOptions(cacheDir)),
  dispose: async () => {
    await engine.dispose();
    return null;
  },
  crashForTests: ({ how = 'exit' }) => {
    if (process.env['CIRCUIT_TRACE_TEST_HOOKS'] !== '1') throw new EngineError('BAD_ARGUMENT', 'crashForTests is a test hook.');
    // process.abort() is not available in worker threads; a signal to the process is what a native
    // crash delivers (a fault, or abort() in ONNX Runtime). It ends the engine's relay process.
    if (how === 'native') process.kill(process.pid, 'SIGSEGV');
    if (how === 'abort') process.kill(process.pid, 'SIGABRT');
    if (how === 'uncaught') {
      // Outside the handler's promise, so nothing catches it: the worker reports 'error', then exits.
      setTimeout(() => {
        throw new Error('crashForTests: an uncaught exception');
      }, 0);
      return new Promise<never>(() => undefined);
    }
    // An abrupt end, as a native crash inside ONNX Runtime would be.
    process.exit(70);
  },
});
