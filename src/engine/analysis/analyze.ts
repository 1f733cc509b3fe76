/**
 * `analyze`: one instrumented forward pass of a prompt and every analysis of it — predictions,
 * per-head metrics and classes, the circuit trace (DLA), the logit lens, token flow, and on
 * request the (cached) head census — as one serialisable AnalysisResult.
 */
import { assertAnalysable } from './architecture-support.js';
import type { AnalysisLayerUpdate, AnalysisResult, HeadSummary, ModelInfo, Prediction } from '../../protocol/analysis.js';
import type { AnalyzeRequest } from '../../protocol/engine.js';
import { EngineError, throwIfCancelled } from '../errors.js';
import { layerHook, type HookName } from '../hooks.js';
import { tensor, type Tensor } from '../tensor.js';
import type { ModelConfig } from '../model/config.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import { circuitTrace, circuitTraceHooks, requireHook } from './circuit-trace.js';
import { classifyHead, DEFAULT_HEAD_THRESHOLD, headScores, repeatStructure } from './head-classes.js';
import type { AnalysisRunner } from './analysis-runner.js';
import { HeadCensusCache, type CensusSettings } from './head-census.js';
import { attentionStats, headOutputNorms } from './head-metrics.js';
import { runnerLensUnembed } from './lens-unembed.js';
import { logitLens, logitLensHooks } from './logit-lens.js';
import { logitsRow } from './logits-row.js';
import { topPredictions } from './predictions.js';
import { bosToPrepend, resolvePrompt, resolveTokenRef } from './prompt-input.js';
import { defaultMetric, metricOfLogits, metricValue, resolveNamedMetric } from './target-metric.js';
import { tokenFlow } from './token-flow.js';

export const DEFAULT_TOP_K = 10;

/** Shared by every caller that brings no cache of its own; entries live as long as their runner. */
const defaultCensusCache = new HeadCensusCache();

export interface AnalyzeOptions {
  modelInfo: ModelInfo;
  /** Receives each layer's attention patterns as soon as the forward pass finishes that layer. */
  onLayer?: (update: AnalysisLayerUpdate) => void;
  signal?: AbortSignal;
  /** Where census scores are kept between analyses (default: one cache per process). */
  censusCache?: HeadCensusCache;
  /** Probe layout of the census (default DEFAULT_CENSUS_SETTINGS); the threshold comes from the request. */
  censusSettings?: Partial<Omit<CensusSettings, 'threshold'>>;
  /** The user's token limit (default: the model's context length). */
  maxTokens?: number;
  /** Heads per layer on the circuit trace's top path (default 3). */
  topPathWidth?: number;
}

/** Every hook the analyses read (`config.positional`: rotary models have no hook_pos_embed; `postNorms`: Gemma's ln1_post scales). */
export function analysisHooks(nLayers: number, config: Pick<ModelConfig, 'positional' | 'postNorms'> = {}): HookName[] {
  return [...new Set<HookName>([...circuitTraceHooks(nLayers, config), ...logitLensHooks(nLayers)])];
}

function checkSettings(request: AnalyzeRequest, dVocab: number): { topK: number; threshold: number } {
  const topK = request.topK ?? DEFAULT_TOP_K;
  if (!Number.isInteger(topK) || topK < 1) throw new EngineError('BAD_ARGUMENT', `top-k must be a positive integer, got ${topK}.`);
  const threshold = request.threshold ?? DEFAULT_HEAD_THRESHOLD;
  if (!Number.isFinite(threshold) || threshold < 0 || threshold > 1)
    throw new EngineError('BAD_ARGUMENT', `The head-class threshold must be between 0 and 1, got ${threshold}.`);
  return { topK: Math.min(topK, dVocab), threshold };
}

export async function analyze(runner: AnalysisRunner, tokenizer: PromptTokenizer, request: AnalyzeRequest, options: AnalyzeOptions): Promise<AnalysisResult> {
  const started = performance.now();
  const { config, weights } = runner;
  assertAnalysable(config, 'Analyses');
  const { nLayers, nHeads, dVocab } = config;
  const { signal } = options;
  const { topK, threshold } = checkSettings(request, dVocab);
  // Every position below (the request's, the trace's, the lens's) counts a prepended BOS as 0.
  const { prompt, ids, tokens, prependBos } = resolvePrompt(
    tokenizer,
    { ...(request.prompt !== undefined ? { prompt: request.prompt } : {}), ...(request.ids !== undefined ? { ids: request.ids } : {}) },
    { maxTokens: options.maxTokens ?? config.nCtx, nCtx: config.nCtx, dVocab, prependBosId: bosToPrepend(config, request.prependBos) },
  );
  const n = ids.length;
  const position = request.position ?? n - 1;
  if (!Number.isInteger(position) || position < 0 || position >= n) {
    throw new EngineError('BAD_ARGUMENT', `Position ${position} is outside the prompt (0..${n - 1}).`);
  }
  const requestedTarget = request.target ? resolveTokenRef(tokenizer, request.target, dVocab, 'target') : null;
  const contrastId = request.contrast ? resolveTokenRef(tokenizer, request.contrast, dVocab, 'contrast') : null;
  const namedMetric = request.metric ? resolveNamedMetric(tokenizer, dVocab, request.metric) : null;
  const tokenText = (id: number): string => tokenizer.tokenText(id);
  throwIfCancelled(signal);

  const onLayer = options.onLayer;
  const perPosition = request.perPosition === true;
  const { cache, provider } = await runner.forward(ids, {
    hooks: analysisHooks(nLayers, config),
    // The unembedding of every position is the largest matmul of a short prompt; skip what is not shown.
    ...(perPosition ? {} : { logitPositions: [position] }),
    ...(signal ? { signal } : {}),
    ...(onLayer
      ? {
          onLayer: (layer, hooks) => {
            const pattern = hooks.get(layerHook(layer, 'attn.hook_pattern'));
            // A copy: the receiver may transfer (detach) the buffer it gets.
            if (pattern) onLayer({ layer, nLayers, pattern: pattern.data.slice() });
          },
        }
      : {}),
  });
  throwIfCancelled(signal);

  const logitsAt = (p: number): Float32Array => logitsRow(cache, p, n); // [vocab]
  const predictions = topPredictions(logitsAt(position), topK, tokenText);
  const targetId = requestedTarget ?? predictions[0]!.tokenId;
  const metric = namedMetric ?? defaultMetric(targetId, contrastId);
  const predictionsPerPosition: Prediction[][] | null = perPosition ? tokens.map((_, p) => topPredictions(logitsAt(p), topK, tokenText)) : null;

  const patterns: Tensor[] = []; // per layer: [head, query, key]
  for (let l = 0; l < nLayers; l++) patterns.push(requireHook(cache, layerHook(l, 'attn.hook_pattern')));
  const attention = new Float32Array(nLayers * nHeads * n * n); // [layer, head, query, key]
  patterns.forEach((p, l) => attention.set(p.data, l * nHeads * n * n));

  const trace = circuitTrace({
    cache,
    config,
    weights,
    position,
    targetId,
    contrastId,
    tokenText,
    ...(request.dla !== undefined ? { dla: request.dla } : {}),
    ...(options.topPathWidth !== undefined ? { topN: options.topPathWidth } : {}),
  });
  throwIfCancelled(signal);

  const repeats = repeatStructure(ids);
  const heads: HeadSummary[] = [];
  for (let l = 0; l < nLayers; l++) {
    const pattern = patterns[l]!;
    const post = weights.blocks[l]!.ln1_post;
    const norms = headOutputNorms(
      requireHook(cache, layerHook(l, 'attn.hook_z')),
      weights.blocks[l]!.W_O,
      post ? { w: post.w, scale: requireHook(cache, layerHook(l, 'ln1_post.hook_scale')) } : undefined,
    );
    for (let h = 0; h < nHeads; h++) {
      const scores = headScores(pattern, h, repeats);
      heads.push({
        layer: l,
        head: h,
        name: `L${l}H${h}`,
        label: classifyHead(scores, threshold),
        scores,
        ...attentionStats(pattern, h),
        outputNorm: norms[h]!,
        dla: trace.heads[l * nHeads + h]!,
      });
    }
  }

  const lens = await logitLens({
    cache,
    config,
    weights,
    position,
    targetId,
    topK,
    perPosition,
    tokenText,
    ...(runner.intervene ? { unembed: runnerLensUnembed({ config, intervene: runner.intervene.bind(runner) }) } : {}),
    ...(signal ? { signal } : {}),
  });
  throwIfCancelled(signal);
  const flow = tokenFlow(patterns, perPosition);

  // The census probes follow the same BOS rule as the prompt (its sequences are never given as ids).
  const censusPrependBos = bosToPrepend(config, request.prependBos) !== null;
  const census = request.census
    ? await (options.censusCache ?? defaultCensusCache).get(runner, { ...options.censusSettings, threshold, prependBos: censusPrependBos }, signal)
    : null;

  return {
    model: options.modelInfo,
    device: provider,
    prompt,
    prependBos,
    tokens,
    predictions,
    predictionsPerPosition,
    heads,
    attention,
    census,
    trace,
    lens,
    flow,
    threshold,
    metric: metricValue(metric, metricOfLogits(metric, logitsAt(position))),
    elapsedMs: performance.now() - started,
  };
}

/** A [head, query, key] view of one layer of an AnalysisResult's attention, for the per-head helpers. */
export function layerPattern(result: Pick<AnalysisResult, 'attention' | 'model' | 'tokens'>, layer: number): Tensor {
  const n = result.tokens.length;
  const size = result.model.nHeads * n * n;
  return tensor(result.attention.subarray(layer * size, (layer + 1) * size), [result.model.nHeads, n, n]);
}
