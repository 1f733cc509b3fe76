/**
 * The engine in the current thread: one loaded model at a time, with analyses and patching.
 * Implements the EngineApi of src/protocol/engine.ts. It blocks its thread while ONNX Runtime runs,
 * so the extension host uses it only through the worker (worker/engine-client.ts); the CLI and
 * tests may use it directly.
 */
import { resultModelInfo } from './model/model-info.js';
import type { AnalysisLayerUpdate, AnalysisResult, ModelInfo, PatchSweepResult, TokenInfo } from '../protocol/analysis.js';
import type { AnalyzeRequest, DownloadProgress, EngineApi, LoadedModelInfo, LoadOptions, ModelSpec, PatchRequest } from '../protocol/engine.js';
import type { CircuitReport, CircuitRequest, EdgeCheck, EdgeCheckRequest } from '../protocol/circuit.js';
import type { CircuitCheckRequest, CircuitCheckResult } from '../protocol/circuit-check.js';
import type { CircuitSizesRequest, CircuitSizesResult } from '../protocol/circuit-sizes.js';
import { analyze } from './analysis/analyze.js';
import { HeadCensusCache } from './analysis/head-census.js';
import { EngineError } from './errors.js';
import { loadModel, type LoadedModel } from './model/load-model.js';
import { runPatchSweep } from './patching/index.js';
import { CircuitTools, type EdgeScorerFactory } from './circuits/circuit-tools.js';
import { runCircuit } from './circuits/run-circuit.js';
import { checkEdge } from './circuits/check-edge.js';
import { checkCircuit } from './circuits/circuit-check.js';
import { measureCircuitSizes } from './circuits/circuit-sizes.js';
import type {
  AttributionMap,
  AttributionMapRequest,
  AttributionProgress,
  PathPatchMap,
  PathPatchMapProgress,
  PathPatchMapRequest,
} from '../protocol/attribution.js';
import { runAttributionMap } from './attribution/attribution-map.js';
import { runPathPatchMap } from './patching/path-patch-map.js';
import type { EngineFeaturesApi, FeaturesRequest, FeaturesResult, SteerFeaturesRequest, SteerFeaturesResult } from '../protocol/features.js';
import type {
  AttributionGraphProgress,
  AttributionGraphRequest,
  AttributionGraphResult,
  EngineAttributionGraphApi,
} from '../protocol/attribution-graph-run.js';
import { runAttributionGraph } from './features/attribution-graph/run-attribution-graph.js';
import { FeatureTools, type DictionaryLoader, type FeatureRequestContext } from './features/feature-tools.js';

export interface EngineOptions {
  /** Scores edges for circuit discovery (EAP / EAP-IG); without it `circuit` is refused. */
  edgeScorer?: EdgeScorerFactory;
  /** Loads sparse dictionaries for `features` and `steerFeatures`; without it they are refused. */
  loadDictionary?: DictionaryLoader;
}

export class Engine implements EngineApi, EngineFeaturesApi, EngineAttributionGraphApi {
  private loaded: LoadedModel | null = null;
  private options: LoadOptions | null = null;
  private readonly censusCache = new HeadCensusCache();
  /** The edge patcher and scorer of the loaded model: made on the first `circuit`, released with the model. */
  private tools: Promise<CircuitTools> | null = null;

  /** The loaded model's dictionaries and feature sessions, released with the model. */
  private readonly featureTools: FeatureTools;

  constructor(private readonly engineOptions: EngineOptions = {}) {
    this.featureTools = new FeatureTools(engineOptions.loadDictionary);
  }

  /** The loaded model; throws a typed error before loadModel. */
  model(): LoadedModel {
    if (!this.loaded) throw new EngineError('BAD_ARGUMENT', 'No model is loaded.', 'Select a model first.');
    return this.loaded;
  }

  async loadModel(
    spec: ModelSpec,
    options: LoadOptions,
    hooks: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void } = {},
  ): Promise<LoadedModelInfo> {
    const next = await loadModel(spec, options, hooks);
    const previous = this.loaded;
    await this.releaseCircuitTools();
    await this.featureTools.release();
    this.loaded = next;
    this.options = options;
    await previous?.runner.dispose();
    return next.info;
  }

  async tokenize(text: string): Promise<TokenInfo[]> {
    const { tokenizer } = this.model();
    if (text.length === 0) return [];
    const encoded = tokenizer.encode(text);
    return encoded.ids.map((id, i) => ({
      id,
      text: encoded.texts[i] ?? tokenizer.tokenText(id),
      start: encoded.offsets[i]?.[0] ?? 0,
      end: encoded.offsets[i]?.[1] ?? 0,
    }));
  }

  modelInfo(): ModelInfo {
    const { info } = this.model();
    return resultModelInfo(info);
  }

  async analyze(request: AnalyzeRequest, hooks: { signal?: AbortSignal; onLayer?: (u: AnalysisLayerUpdate) => void } = {}): Promise<AnalysisResult> {
    const { runner, tokenizer } = this.model();
    return analyze(runner, tokenizer, request, {
      modelInfo: this.modelInfo(),
      censusCache: this.censusCache,
      maxTokens: this.options?.maxTokens ?? runner.config.nCtx,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      ...(hooks.onLayer ? { onLayer: hooks.onLayer } : {}),
    });
  }

  async patch(request: PatchRequest, hooks: { signal?: AbortSignal; onLayer?: (layer: number) => void } = {}): Promise<PatchSweepResult> {
    const { runner, tokenizer } = this.model();
    return runPatchSweep(runner, tokenizer, request, {
      maxTokens: this.options?.maxTokens ?? runner.config.nCtx,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      ...(hooks.onLayer ? { onLayer: hooks.onLayer } : {}),
    });
  }

  async circuit(request: CircuitRequest, hooks: { signal?: AbortSignal } = {}): Promise<CircuitReport> {
    const loaded = this.model();
    const tools = await this.circuitTools();
    return runCircuit(
      {
        patcher: tools.patcher,
        scoreEdges: tools.scoreEdges,
        tokenizer: loaded.tokenizer,
        config: loaded.runner.config,
        model: { id: loaded.info.id, displayName: loaded.info.displayName },
        maxTokens: this.options?.maxTokens ?? loaded.runner.config.nCtx,
        ...(hooks.signal ? { signal: hooks.signal } : {}),
      },
      request,
    );
  }

  /** Circuits of other sizes from a discovery's edge scores, each with its exact faithfulness (one edge-patched pass; no scoring). */
  async circuitSizes(request: CircuitSizesRequest, hooks: { signal?: AbortSignal } = {}): Promise<CircuitSizesResult> {
    const { runner, tokenizer } = this.model();
    const { patcher } = await this.circuitTools();
    return measureCircuitSizes(
      {
        patcher,
        tokenizer,
        config: runner.config,
        maxTokens: this.options?.maxTokens ?? runner.config.nCtx,
        ...(hooks.signal ? { signal: hooks.signal } : {}),
      },
      request,
    );
  }

  async checkCircuit(request: CircuitCheckRequest, hooks: { signal?: AbortSignal } = {}): Promise<CircuitCheckResult> {
    const { runner, tokenizer } = this.model();
    const { patcher } = await this.circuitTools();
    return checkCircuit(runner, tokenizer, patcher, request, {
      maxTokens: this.options?.maxTokens ?? runner.config.nCtx,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
    });
  }

  async checkEdge(request: EdgeCheckRequest, hooks: { signal?: AbortSignal } = {}): Promise<EdgeCheck> {
    const { runner, tokenizer } = this.model();
    return checkEdge(runner, tokenizer, request, {
      maxTokens: this.options?.maxTokens ?? runner.config.nCtx,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
    });
  }

  /** AtP / AtP* / EAP-IG maps on the gradient graphs the circuit tools hold (UNSUPPORTED_ARCHITECTURE where there are none). */
  async attribute(
    request: AttributionMapRequest,
    hooks: { signal?: AbortSignal; onProgress?: (p: AttributionProgress) => void } = {},
  ): Promise<AttributionMap> {
    const { runner, tokenizer, info } = this.model();
    const { attribute } = await this.circuitTools();
    const map = await runAttributionMap(attribute, runner.config, tokenizer, request, {
      maxTokens: this.options?.maxTokens ?? runner.config.nCtx,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
    });
    return { ...map, model: { id: info.id, displayName: info.displayName } };
  }

  async pathPatch(request: PathPatchMapRequest, hooks: { signal?: AbortSignal; onProgress?: (p: PathPatchMapProgress) => void } = {}): Promise<PathPatchMap> {
    const { runner, tokenizer, info } = this.model();
    const map = await runPathPatchMap(runner, tokenizer, request, {
      maxTokens: this.options?.maxTokens ?? runner.config.nCtx,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
    });
    return { ...map, model: { id: info.id, displayName: info.displayName } };
  }

  async features(request: FeaturesRequest, hooks: { signal?: AbortSignal } = {}): Promise<FeaturesResult> {
    return this.featureTools.features(request, this.featureContext(hooks.signal));
  }

  /** An attribution graph of the prompt's next-token prediction with a transcoder set (circuit-tracer's method); streams progress, cancellable. */
  async attributionGraph(
    request: AttributionGraphRequest,
    hooks: { signal?: AbortSignal; onProgress?: (p: AttributionGraphProgress) => void } = {},
  ): Promise<AttributionGraphResult> {
    const context = this.featureContext(hooks.signal);
    return runAttributionGraph(
      context.loaded,
      request,
      { maxTokens: context.maxTokens, dictionary: (spec) => this.featureTools.loadedDictionary(spec, context) },
      hooks,
    );
  }

  async steerFeatures(request: SteerFeaturesRequest, hooks: { signal?: AbortSignal } = {}): Promise<SteerFeaturesResult> {
    return this.featureTools.steer(request, this.featureContext(hooks.signal));
  }

  private featureContext(signal: AbortSignal | undefined): FeatureRequestContext {
    const loaded = this.model();
    const options = this.options;
    return {
      loaded,
      maxTokens: options?.maxTokens ?? loaded.runner.config.nCtx,
      offline: options?.offline ?? false,
      ...(options?.cacheDir ? { cacheDir: options.cacheDir } : {}),
      ...(options?.endpoint ? { endpoint: options.endpoint } : {}),
      ...(signal ? { signal } : {}),
    };
  }

  /**
   * The loaded model's edge patcher and edge scorer, made on first use (one read of the model
   * folder) and released with the model; a failed attempt is forgotten so that the next call tries again.
   */
  circuitTools(): Promise<CircuitTools> {
    const loaded = this.model();
    if (!this.tools) {
      const made = CircuitTools.create(loaded.folder, loaded.runner, this.engineOptions.edgeScorer);
      this.tools = made;
      made.catch(() => {
        if (this.tools === made) this.tools = null;
      });
    }
    return this.tools;
  }

  private async releaseCircuitTools(): Promise<void> {
    const tools = this.tools;
    this.tools = null;
    await tools?.then((t) => t.dispose()).catch(() => undefined);
  }

  async dispose(): Promise<void> {
    await this.releaseCircuitTools();
    await this.featureTools.release();
    await this.loaded?.runner.dispose();
    this.loaded = null;
  }
}
