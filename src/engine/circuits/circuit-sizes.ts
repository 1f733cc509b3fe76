/**
 * Circuits of other sizes from edge scores already computed (the Lab's size slider asks for the
 * circuit at a size its faithfulness curve did not measure): each size is the top k edges by
 * |score|, pruned as discovery prunes them (circuit-selection.ts), and measured exactly by
 * edge-level patching, every size of a request a variant of one edge-patched pass. The scores are
 * taken as given: nothing is scored again.
 */
import type { CircuitSizePoint, CircuitSizesRequest, CircuitSizesResult } from '../../protocol/circuit-sizes.js';
import { defaultMetric, metricValue, resolveNamedMetric } from '../analysis/target-metric.js';
import { EngineError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import { resolvePatchInputs } from '../patching/patch-inputs.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import { rankEdges } from './circuit-selection.js';
import type { EdgePatcher } from './edge-patcher.js';
import { measureFaithfulness, MAX_CIRCUITS } from './faithfulness.js';

export interface CircuitSizesContext {
  patcher: EdgePatcher;
  tokenizer: PromptTokenizer;
  config: ModelConfig;
  /** The user's token limit (default: the model's context). */
  maxTokens?: number;
  signal?: AbortSignal;
}

export async function measureCircuitSizes(context: CircuitSizesContext, request: CircuitSizesRequest): Promise<CircuitSizesResult> {
  const started = performance.now();
  const { patcher, tokenizer, config } = context;
  const total = patcher.graph.edges.length;
  const scores = request.scores;
  if (!(scores instanceof Float64Array) && !Array.isArray(scores))
    throw new EngineError('BAD_ARGUMENT', 'The edge scores must be a Float64Array (one number per edge).');
  if (scores.length !== total) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `The edge scores give ${scores.length} scores; this model's edge graph has ${total} edges.`,
      'Send the scores of a circuit found on this model (CircuitReport.allEdges, in order).',
    );
  }
  const sizes = request.sizes;
  if (!Array.isArray(sizes) || sizes.length === 0 || sizes.length > MAX_CIRCUITS)
    throw new EngineError('BAD_ARGUMENT', `Ask for 1 to ${MAX_CIRCUITS} circuit sizes (got ${Array.isArray(sizes) ? sizes.length : 'none'}).`);
  for (const k of sizes) {
    if (!Number.isInteger(k) || k < 1 || k > total)
      throw new EngineError('BAD_ARGUMENT', `A circuit size is a whole number of edges in 1..${total} (got ${String(k)}).`);
  }
  const inputs = resolvePatchInputs(
    tokenizer,
    { cleanIds: request.cleanIds, corruptIds: request.corruptIds, target: request.target, ...(request.contrast ? { contrast: request.contrast } : {}) },
    { maxTokens: context.maxTokens ?? config.nCtx, nCtx: config.nCtx, dVocab: config.dVocab, prependBosId: null },
  );
  const metric = request.metric ? resolveNamedMetric(tokenizer, config.dVocab, request.metric) : defaultMetric(inputs.targetId, inputs.contrastId);
  const measured = await measureFaithfulness(patcher, {
    clean: inputs.clean.ids,
    corrupt: inputs.corrupt.ids,
    metric,
    scores,
    sizes: sizes.map((edges) => ({ edges })),
    ...(context.signal ? { signal: context.signal } : {}),
  });
  const ranked = rankEdges(scores);
  const points = measured.points.map((p, i): CircuitSizePoint => ({
    requested: sizes[i]!,
    edges: p.edgeCount,
    faithfulness: Number.isFinite(p.faithfulness) ? p.faithfulness : null,
    circuit: ranked.filter((j) => p.circuit[j]),
  }));
  return {
    metric: { clean: metricValue(metric, measured.clean), corrupt: metricValue(metric, measured.corrupt) },
    points,
    elapsedMs: performance.now() - started,
  };
}
