/**
 * Measured circuits as the engine reports them and the host, the Lab and exports read them: edges
 * scored by edge attribution (EAP / EAP-IG), the circuit chosen from them, and its faithfulness
 * measured exactly by edge-level patching. Node names: writers `embed`, `L5H1`, `mlp5`; readers
 * `L5H1.q`, `L5H1.k`, `L5H1.v` (`L5KV1.k` for a key/value head under grouped-query attention),
 * `mlp5`, `logits`.
 */
import type { MetricValue } from './analysis.js';

export type EdgeScoreMethod = 'eap' | 'eap-ig';

export interface ScoredEdge {
  from: string;
  to: string;
  score: number;
}

/** One circuit size of a faithfulness curve. */
export interface FaithfulnessCurvePoint {
  /** Edges asked for (top k by |score|). */
  requested: number;
  /** Edges left after pruning to paths from the embedding to the logits. */
  edges: number;
  /** (metric − corrupt) / (clean − corrupt), null when clean and corrupt agree. */
  faithfulness: number | null;
}

export interface CircuitResult {
  method: EdgeScoreMethod;
  /** EAP-IG's interpolation steps. */
  steps?: number;
  /** The metric on the clean and corrupted prompts and with only the circuit's edges clean. */
  metric: { clean: MetricValue; corrupt: MetricValue; circuit: MetricValue };
  /** The circuit's share of clean − corrupt (null when they agree). */
  faithfulness: number | null;
  /** How the circuit was chosen. */
  size: { edges: number } | { threshold: number };
  /** The circuit's writer nodes (embed, heads, MLPs), in forward order. */
  nodes: string[];
  /** The circuit's edges with their scores, by |score| descending. */
  edges: ScoredEdge[];
  /** Every edge of the model and its score; left out unless asked for. */
  allEdges?: ScoredEdge[];
  curve?: FaithfulnessCurvePoint[];
  /** Token ids of the two prompts, as run. */
  cleanIds: number[];
  corruptIds: number[];
  elapsedMs: number;
}
