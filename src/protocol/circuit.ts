/**
 * Measured circuits as the engine reports them and the host, the Lab and exports read them: edges
 * scored by edge attribution (EAP / EAP-IG), the circuit chosen from them, and its faithfulness
 * measured exactly by edge-level patching. Node names: writers `embed`, `L5H1`, `mlp5`; readers
 * `L5H1.q`, `L5H1.k`, `L5H1.v` (`L5KV1.k` for a key/value head under grouped-query attention),
 * `mlp5`, `logits`.
 */
import type { MetricValue, TokenInfo } from './analysis.js';
import type { MetricRequest, TokenRef } from './engine.js';

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

/** How the engine is asked for a circuit: PatchRequest's prompts, target and metric, and how to score and size it. */
export interface CircuitRequest {
  clean?: string;
  corrupt?: string;
  /** Token ids, used exactly as given (nothing is prepended). */
  cleanIds?: number[];
  corruptIds?: number[];
  /** As AnalyzeRequest.prependBos, for both prompts. */
  prependBos?: boolean;
  /** The metric (default: logit difference with a contrast, log-probability of the target without). */
  metric?: MetricRequest;
  target: TokenRef;
  contrast?: TokenRef;
  /** Edge scores: EAP or EAP-IG (default 'eap-ig'). */
  method?: EdgeScoreMethod;
  /** EAP-IG's interpolation steps (default 5). */
  steps?: number;
  /** The circuit: the top `edges` edges by |score|, or every edge with |score| ≥ `threshold` (default: 20 edges). */
  edges?: number;
  threshold?: number;
  /** Sizes of the faithfulness curve spread from 1 edge to every edge (default 10; 0: no curve). */
  curvePoints?: number;
}

/**
 * Engine.circuit's answer: the circuit with what it was measured on (model, prompts, target, the
 * edge graph's shape), every edge's score, and each curve point's circuit, so that the Lab can
 * draw any size of the curve and exports are self-contained.
 */
export interface CircuitReport extends CircuitResult {
  model: { id: string; displayName: string };
  /** The edge graph's shape: layers, query heads, key/value heads (fewer under grouped-query attention), parallel residual. */
  graph: { nLayers: number; nHeads: number; nKvHeads: number; parallelResidual: boolean };
  targetId: number;
  target: string;
  contrastId: number | null;
  contrast: string | null;
  prependBos: boolean;
  /** The prompts as given (null for prompts given as ids) and as tokens. */
  cleanText: string | null;
  corruptText: string | null;
  cleanTokens: TokenInfo[];
  corruptTokens: TokenInfo[];
  allEdges: ScoredEdge[];
  /** Per point of `curve`, its circuit's edges as indices into `allEdges`, by |score| descending. */
  curveCircuits: number[][];
}

/** A path-patching check of one circuit edge out of a head (Wang et al. 2022; see patching/path-patching.ts). */
export interface EdgeCheckRequest {
  /** The circuit's prompts as run (ids used as given). */
  cleanIds: number[];
  corruptIds: number[];
  target: TokenRef;
  contrast?: TokenRef;
  /** The sender head (`L0H1`) and the receiver: `logits` or a head's input (`L1H2.k`; `L1KV0.k` under grouped-query attention). */
  from: string;
  to: string;
}

export interface EdgeCheck {
  from: string;
  to: string;
  /** The receivers as path patching names them: `logits` or `L1H2:k`. */
  receivers: string;
  /** The logit difference (target − contrast; the target logit without a contrast) with the sender's path to the receiver patched. */
  logitDiff: number;
  cleanLogitDiff: number;
  corruptLogitDiff: number;
  /** (patched − clean) / (clean − corrupt): −1 when the path carries the whole difference; null when clean and corrupt agree. */
  normalized: number | null;
}
