/**
 * Choosing a circuit from edge scores (Hanna et al. 2024): the edges of largest |score|, top k or
 * above a threshold, then pruned to the edges that lie on a path from the embedding to the logits
 * within the chosen set (an edge out of a node that nothing chosen feeds, or into a node whose
 * output reaches no logit, changes nothing that the circuit computes).
 */
import { EngineError } from '../errors.js';
import type { DownstreamNode, EdgeGraph } from './edge-graph.js';

export type CircuitSize = { edges: number } | { threshold: number };

/** Membership over graph.edges of the pruned circuit of the top-ranked edges. */
export function selectCircuit(graph: EdgeGraph, scores: ArrayLike<number>, size: CircuitSize): Uint8Array {
  if (scores.length !== graph.edges.length) {
    throw new EngineError('BAD_ARGUMENT', `Edge scores must give one score for each of the ${graph.edges.length} edges (got ${scores.length}).`);
  }
  const chosen = new Uint8Array(graph.edges.length);
  if ('edges' in size) {
    if (!Number.isInteger(size.edges) || size.edges < 0)
      throw new EngineError('BAD_ARGUMENT', `A circuit size must be a whole number of edges (got ${size.edges}).`);
    for (const i of rankEdges(scores).slice(0, size.edges)) chosen[i] = 1;
  } else {
    if (!(size.threshold >= 0)) throw new EngineError('BAD_ARGUMENT', `A score threshold must be a number of at least 0 (got ${size.threshold}).`);
    for (let i = 0; i < scores.length; i++) if (Math.abs(scores[i]!) >= size.threshold) chosen[i] = 1;
  }
  return pruneCircuit(graph, chosen);
}

/** Edge indices by |score|, largest first (ties by index, so the order is deterministic). */
export function rankEdges(scores: ArrayLike<number>): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  const magnitude = (i: number): number => (Number.isFinite(scores[i]!) ? Math.abs(scores[i]!) : -1);
  return order.sort((a, b) => magnitude(b) - magnitude(a) || a - b);
}

/**
 * The chosen edges that are on a path embed → … → logits within the chosen set: u → v stays when
 * u is fed from the embedding through chosen edges (or is the embedding) and v's node leads to the
 * logits through chosen edges (or is the logits).
 */
export function pruneCircuit(graph: EdgeGraph, chosen: Uint8Array): Uint8Array {
  const { upstream, downstream, edges } = graph;
  // A reader belongs to the writer it feeds: a head's q/k/v input to the head (a key/value head's
  // input, with grouped-query attention, to every query head of its group), an MLP's input to the MLP.
  const owners = downstream.map((v) => ownersOf(graph, v));
  // Forward: which writers are fed from the embedding. Edges are grouped by reader in forward order,
  // and a writer's readers all come before any reader it feeds, so one pass suffices.
  const fed = new Uint8Array(upstream.length);
  fed[0] = 1;
  const readerFed = new Uint8Array(downstream.length);
  edges.forEach((e, i) => {
    if (chosen[i] && fed[e.from]) readerFed[e.to] = 1;
    // The last edge of a reader's group settles it; marking owners as each edge arrives is the same.
    if (readerFed[e.to]) for (const o of owners[e.to]!) fed[o] = 1;
  });
  // Backward: which writers reach the logits.
  const reaches = new Uint8Array(upstream.length);
  const readerReaches = downstream.map((v) => v.kind === 'logits');
  for (let i = edges.length - 1; i >= 0; i--) {
    const e = edges[i]!;
    // Owners of a reader come after every writer feeding it, so their flags are final here.
    readerReaches[e.to] = downstream[e.to]!.kind === 'logits' || owners[e.to]!.some((o) => reaches[o]);
    if (chosen[i] && readerReaches[e.to]) reaches[e.from] = 1;
  }
  return Uint8Array.from(edges, (e, i) => (chosen[i] && fed[e.from] && readerReaches[e.to] ? 1 : 0));
}

/** The writers a reader's input goes into: its head(s) or its MLP; none for the logits. */
function ownersOf(graph: EdgeGraph, v: DownstreamNode): number[] {
  if (v.kind === 'logits') return [];
  const { nHeads } = graph.shape;
  const firstHead = 1 + v.layer * (nHeads + 1);
  if (v.kind === 'mlp') return [firstHead + nHeads];
  if (v.input === 'q') return [firstHead + v.head];
  const group = nHeads / (graph.shape.nKvHeads ?? nHeads);
  return Array.from({ length: group }, (_, i) => firstHead + v.head * group + i);
}
