/**
 * The methods the engine's worker thread serves (see src/engine/worker/rpc.ts for the wire
 * protocol: request/reply by id, events, cancellation, transfers). Each method mirrors EngineApi.
 */
import type { AnalysisLayerUpdate, AnalysisResult, PatchSweepResult, TokenInfo } from './analysis.js';
import type { CircuitReport, CircuitRequest, EdgeCheck, EdgeCheckRequest } from './circuit.js';
import type { CircuitCheckRequest, CircuitCheckResult } from './circuit-check.js';
import type { CircuitSizesRequest, CircuitSizesResult } from './circuit-sizes.js';
import type { AttributionMap, AttributionMapRequest, AttributionProgress, PathPatchMap, PathPatchMapProgress, PathPatchMapRequest } from './attribution.js';
import type { AnalyzeRequest, DownloadProgress, LoadedModelInfo, LoadOptions, ModelSpec, PatchRequest } from './engine.js';
import type { FeaturesRequest, FeaturesResult, SteerFeaturesRequest, SteerFeaturesResult } from './features.js';
import type { AttributionGraphProgress, AttributionGraphRequest, AttributionGraphResult } from './attribution-graph-run.js';

/** A Hub model in the Hugging Face cache, as the model list needs it. */
export interface CachedModelSummary {
  repo: string;
  sizeOnDisk: number;
  /** Whether some snapshot holds config, tokenizer and every weight file. */
  complete: boolean;
  /** Interrupted downloads (.incomplete blobs) that a new download resumes. */
  partialDownloads: number;
}

/**
 * How the crashForTests hook ends the engine: `process.exit`, an uncaught exception, or a native
 * crash: SIGSEGV ('native', as a fault in ONNX Runtime) or SIGABRT ('abort', as its abort()),
 * which end the whole process the worker thread runs in. Each is recovered (WORKER_CRASHED, a
 * fresh worker on the next call); the native ones only because that process is the engine's
 * relay process, not the host (src/engine/worker/relay-process.ts).
 */
export type EngineCrashKind = 'exit' | 'uncaught' | 'native' | 'abort';

export interface EngineWorkerApi {
  /** Load (or download, then load) a model; replaces the current one. Streams download progress. */
  loadModel: { args: { spec: ModelSpec; options: LoadOptions }; result: LoadedModelInfo; event: DownloadProgress };
  /** Tokens of a text with their offsets. */
  tokenize: { args: { text: string }; result: TokenInfo[] };
  /** Full analysis; streams each layer's attention patterns. */
  analyze: { args: AnalyzeRequest; result: AnalysisResult; event: AnalysisLayerUpdate };
  /** Activation-patching sweep; streams the index of each finished layer. */
  patch: { args: PatchRequest; result: PatchSweepResult; event: { layer: number } };
  /** Circuit discovery with exact faithfulness (cancellable). */
  circuit: { args: CircuitRequest; result: CircuitReport };
  /** Circuits of other sizes from given edge scores, with exact faithfulness (cancellable). */
  circuitSizes: { args: CircuitSizesRequest; result: CircuitSizesResult };
  /** Path patching of one circuit edge (cancellable). */
  checkEdge: { args: EdgeCheckRequest; result: EdgeCheck };
  /** A `@circuit` hypothesis checked by exact edge-level patching (cancellable). */
  checkCircuit: { args: CircuitCheckRequest; result: CircuitCheckResult };
  /** Attribution maps (AtP / AtP* / EAP-IG); streams passes done, cancellable. */
  attribute: { args: AttributionMapRequest; result: AttributionMap; event: AttributionProgress };
  /** Path patching of every sender head; streams senders done, cancellable. */
  pathPatch: { args: PathPatchMapRequest; result: PathPatchMap; event: PathPatchMapProgress };
  /** A prompt's sparse-dictionary features (typed arrays moved, not copied), cancellable. */
  features: { args: FeaturesRequest; result: FeaturesResult };
  /** Feature steering with the real model, cancellable. */
  steerFeatures: { args: SteerFeaturesRequest; result: SteerFeaturesResult };
  /** An attribution graph (circuit-tracer's method); streams its progress, cancellable. */
  attributionGraph: { args: AttributionGraphRequest; result: AttributionGraphResult; event: AttributionGraphProgress };
  /** Download a Hub model into the Hugging Face cache without loading it; streams progress, cancellable. */
  download: { args: { repo: string; revision?: string; cacheDir?: string }; result: { folder: string }; event: DownloadProgress };
  /** The Hub models in the Hugging Face cache. */
  listCachedModels: { args: { cacheDir?: string }; result: CachedModelSummary[] };
  /** Deletes a Hub model from the cache; false when it was not there. */
  deleteCachedModel: { args: { repo: string; cacheDir?: string }; result: boolean };
  /** Release the model. */
  dispose: { args: Record<string, never>; result: null };
  /**
   * Test hook, refused unless CIRCUIT_TRACE_TEST_HOOKS=1 in the engine's environment: ends the engine
   * abruptly: `process.exit` (default), an uncaught exception, SIGSEGV or SIGABRT.
   */
  crashForTests: { args: { how?: EngineCrashKind }; result: null };
}
