/**
 * An attribution graph as the engine returns it: the pruned graph's nodes and links (what the Lab
 * draws and circuit-tracer's JSON holds), the logit targets, the replacement and completeness
 * scores, and the counts and timings of the run.
 */

export type GraphNodeKind = 'feature' | 'error' | 'token' | 'logit';

export interface GraphNode {
  /** circuit-tracer's node_id: `L_F_P` (feature), `0_L_P` (error), `E_T_P` (token), `(n_layers+1)_T_P` (logit). */
  id: string;
  kind: GraphNodeKind;
  /** The model layer of a feature or error node; null for tokens and logits. */
  layer: number | null;
  position: number;
  /** The feature index (feature nodes), the token id (token and logit nodes), or null (errors). */
  index: number | null;
  /** A feature's activation; null for other nodes. */
  activation: number | null;
  /** The cumulative share of influence at this node's rank (circuit-tracer's node influence); null for logits. */
  influence: number | null;
  /** A logit node's probability; null for others. */
  probability: number | null;
  /** A feature's label from the dictionary's labels file, or a logit's "Output ..." text; else empty. */
  label: string;
}

export interface GraphLink {
  source: string;
  target: string;
  /** The direct effect of source on target. */
  weight: number;
}

export interface AttributionGraphResult {
  dictionaryId: string;
  ids: number[];
  /** Each prompt token's text. */
  tokens: string[];
  /** The nodes kept by pruning (and every token and logit node), in adjacency order. */
  nodes: GraphNode[];
  links: GraphLink[];
  logits: Array<{ token: number; text: string; probability: number }>;
  /** Share of the tokens' influence on the logits in that of tokens and error nodes (circuit-tracer's replacement score). */
  replacementScore: number;
  /** Influence-weighted share of node inputs not from error nodes (circuit-tracer's completeness score). */
  completenessScore: number;
  nodeThreshold: number;
  edgeThreshold: number;
  counts: { activeFeatures: number; visitedFeatures: number; nodes: number; keptNodes: number; keptLinks: number };
  /** Whether position 0's features and errors were zeroed (its token is the BOS). */
  zeroedBos: boolean;
  /** Milliseconds: the forward and encodings, the backward batches, re-ranking, pruning, in total. */
  timings: { activationMs: number; backwardMs: number; rankingMs: number; pruningMs: number; totalMs: number };
}

export interface AttributionGraphOptions {
  nodeThreshold?: number;
  edgeThreshold?: number;
  maxFeatureNodes?: number;
  maxLogits?: number;
  logitProbability?: number;
  batchSize?: number;
  zeroBos?: boolean;
}
