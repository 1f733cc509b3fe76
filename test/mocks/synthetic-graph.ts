/**
 * A small attribution graph for the view and host tests, in circuit-tracer's node naming: a
 * 2-layer model, the prompt [BOS, " cat", " sat"], features at layers 0 and 1, one error node, the
 * three embeddings and two logits, with signed links between them.
 */
import type { AttributionGraphResult, GraphNode } from '../../src/protocol/attribution-graph-run.js';

function node(partial: Partial<GraphNode> & Pick<GraphNode, 'id' | 'kind' | 'position'>): GraphNode {
  return { layer: null, index: null, activation: null, influence: null, probability: null, label: '', ...partial };
}

export function syntheticGraph(): AttributionGraphResult {
  const nodes: GraphNode[] = [
    node({ id: '0_2_1', kind: 'feature', layer: 0, position: 1, index: 2, activation: 2.5, influence: 0.3, label: 'animals' }),
    node({ id: '0_5_2', kind: 'feature', layer: 0, position: 2, index: 5, activation: 1, influence: 0.5 }),
    node({ id: '0_3_2', kind: 'feature', layer: 0, position: 2, index: 3, activation: 0.25, influence: 0.7 }),
    node({ id: '1_4_2', kind: 'feature', layer: 1, position: 2, index: 4, activation: 2, influence: 0.2 }),
    node({ id: '1_-1_2', kind: 'error', layer: 1, position: 2, influence: 0.6 }),
    node({ id: 'E_50256_0', kind: 'token', position: 0, index: 50256, influence: 0.9 }),
    node({ id: 'E_1000_1', kind: 'token', position: 1, index: 1000, influence: 0.4 }),
    node({ id: 'E_1001_2', kind: 'token', position: 2, index: 1001, influence: 0.8 }),
    node({ id: '3_319_2', kind: 'logit', position: 2, index: 319, probability: 0.5, label: 'Output " on" (p=0.500)' }),
    node({ id: '3_866_2', kind: 'logit', position: 2, index: 866, probability: 0.2, label: 'Output " down" (p=0.200)' }),
  ];
  return {
    dictionaryId: 'owner/transcoders',
    ids: [50256, 1000, 1001],
    tokens: ['<|endoftext|>', ' cat', ' sat'],
    nLayers: 2,
    nodes,
    links: [
      { source: 'E_1000_1', target: '0_2_1', weight: 1.5 },
      { source: 'E_1001_2', target: '0_5_2', weight: 0.8 },
      { source: 'E_1001_2', target: '0_3_2', weight: 0.2 },
      { source: '0_2_1', target: '1_4_2', weight: 2 },
      { source: '0_5_2', target: '1_4_2', weight: -0.5 },
      { source: '0_3_2', target: '1_4_2', weight: 0.25 },
      { source: '1_-1_2', target: '3_319_2', weight: 0.4 },
      { source: '1_4_2', target: '3_319_2', weight: 3 },
      { source: '1_4_2', target: '3_866_2', weight: -1 },
      { source: 'E_50256_0', target: '3_866_2', weight: 0.1 },
    ],
    logits: [
      { token: 319, text: ' on', probability: 0.5 },
      { token: 866, text: ' down', probability: 0.2 },
    ],
    replacementScore: 0.82,
    completenessScore: 0.91,
    nodeThreshold: 0.8,
    edgeThreshold: 0.98,
    counts: { activeFeatures: 12, visitedFeatures: 12, nodes: 27, keptNodes: 10, keptLinks: 10 },
    zeroedBos: true,
    timings: { activationMs: 1, backwardMs: 2, rankingMs: 0, pruningMs: 1, totalMs: 4 },
  };
}
