/**
 * Circuits of other sizes from a discovery's edge scores (the Lab's size slider): each size is the
 * top k edges by |score|, pruned to paths from the embedding to the logits as discovery prunes
 * them, with its faithfulness measured exactly by edge-level patching. Nothing is scored again: the
 * request carries the scores of CircuitReport.allEdges, and all sizes of one request run as the
 * variants of one edge-patched pass.
 */
import type { MetricValue } from './analysis.js';
import type { CircuitReport, FaithfulnessCurvePoint } from './circuit.js';
import type { MetricRequest, TokenRef } from './engine.js';

export interface CircuitSizesRequest {
  /** The circuit's prompts as run (CircuitReport.cleanIds / corruptIds; ids used as given). */
  cleanIds: number[];
  corruptIds: number[];
  target: TokenRef;
  contrast?: TokenRef;
  /** The discovery's named metric, if it had one (default: logit difference with a contrast, log-probability of the target without). */
  metric?: MetricRequest;
  /** One score per edge of the model's edge graph, in its order (the order of CircuitReport.allEdges). */
  scores: Float64Array;
  /** Circuit sizes: numbers of top edges by |score|, 1 to the number of edges; at most 64 sizes a request (the engine's MAX_CIRCUITS). */
  sizes: number[];
}

/** One measured size: a faithfulness curve point and its circuit. */
export interface CircuitSizePoint extends FaithfulnessCurvePoint {
  /** The circuit's edges as indices into the scores (CircuitReport.allEdges), by |score| descending. */
  circuit: number[];
}

export interface CircuitSizesResult {
  /** The metric on the clean and the corrupted prompt. */
  metric: { clean: MetricValue; corrupt: MetricValue };
  /** One point per requested size, in the request's order. */
  points: CircuitSizePoint[];
  elapsedMs: number;
}

/**
 * The report with one more measured size on its curve (kept sorted by the number of edges asked
 * for; a size measured again replaces its point), as the host and the Lab keep it: the curve's
 * points and their circuits stay aligned, and everything else is the same object.
 */
export function withMeasuredSize(report: CircuitReport, point: CircuitSizePoint): CircuitReport {
  const curve = report.curve ?? [];
  const entries = curve.map((p, i) => ({ point: p, circuit: report.curveCircuits[i] ?? [] })).filter((e) => e.point.requested !== point.requested);
  const { circuit, ...curvePoint } = point;
  entries.push({ point: curvePoint, circuit });
  entries.sort((a, b) => a.point.requested - b.point.requested);
  return { ...report, curve: entries.map((e) => e.point), curveCircuits: entries.map((e) => e.circuit) };
}
