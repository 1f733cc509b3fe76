/**
 * An attribution graph in circuit-tracer's graph JSON (frontend/graph_models.py's Model, as
 * create_graph_files writes it for its local server and Neuronpedia): metadata, qParams, nodes and
 * links. Every field of its Node model is written, defaults included, as pydantic's dump does, in
 * its current form (schema_version 1): a feature's `feature` is the Cantor pairing of its layer and
 * index (one number per feature of the whole transcoder set), and an error node is
 * `{layer}_-1_{pos}` (feature −1), so that it never shares an id with a feature.
 */
import type { AttributionGraphResult, GraphNode } from './types.js';

/** circuit-tracer's process_token: newlines, tabs and carriage returns as visible characters. */
export function displayToken(text: string): string {
  return text.replace(/\n/g, '⏎').replace(/\t/g, '→').replace(/\r/g, '↵');
}

export interface CircuitTracerNode {
  node_id: string;
  feature: number;
  layer: string;
  ctx_idx: number;
  feature_type: 'cross layer transcoder' | 'mlp reconstruction error' | 'embedding' | 'logit';
  token_prob: number;
  is_target_logit: boolean;
  run_idx: number;
  reverse_ctx_idx: number;
  jsNodeId: string;
  clerp: string;
  influence: number | null;
  activation: number | null;
}

export interface CircuitTracerGraph {
  metadata: {
    slug: string;
    scan: string;
    transcoder_list: string[];
    prompt_tokens: string[];
    prompt: string;
    node_threshold: number | null;
    schema_version: number;
  };
  qParams: { pinnedIds: string[]; supernodes: string[][]; linkType: string; clickedId: string; sg_pos: string };
  nodes: CircuitTracerNode[];
  links: Array<{ source: string; target: string; weight: number }>;
}

export interface GraphJsonOptions {
  /** The graph's name (circuit-tracer's slug). */
  slug: string;
  /** The transcoder set's name on Neuronpedia (circuit-tracer's scan). */
  scan: string;
  /** The prompt as text. */
  prompt: string;
  nLayers: number;
}

/** One number per (layer, feature) pair: (l + i)(l + i + 1) / 2 + i. */
export function cantorPairing(layer: number, index: number): number {
  return ((layer + index) * (layer + index + 1)) / 2 + index;
}

function jsonNode(node: GraphNode, nLayers: number, isTarget: boolean): CircuitTracerNode {
  const base = { token_prob: 0, is_target_logit: false, run_idx: 0, reverse_ctx_idx: 0, clerp: '', influence: node.influence, activation: null };
  switch (node.kind) {
    case 'feature':
      return {
        ...base,
        node_id: node.id,
        feature: cantorPairing(node.layer!, node.index!),
        layer: String(node.layer),
        ctx_idx: node.position,
        feature_type: 'cross layer transcoder',
        jsNodeId: `${node.layer}_${node.index}-0`,
        clerp: node.label,
        activation: node.activation,
      };
    case 'error':
      return {
        ...base,
        node_id: node.id,
        feature: -1,
        layer: String(node.layer),
        ctx_idx: node.position,
        feature_type: 'mlp reconstruction error',
        jsNodeId: `${node.layer}_-1-${node.position}`,
      };
    case 'token':
      return {
        ...base,
        node_id: node.id,
        feature: node.position,
        layer: 'E',
        ctx_idx: node.position,
        feature_type: 'embedding',
        jsNodeId: `E_${node.index}-${node.position}`,
      };
    case 'logit':
      return {
        ...base,
        node_id: node.id,
        feature: node.index!,
        layer: String(nLayers + 1),
        ctx_idx: node.position,
        feature_type: 'logit',
        token_prob: node.probability!,
        is_target_logit: isTarget,
        jsNodeId: `L_${node.index}-${node.position}`,
        clerp: node.label,
        influence: null,
      };
  }
}

export function toCircuitTracerJson(graph: AttributionGraphResult, options: GraphJsonOptions): CircuitTracerGraph {
  const firstLogit = graph.logits[0]?.token;
  return {
    metadata: {
      slug: options.slug,
      scan: options.scan,
      transcoder_list: [],
      prompt_tokens: graph.tokens.map(displayToken),
      prompt: options.prompt,
      node_threshold: graph.nodeThreshold,
      schema_version: 1,
    },
    qParams: { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' },
    nodes: graph.nodes.map((n) => jsonNode(n, options.nLayers, n.kind === 'logit' && n.index === firstLogit)),
    links: graph.links.map((l) => ({ source: l.source, target: l.target, weight: l.weight })),
  };
}
