/**
 * Stands in for src/engine/worker/engine-client.ts in the activation test: an EngineApi that
 * answers from a tiny word tokenizer and builds a consistent AnalysisResult for any prompt
 * (tokens with real offsets, causal attention that sums to one per row, predictions at every
 * position), and records what it was asked.
 */
import type { AnalysisLayerUpdate, AnalysisResult, PatchSweepResult, Prediction, TokenInfo } from '../../src/protocol/analysis.js';
import type { AnalyzeRequest, DownloadProgress, EngineApi, LoadedModelInfo, LoadOptions, ModelSpec, PatchRequest } from '../../src/protocol/engine.js';
import type { CachedModelSummary } from '../../src/protocol/engine-worker.js';
import type { EngineCacheApi } from '../../src/engine/worker/engine-client.js';
import { EngineError } from '../../src/engine/errors.js';
import { makeResult } from './fixtures.js';
import { SYNTHETIC_EDGE_COUNT, syntheticCircuit, syntheticCircuitSizes } from './synthetic-circuit.js';
import type { CircuitSizesRequest, CircuitSizesResult } from '../../src/protocol/circuit-sizes.js';
import type { CircuitReport, CircuitRequest, EdgeCheck, EdgeCheckRequest } from '../../src/protocol/circuit.js';
import type { CircuitCheckRequest, CircuitCheckResult } from '../../src/protocol/circuit-check.js';
import type {
  AttributionMap,
  AttributionMapRequest,
  AttributionProgress,
  PathPatchMap,
  PathPatchMapProgress,
  PathPatchMapRequest,
} from '../../src/protocol/attribution.js';
import { syntheticAttributionMap, syntheticPathPatchMap } from './synthetic-attribution.js';
import type { EngineFeaturesApi, FeaturesRequest, FeaturesResult, SteerFeaturesRequest, SteerFeaturesResult } from '../../src/protocol/features.js';
import { syntheticFeatures, syntheticSteer } from './synthetic-features.js';
import type { AttributionGraphRequest, AttributionGraphResult, EngineAttributionGraphApi } from '../../src/protocol/attribution-graph-run.js';
import { syntheticGraph } from './synthetic-graph.js';

export const engineCalls: { method: string; args: unknown }[] = [];

/** Words with their leading space, like GPT-2 tokens; ids from a string hash. */
export function fakeTokenize(text: string): TokenInfo[] {
  return [...text.matchAll(/\s?\S+/g)].map((m) => {
    const t = m[0];
    let id = 0;
    for (const ch of t) id = (id * 31 + ch.charCodeAt(0)) % 50000;
    return { id, text: t, start: m.index ?? 0, end: (m.index ?? 0) + t.length };
  });
}

function prediction(token: string, prob: number): Prediction {
  return { token, tokenId: fakeTokenize(token)[0]?.id ?? 0, prob, logit: Math.log(prob) };
}

const N_LAYERS = 2;
const N_HEADS = 2;

/** An analysis of any prompt: the top prediction after every token is the next word " next<i>". */
export function fakeAnalysis(prompt: string, modelId: string): AnalysisResult {
  const tokens = fakeTokenize(prompt);
  const n = tokens.length;
  if (n === 0) throw new EngineError('EMPTY_PROMPT', 'The prompt is empty.');
  const attention = new Float32Array(N_LAYERS * N_HEADS * n * n); // [layer, head, query, key]
  for (let lh = 0; lh < N_LAYERS * N_HEADS; lh++) {
    for (let q = 0; q < n; q++) for (let k = 0; k <= q; k++) attention[(lh * n + q) * n + k] = 1 / (q + 1);
  }
  const perPosition = tokens.map((_, i) => [prediction(` next${i}`, 0.446), prediction(' other', 0.2)]);
  const base = makeResult();
  return {
    ...base,
    model: { ...base.model, id: modelId, nLayers: N_LAYERS, nHeads: N_HEADS },
    prompt,
    tokens,
    predictions: perPosition[n - 1] as Prediction[],
    predictionsPerPosition: perPosition,
    attention,
    trace: { ...base.trace, position: n - 1, headBySource: new Float32Array(N_LAYERS * N_HEADS * n) },
    flow: { total: new Float32Array(n * n), perLayer: null },
  };
}

export function createEngineClient(_options: {
  workerPath: string;
}): EngineApi & EngineCacheApi & EngineFeaturesApi & EngineAttributionGraphApi & { onCrash(listener: (error: Error) => void): { dispose(): void } } {
  let loaded: LoadedModelInfo | null = null;
  return {
    onCrash: () => ({ dispose: () => {} }),
    async download(repo: string, options: { revision?: string; cacheDir?: string }): Promise<string> {
      engineCalls.push({ method: 'download', args: { repo, ...options } });
      return `/fake-cache/${repo}`;
    },
    async listCachedModels(options: { cacheDir?: string }): Promise<CachedModelSummary[]> {
      engineCalls.push({ method: 'listCachedModels', args: options });
      return [];
    },
    async deleteCachedModel(repo: string, options: { cacheDir?: string }): Promise<boolean> {
      engineCalls.push({ method: 'deleteCachedModel', args: { repo, ...options } });
      return false;
    },
    async loadModel(
      spec: ModelSpec,
      options: LoadOptions,
      hooks?: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void },
    ): Promise<LoadedModelInfo> {
      engineCalls.push({ method: 'loadModel', args: { spec, options } });
      if (hooks?.signal?.aborted) throw new EngineError('CANCELLED', 'cancelled');
      const id = spec.kind === 'organism' ? 'organism' : spec.kind === 'hub' ? spec.repo : spec.path;
      loaded = {
        id,
        displayName: spec.kind === 'organism' ? 'Fake organism' : id,
        nLayers: N_LAYERS,
        nHeads: N_HEADS,
        dModel: 8,
        dHead: 4,
        dVocab: 50257,
        nCtx: 64,
        bosTokenId: 50256,
        device: 'cpu',
        deviceNote: null,
        loadMs: 1,
      };
      return loaded;
    },
    async tokenize(text: string): Promise<TokenInfo[]> {
      engineCalls.push({ method: 'tokenize', args: text });
      return fakeTokenize(text);
    },
    async analyze(request: AnalyzeRequest, hooks?: { signal?: AbortSignal; onLayer?: (u: AnalysisLayerUpdate) => void }): Promise<AnalysisResult> {
      engineCalls.push({ method: 'analyze', args: request });
      if (!loaded) throw new EngineError('INTERNAL', 'analyze before loadModel');
      const result = fakeAnalysis(request.prompt ?? '', loaded.id);
      const n = result.tokens.length;
      for (let layer = 0; layer < N_LAYERS; layer++) {
        if (hooks?.signal?.aborted) throw new EngineError('CANCELLED', 'cancelled');
        hooks?.onLayer?.({ layer, nLayers: N_LAYERS, pattern: result.attention.slice(layer * N_HEADS * n * n, (layer + 1) * N_HEADS * n * n) });
      }
      return result;
    },
    async patch(request: PatchRequest): Promise<PatchSweepResult> {
      engineCalls.push({ method: 'patch', args: request });
      const clean = fakeTokenize(request.clean ?? '');
      const corrupt = fakeTokenize(request.corrupt ?? '');
      if (clean.length !== corrupt.length) throw new EngineError('LENGTH_MISMATCH', `clean ${clean.length} vs corrupt ${corrupt.length} tokens`);
      return {
        kind: request.kind,
        targetId: 1,
        target: ' next',
        contrastId: null,
        contrast: null,
        metric: 'log_prob',
        prependBos: false,
        cleanTokens: clean,
        corruptTokens: corrupt,
        clean: { value: Math.log(0.5), logitDiff: 2, prob: 0.5 },
        corrupt: { value: Math.log(0.1), logitDiff: 0, prob: 0.1 },
        entries: [{ layer: 1, head: 0, value: Math.log(0.4), logitDiff: 1.5, prob: 0.4, recovery: 0.75 }],
        elapsedMs: 1,
      };
    },
    async circuit(request: CircuitRequest): Promise<CircuitReport> {
      engineCalls.push({ method: 'circuit', args: request });
      const clean = fakeTokenize(request.clean ?? '');
      const corrupt = fakeTokenize(request.corrupt ?? '');
      if (clean.length !== corrupt.length) throw new EngineError('LENGTH_MISMATCH', `clean ${clean.length} vs corrupt ${corrupt.length} tokens`);
      return syntheticCircuit({ clean, corrupt, modelId: loaded?.id ?? 'organism' });
    },
    /** The synthetic circuit's sizes (its scores are the synthetic report's allEdges). */
    async circuitSizes(request: CircuitSizesRequest, hooks?: { signal?: AbortSignal }): Promise<CircuitSizesResult> {
      engineCalls.push({ method: 'circuitSizes', args: request });
      if (hooks?.signal?.aborted) throw new EngineError('CANCELLED', 'cancelled');
      if (request.scores.length !== SYNTHETIC_EDGE_COUNT)
        throw new EngineError('BAD_ARGUMENT', `${request.scores.length} scores for ${SYNTHETIC_EDGE_COUNT} edges`);
      return syntheticCircuitSizes(request.sizes);
    },
    async checkEdge(request: EdgeCheckRequest): Promise<EdgeCheck> {
      engineCalls.push({ method: 'checkEdge', args: request });
      return { from: request.from, to: request.to, receivers: 'logits', logitDiff: 1, cleanLogitDiff: 2, corruptLogitDiff: 0, normalized: -0.5 };
    },
    /** A fake verdict: each named node carries 30% (capped at 100%), so tests can make hypotheses hold or fail. */
    async checkCircuit(request: CircuitCheckRequest): Promise<CircuitCheckResult> {
      engineCalls.push({ method: 'checkCircuit', args: request });
      if (fakeTokenize(request.clean).length !== fakeTokenize(request.corrupt).length)
        throw new EngineError('LENGTH_MISMATCH', 'clean and corrupt differ in length');
      const faithfulness = Math.min(1, 0.3 * request.nodes.length);
      return {
        nodes: request.nodes,
        threshold: request.threshold,
        faithfulness,
        passed: faithfulness >= request.threshold,
        edges: 10 * request.nodes.length,
        totalEdges: 110,
        clean: 2,
        corrupt: -1,
        circuit: -1 + 3 * faithfulness,
        metric: request.contrast ? 'logit_diff' : 'log_prob',
        targetId: 0,
        contrastId: null,
        prependBos: request.prependBos ?? true,
        elapsedMs: 1,
      };
    },
    async attribute(request: AttributionMapRequest, hooks?: { signal?: AbortSignal; onProgress?: (p: AttributionProgress) => void }): Promise<AttributionMap> {
      engineCalls.push({ method: 'attribute', args: request });
      const clean = fakeTokenize(request.clean ?? '');
      const corrupt = fakeTokenize(request.corrupt ?? '');
      if (clean.length !== corrupt.length) throw new EngineError('LENGTH_MISMATCH', `clean ${clean.length} vs corrupt ${corrupt.length} tokens`);
      hooks?.onProgress?.({ done: 1, total: 1 });
      return syntheticAttributionMap({ nLayers: N_LAYERS, nHeads: N_HEADS, method: request.method, clean, corrupt, contrast: request.contrast !== undefined });
    },
    async pathPatch(request: PathPatchMapRequest, hooks?: { signal?: AbortSignal; onProgress?: (p: PathPatchMapProgress) => void }): Promise<PathPatchMap> {
      engineCalls.push({ method: 'pathPatch', args: request });
      const clean = fakeTokenize(request.clean ?? '');
      const corrupt = fakeTokenize(request.corrupt ?? '');
      hooks?.onProgress?.({ done: N_LAYERS * N_HEADS, total: N_LAYERS * N_HEADS });
      return syntheticPathPatchMap({ nLayers: N_LAYERS, nHeads: N_HEADS, receivers: request.receivers, clean, corrupt });
    },
    /** The synthetic two-layer transcoder's features of the prompt's words (after a BOS), or of the ids as given. */
    async features(request: FeaturesRequest): Promise<FeaturesResult> {
      engineCalls.push({ method: 'features', args: request });
      if (request.ids) return syntheticFeatures(request.ids.map((id, i) => ({ id, text: `t${id}`, start: i, end: i })));
      const words = fakeTokenize(request.prompt ?? '');
      if (words.length === 0) throw new EngineError('EMPTY_PROMPT', 'The prompt is empty.');
      return syntheticFeatures([{ id: 50256, text: '<|endoftext|>', start: 0, end: 0, bos: true }, ...words]);
    },
    async steerFeatures(request: SteerFeaturesRequest): Promise<SteerFeaturesResult> {
      engineCalls.push({ method: 'steerFeatures', args: request });
      return syntheticSteer(request.edits, request.position ?? (request.ids?.length ?? 1) - 1);
    },
    /** The synthetic three-token graph, whatever the prompt. */
    async attributionGraph(request: AttributionGraphRequest): Promise<AttributionGraphResult> {
      engineCalls.push({ method: 'attributionGraph', args: request });
      return syntheticGraph();
    },
    async dispose(): Promise<void> {},
  };
}
