/**
 * Automatic circuit discovery (Hanna et al. 2024): score every edge (EAP or EAP-IG), keep the top k
 * or those above a threshold, prune them to paths from the embedding to the logits, and measure the
 * circuit's faithfulness exactly by edge-level patching, optionally with a curve of circuit sizes
 * (all sizes run as the variants of one edge-patched pass).
 */
import type { CircuitResult, EdgeScoreMethod, FaithfulnessCurvePoint, ScoredEdge } from '../../protocol/circuit.js';
import { metricValue, type ResolvedMetric } from '../analysis/target-metric.js';
import { EngineError } from '../errors.js';
import { rankEdges, type CircuitSize } from './circuit-selection.js';
import type { EdgeGraph } from './edge-graph.js';
import type { EdgePatcher } from './edge-patcher.js';
import { curveSizes, measureFaithfulness, MAX_CIRCUITS } from './faithfulness.js';

/** Scores every edge of `graph` (aligned with graph.edges) for the metric's clean − corrupted difference. */
export type EdgeScorer = (request: {
  clean: readonly number[];
  corrupt: readonly number[];
  metric: ResolvedMetric;
  method: EdgeScoreMethod;
  steps: number;
  signal?: AbortSignal;
}) => Promise<ArrayLike<number>>;

export interface DiscoverCircuitRequest {
  clean: readonly number[];
  corrupt: readonly number[];
  metric: ResolvedMetric;
  method: EdgeScoreMethod;
  /** EAP-IG's interpolation steps (ignored by EAP). */
  steps?: number;
  size: CircuitSize;
  /** Circuit sizes (edge counts) of a faithfulness curve, or a number of sizes spread from 1 edge to all. */
  curve?: readonly number[] | number;
  /** Return every edge's score, not only the circuit's. */
  allEdges?: boolean;
  signal?: AbortSignal;
}

export const DEFAULT_IG_STEPS = 5;
export const DEFAULT_CURVE_POINTS = 10;

export async function discoverCircuit(patcher: EdgePatcher, scoreEdges: EdgeScorer, request: DiscoverCircuitRequest): Promise<CircuitResult> {
  const started = performance.now();
  const { graph } = patcher;
  const steps = request.steps ?? DEFAULT_IG_STEPS;
  const curve = typeof request.curve === 'number' ? curveSizes(graph.edges.length, request.curve) : [...(request.curve ?? [])];
  if (curve.some((k) => !Number.isInteger(k) || k < 0))
    throw new EngineError('BAD_ARGUMENT', `Curve sizes must be whole numbers of edges (got ${curve.join(', ')}).`);
  if (curve.length + 1 > MAX_CIRCUITS)
    throw new EngineError('BAD_ARGUMENT', `A faithfulness curve has at most ${MAX_CIRCUITS - 1} sizes (got ${curve.length}).`);
  const scores = await scoreEdges({
    clean: request.clean,
    corrupt: request.corrupt,
    metric: request.metric,
    method: request.method,
    steps,
    ...(request.signal ? { signal: request.signal } : {}),
  });
  if (scores.length !== graph.edges.length) throw new EngineError('INTERNAL', `The edge scorer gave ${scores.length} scores for ${graph.edges.length} edges.`);
  const measured = await measureFaithfulness(patcher, {
    clean: request.clean,
    corrupt: request.corrupt,
    metric: request.metric,
    scores,
    sizes: [request.size, ...curve.map((edges) => ({ edges }))],
    ...(request.signal ? { signal: request.signal } : {}),
  });
  const [chosen, ...points] = measured.points;
  const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);
  const result: CircuitResult = {
    method: request.method,
    ...(request.method === 'eap-ig' ? { steps } : {}),
    metric: {
      clean: metricValue(request.metric, measured.clean),
      corrupt: metricValue(request.metric, measured.corrupt),
      circuit: metricValue(request.metric, chosen!.metric),
    },
    faithfulness: finite(chosen!.faithfulness),
    size: request.size,
    nodes: circuitNodes(graph, chosen!.circuit),
    edges: rankEdges(scores)
      .filter((i) => chosen!.circuit[i])
      .map((i) => scoredEdge(graph, scores, i)),
    cleanIds: [...request.clean],
    corruptIds: [...request.corrupt],
    elapsedMs: 0,
  };
  if (request.allEdges) result.allEdges = graph.edges.map((_, i) => scoredEdge(graph, scores, i));
  if (curve.length > 0)
    result.curve = points.map((p, i): FaithfulnessCurvePoint => ({ requested: curve[i]!, edges: p.edgeCount, faithfulness: finite(p.faithfulness) }));
  result.elapsedMs = performance.now() - started;
  return result;
}

function scoredEdge(graph: EdgeGraph, scores: ArrayLike<number>, i: number): ScoredEdge {
  return { ...graph.edgeName(graph.edges[i]!), score: scores[i]! };
}

/** The circuit's writers (embed, heads, MLPs: every one of a pruned circuit has an edge out), in forward order, then the logits. */
function circuitNodes(graph: EdgeGraph, circuit: Uint8Array): string[] {
  const writers = new Uint8Array(graph.upstream.length);
  let logits = false;
  graph.edges.forEach((e, i) => {
    if (!circuit[i]) return;
    writers[e.from] = 1;
    if (graph.downstream[e.to]!.kind === 'logits') logits = true;
  });
  return [...graph.upstream.flatMap((u, i) => (writers[i] ? [graph.upstreamName(u)] : [])), ...(logits ? ['logits'] : [])];
}
