/**
 * A small, internally consistent CircuitReport for the Lab's, the exports' and the host's tests:
 * a two-layer model with an induction-like circuit (L0H1 → L1H2.k, L1H2 → logits), edges of both
 * signs into q, k and v inputs, MLPs and the logits, and a faithfulness curve whose circuits are
 * the top edges by |score|.
 */
import type { TokenInfo } from '../../src/protocol/analysis.js';
import type { CircuitReport, ScoredEdge } from '../../src/protocol/circuit.js';
import type { CircuitSizesResult } from '../../src/protocol/circuit-sizes.js';

const EDGES: ScoredEdge[] = [
  { from: 'L1H2', to: 'logits', score: 3 },
  { from: 'L0H1', to: 'L1H2.k', score: 2 },
  { from: 'embed', to: 'L1H2.v', score: 1 },
  { from: 'mlp0', to: 'logits', score: -0.8 },
  { from: 'embed', to: 'L0H1.v', score: 0.6 },
  { from: 'embed', to: 'L1H2.q', score: -0.5 },
  { from: 'embed', to: 'mlp0', score: 0.3 },
  { from: 'L0H0', to: 'L1H3.q', score: 0.05 },
];

function tokens(words: readonly string[]): TokenInfo[] {
  let at = 0;
  return words.map((text, i) => {
    const token = { id: 100 + i * 7 + text.length, text, start: at, end: at + text.length };
    at += text.length;
    return token;
  });
}

/** The synthetic circuit's faithfulness at k edges (its top k; nothing is pruned). */
export function syntheticFaithfulness(k: number): number {
  return [0, 0.55, 0.9, 0.95, 0.97, 0.98, 0.99, 1, 1][k]!;
}

/** The synthetic circuit measured at `sizes` (as Engine.circuitSizes answers: the top k edges, their faithfulness). */
export function syntheticCircuitSizes(sizes: readonly number[]): CircuitSizesResult {
  return {
    metric: { clean: { name: 'logit_diff', value: 6 }, corrupt: { name: 'logit_diff', value: -1 } },
    points: sizes.map((k) => ({ requested: k, edges: k, faithfulness: syntheticFaithfulness(k), circuit: EDGES.slice(0, k).map((_, i) => i) })),
    elapsedMs: 3,
  };
}

/** The number of scored edges of the synthetic circuit (its allEdges). */
export const SYNTHETIC_EDGE_COUNT = EDGES.length;

/** `size` edges (the top ones) make the circuit; the curve has every size 1..all. */
export function syntheticCircuit(options: { size?: number; clean?: TokenInfo[]; corrupt?: TokenInfo[]; modelId?: string } = {}): CircuitReport {
  const size = options.size ?? 4;
  const cleanTokens = options.clean ?? tokens([' The', ' cat', ' sat', ' The', ' cat']);
  const corruptTokens = options.corrupt ?? tokens([' The', ' dog', ' ran', ' The', ' cat']);
  const ranked = EDGES.map((_, i) => i);
  const faithfulness = syntheticFaithfulness;
  const sizes = [1, 2, 4, 8];
  return {
    method: 'eap-ig',
    steps: 5,
    metric: {
      clean: { name: 'logit_diff', value: 6 },
      corrupt: { name: 'logit_diff', value: -1 },
      circuit: { name: 'logit_diff', value: -1 + 7 * faithfulness(size) },
    },
    faithfulness: faithfulness(size),
    size: { edges: size },
    nodes: ['embed', 'L0H1', 'mlp0', 'L1H2', 'logits'],
    edges: EDGES.slice(0, size),
    allEdges: EDGES,
    curve: sizes.map((k) => ({ requested: k, edges: k, faithfulness: faithfulness(k) })),
    curveCircuits: sizes.map((k) => ranked.slice(0, k)),
    cleanIds: cleanTokens.map((t) => t.id),
    corruptIds: corruptTokens.map((t) => t.id),
    elapsedMs: 12,
    model: { id: options.modelId ?? 'organism', displayName: 'Model organism' },
    graph: { nLayers: 2, nHeads: 4, nKvHeads: 4, parallelResidual: false },
    targetId: 7,
    target: ' sat',
    contrastId: 9,
    contrast: ' ran',
    prependBos: false,
    cleanText: cleanTokens.map((t) => t.text).join(''),
    corruptText: corruptTokens.map((t) => t.text).join(''),
    cleanTokens,
    corruptTokens,
  };
}
