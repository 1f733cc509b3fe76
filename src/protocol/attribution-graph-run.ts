/**
 * Attribution graphs through the engine (Engine.attributionGraph and its worker method): the
 * request (a prompt, a transcoder set, circuit-tracer's settings), the progress it streams, and the
 * result (the pruned graph's nodes and links as circuit-tracer names them, the scores, counts and
 * timings). Structured-clone safe.
 */
import type { DictionarySpec } from './features.js';

export interface AttributionGraphRequest {
  /** The transcoder (or cross-layer transcoder) set that replaces the MLPs. */
  dictionary: DictionarySpec;
  /** A text prompt (the model's BOS prepended as for analyses) or token ids used as given. */
  prompt?: string;
  ids?: number[];
  prependBos?: boolean;
  /** Pruning: keep nodes up to this share of influence (default 0.8)... */
  nodeThreshold?: number;
  /** ...and edges up to this share (default 0.98). */
  edgeThreshold?: number;
  /** Features visited at most, in order of influence (default 7500). */
  maxFeatureNodes?: number;
  /** Logit targets: at most this many (default 10), until their cumulative probability reaches logitProbability (default 0.95). */
  maxLogits?: number;
  logitProbability?: number;
  /** Target rows per backward pass (default 512). */
  batchSize?: number;
}

export interface AttributionGraphProgress {
  phase: 'activations' | 'backward' | 'pruning';
  /** Features visited so far, of `total` (backward phase). */
  done: number;
  total: number;
}

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
  /** The model's layer count. */
  nLayers: number;
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

/** Attribution graphs of the engine, in-thread (Engine) and across its worker (EngineClient). */
export interface EngineAttributionGraphApi {
  attributionGraph(
    request: AttributionGraphRequest,
    hooks?: { signal?: AbortSignal; onProgress?: (p: AttributionGraphProgress) => void },
  ): Promise<AttributionGraphResult>;
}
