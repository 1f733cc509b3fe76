/**
 * A CircuitRequest from the host, the CLI or a test, run: its prompts, target and metric resolved
 * as patching resolves them, the circuit discovered (edge scores, choice, exact faithfulness and a
 * curve that always holds the chosen size), and the report that the Lab draws and exports: every
 * edge's score and each curve point's circuit.
 */
import type { CircuitReport, CircuitRequest, EdgeScoreMethod } from '../../protocol/circuit.js';
import { bosToPrepend } from '../analysis/prompt-input.js';
import { defaultMetric, resolveNamedMetric } from '../analysis/target-metric.js';
import { EngineError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import { resolvePatchInputs } from '../patching/patch-inputs.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import { rankEdges, selectCircuit, type CircuitSize } from './circuit-selection.js';
import { DEFAULT_CURVE_POINTS, DEFAULT_IG_STEPS, discoverCircuit, type EdgeScorer } from './discover-circuit.js';
import type { EdgePatcher } from './edge-patcher.js';
import { curveSizes, MAX_CIRCUITS } from './faithfulness.js';

/** The circuit size when the request names none. */
export const DEFAULT_CIRCUIT_EDGES = 20;
/** EAP-IG's most interpolation steps: each is a forward and a backward pass of the model. */
export const MAX_CIRCUIT_STEPS = 100;

export interface CircuitRunContext {
  patcher: EdgePatcher;
  scoreEdges: EdgeScorer;
  tokenizer: PromptTokenizer;
  config: ModelConfig;
  model: { id: string; displayName: string };
  /** The user's token limit (default: the model's context). */
  maxTokens?: number;
  signal?: AbortSignal;
}

function wholeNumber(value: number | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min || value > max)
    throw new EngineError('BAD_ARGUMENT', `${name} must be a whole number in ${min}..${max} (got ${value}).`);
  return value;
}

function circuitSize(request: CircuitRequest, totalEdges: number): CircuitSize {
  if (request.edges !== undefined && request.threshold !== undefined) {
    throw new EngineError('BAD_ARGUMENT', 'Give the circuit size as a number of edges or as a score threshold, not both.');
  }
  if (request.threshold !== undefined) {
    if (!Number.isFinite(request.threshold) || request.threshold < 0)
      throw new EngineError('BAD_ARGUMENT', `A score threshold must be a number of at least 0 (got ${request.threshold}).`);
    return { threshold: request.threshold };
  }
  return { edges: wholeNumber(request.edges, 'The number of edges', 1, totalEdges) ?? Math.min(DEFAULT_CIRCUIT_EDGES, totalEdges) };
}

export async function runCircuit(context: CircuitRunContext, request: CircuitRequest): Promise<CircuitReport> {
  const { patcher, tokenizer, config } = context;
  const { graph } = patcher;
  const method: EdgeScoreMethod = request.method ?? 'eap-ig';
  if (method !== 'eap' && method !== 'eap-ig') throw new EngineError('BAD_ARGUMENT', `The edge scores are 'eap' or 'eap-ig' (got ${JSON.stringify(method)}).`);
  const steps = wholeNumber(request.steps, 'EAP-IG steps', 1, MAX_CIRCUIT_STEPS) ?? DEFAULT_IG_STEPS;
  const size = circuitSize(request, graph.edges.length);
  const points = wholeNumber(request.curvePoints, 'The number of curve points', 0, MAX_CIRCUITS - 2) ?? DEFAULT_CURVE_POINTS;
  // The chosen size is a point of the curve, so that the Lab's slider starts at the circuit it shows.
  const curve = [...new Set([...(points > 0 ? curveSizes(graph.edges.length, points) : []), ...('edges' in size ? [size.edges] : [])])].sort((a, b) => a - b);

  const inputs = resolvePatchInputs(tokenizer, request, {
    maxTokens: context.maxTokens ?? config.nCtx,
    nCtx: config.nCtx,
    dVocab: config.dVocab,
    prependBosId: bosToPrepend(config, request.prependBos),
  });
  const metric = request.metric ? resolveNamedMetric(tokenizer, config.dVocab, request.metric) : defaultMetric(inputs.targetId, inputs.contrastId);
  const result = await discoverCircuit(patcher, context.scoreEdges, {
    clean: inputs.clean.ids,
    corrupt: inputs.corrupt.ids,
    metric,
    method,
    steps,
    size,
    curve,
    allEdges: true,
    ...(context.signal ? { signal: context.signal } : {}),
  });
  const allEdges = result.allEdges ?? [];
  const scores = allEdges.map((e) => e.score);
  const ranked = rankEdges(scores);
  // Selection is deterministic, so these are the circuits whose faithfulness the curve measured.
  const curveCircuits = (result.curve ?? []).map((point) => {
    const circuit = selectCircuit(graph, scores, { edges: point.requested });
    return ranked.filter((i) => circuit[i]);
  });
  return {
    ...result,
    allEdges,
    curveCircuits,
    model: { id: context.model.id, displayName: context.model.displayName },
    graph: {
      nLayers: config.nLayers,
      nHeads: config.nHeads,
      nKvHeads: config.nKvHeads ?? config.nHeads,
      parallelResidual: config.parallelResidual === true,
    },
    targetId: inputs.targetId,
    target: tokenizer.tokenText(inputs.targetId),
    contrastId: inputs.contrastId,
    contrast: inputs.contrastId === null ? null : tokenizer.tokenText(inputs.contrastId),
    prependBos: inputs.clean.prependBos,
    cleanText: request.clean ?? null,
    corruptText: request.corrupt ?? null,
    cleanTokens: inputs.clean.tokens,
    corruptTokens: inputs.corrupt.tokens,
  };
}
