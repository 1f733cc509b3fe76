/**
 * Faithfulness of circuits (Hanna et al. 2024): the share of the clean − corrupted metric that a
 * circuit recovers when every edge outside it carries its corrupted value, measured exactly by
 * edge-level patching, for one circuit or for a curve of circuit sizes.
 */
import { EngineError } from '../errors.js';
import type { ResolvedMetric } from '../analysis/target-metric.js';
import { recovery } from '../patching/patch-metric.js';
import { selectCircuit, type CircuitSize } from './circuit-selection.js';
import type { EdgePatcher } from './edge-patcher.js';

export interface FaithfulnessRequest {
  clean: readonly number[];
  corrupt: readonly number[];
  metric: ResolvedMetric;
  /** One score an edge of the patcher's graph (EAP, EAP-IG, ...), aligned with graph.edges. */
  scores: ArrayLike<number>;
  /** The circuits to measure: top-k sizes or score thresholds. */
  sizes: readonly CircuitSize[];
  signal?: AbortSignal;
}

export interface FaithfulnessPoint {
  size: CircuitSize;
  /** Edges left after pruning (at most the requested number). */
  edgeCount: number;
  /** Membership over graph.edges. */
  circuit: Uint8Array;
  /** The metric with only the circuit's edges clean. */
  metric: number;
  /** (metric − corrupt) / (clean − corrupt); NaN when clean and corrupt agree. */
  faithfulness: number;
}

export interface FaithfulnessResult {
  clean: number;
  corrupt: number;
  points: FaithfulnessPoint[];
}

/** The most circuits one request measures (each is a batched variant of every layer's call). */
export const MAX_CIRCUITS = 64;

export async function measureFaithfulness(patcher: EdgePatcher, request: FaithfulnessRequest): Promise<FaithfulnessResult> {
  if (request.sizes.length === 0 || request.sizes.length > MAX_CIRCUITS) {
    throw new EngineError('BAD_ARGUMENT', `Ask for 1 to ${MAX_CIRCUITS} circuit sizes (got ${request.sizes.length}).`);
  }
  const circuits = request.sizes.map((size) => selectCircuit(patcher.graph, request.scores, size));
  const { clean, corrupt, values } = await patcher.run({
    clean: request.clean,
    corrupt: request.corrupt,
    metric: request.metric,
    circuits,
    ...(request.signal ? { signal: request.signal } : {}),
  });
  return {
    clean,
    corrupt,
    points: request.sizes.map((size, i) => ({
      size,
      edgeCount: circuits[i]!.reduce((n, x) => n + x, 0),
      circuit: circuits[i]!,
      metric: values[i]!,
      faithfulness: recovery(values[i]!, clean, corrupt),
    })),
  };
}

/** `count` circuit sizes from 1 edge to every edge, spaced evenly on a log scale (fewer when the graph is small). */
export function curveSizes(totalEdges: number, count: number): number[] {
  if (totalEdges <= 0) return [];
  const sizes = new Set<number>();
  for (let i = 0; i < count; i++) sizes.add(Math.max(1, Math.round(Math.exp((Math.log(totalEdges) * i) / Math.max(1, count - 1)))));
  return [...sizes].sort((a, b) => a - b);
}
