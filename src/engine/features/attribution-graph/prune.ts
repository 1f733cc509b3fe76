/**
 * Pruning and the graph's scores, as circuit-tracer's graph.py defines them (prune_graph,
 * compute_graph_scores):
 *
 *  - node influence: the logit-probability-weighted influence (influence.ts) of each node on the
 *    logits through the row-normalised |adjacency|; nodes are kept by cumulative influence until
 *    `nodeThreshold` of the total (tokens and logits always kept);
 *  - edge scores on the graph of kept nodes: normalised |edge| × (influence of its target + its
 *    logit weight); edges kept by cumulative score until `edgeThreshold`;
 *  - then, until nothing changes, feature and error nodes without a kept outgoing edge and feature
 *    nodes without a kept incoming edge are dropped, with their edges;
 *  - replacement score: the share of the tokens' influence in that of tokens and errors;
 *    completeness: the influence-weighted (plus logit weight) mean share of each node's normalised
 *    inputs that does not come from error nodes.
 */
import { EngineError } from '../../errors.js';
import type { InfluenceSessions } from './influence.js';

/** Where each kind of node sits in the adjacency (features, errors, tokens, logits, in that order). */
export interface NodeLayout {
  features: number;
  errors: number;
  tokens: number;
  logits: number;
}

export interface PruneResult {
  nodeMask: Uint8Array;
  /** [node, node], row = target. */
  edgeMask: Uint8Array;
  /** Per node: the cumulative share of influence at its rank (circuit-tracer's cumulative_scores). */
  cumulativeScores: Float32Array;
  /** Per node: its influence on the logits (unpruned graph). */
  influence: Float64Array;
  replacementScore: number;
  completenessScore: number;
}

/**
 * circuit-tracer's find_threshold: scores sorted in descending order, the first one at which the
 * cumulative share of the total reaches `threshold` (torch.searchsorted), clamped to the last score.
 */
export function findThreshold(scores: ArrayLike<number>, threshold: number): number {
  // Zeros add nothing to the cumulative sum and sort last: only the positive scores are sorted.
  const positive: number[] = [];
  let total = 0;
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i]!;
    if (v > 0) positive.push(v);
    total += v;
  }
  if (positive.length === 0) return 0;
  const sorted = Float64Array.from(positive).sort().reverse();
  let cumulative = 0;
  for (const v of sorted) {
    cumulative += v;
    if (cumulative / total >= threshold) return v;
  }
  // Never reached (rounding, or a threshold of 1): the index runs past the end and is clamped to the last score.
  return positive.length < scores.length ? 0 : sorted[sorted.length - 1]!;
}

export async function pruneGraph(
  adjacency: Float32Array,
  layout: NodeLayout,
  logitProbabilities: readonly number[],
  influenceSessions: InfluenceSessions,
  nodeThreshold = 0.8,
  edgeThreshold = 0.98,
): Promise<PruneResult> {
  for (const [name, t] of [
    ['node threshold', nodeThreshold],
    ['edge threshold', edgeThreshold],
  ] as const)
    if (!(t >= 0 && t <= 1)) throw new EngineError('BAD_ARGUMENT', `The ${name} must be between 0 and 1 (got ${t}).`);
  const n = layout.features + layout.errors + layout.tokens + layout.logits;
  const logitStart = n - layout.logits;
  const tokenStart = logitStart - layout.tokens;
  const errorStart = layout.features;
  const logitWeights = new Float32Array(n);
  logitProbabilities.forEach((p, i) => (logitWeights[logitStart + i] = p));

  // Node influence on the unpruned graph, and the scores from it.
  const normalized = await influenceSessions.normalizeRows(adjacency, n, n, 1e-10);
  const influence = await influenceSessions.influence(normalized, logitWeights, n);
  let tokenInfluence = 0;
  let errorInfluence = 0;
  for (let i = errorStart; i < tokenStart; i++) errorInfluence += influence[i]!;
  for (let i = tokenStart; i < logitStart; i++) tokenInfluence += influence[i]!;
  const replacementScore = tokenInfluence / (tokenInfluence + errorInfluence);
  let weighted = 0;
  let totalOut = 0;
  for (let r = 0; r < n; r++) {
    let errorShare = 0;
    for (let c = errorStart; c < tokenStart; c++) errorShare += normalized[r * n + c]!;
    const out = influence[r]! + logitWeights[r]!;
    weighted += (1 - errorShare) * out;
    totalOut += out;
  }
  const completenessScore = weighted / totalOut;

  const nodeCut = findThreshold(influence, nodeThreshold);
  const nodeMask = new Uint8Array(n);
  for (let i = 0; i < n; i++) nodeMask[i] = influence[i]! >= nodeCut || i >= tokenStart ? 1 : 0;

  // Edge scores on the graph of kept nodes (the normalised copy is reused for it).
  const pruned = normalized;
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) pruned[r * n + c] = nodeMask[r] && nodeMask[c] ? adjacency[r * n + c]! : 0;
  const normalizedPruned = await influenceSessions.normalizeRows(pruned, n, n, 1e-10, pruned);
  const prunedInfluence = await influenceSessions.influence(normalizedPruned, logitWeights, n);
  const edgeScores = normalizedPruned;
  for (let r = 0; r < n; r++) {
    const w = prunedInfluence[r]! + logitWeights[r]!;
    for (let c = 0; c < n; c++) edgeScores[r * n + c]! *= w;
  }
  const edgeCut = findThreshold(edgeScores, edgeThreshold);
  const edgeMask = new Uint8Array(n * n);
  for (let i = 0; i < n * n; i++) edgeMask[i] = edgeScores[i]! >= edgeCut ? 1 : 0;

  // Drop feature/error nodes without outgoing edges and features without incoming ones, until stable.
  const hasOut = new Uint8Array(n);
  const hasIn = new Uint8Array(n);
  for (let changed = true; changed;) {
    hasOut.fill(0);
    hasIn.fill(0);
    for (let r = 0; r < n; r++)
      for (let c = 0; c < n; c++)
        if (edgeMask[r * n + c]) {
          hasIn[r] = 1;
          hasOut[c] = 1;
        }
    changed = false;
    for (let i = 0; i < tokenStart; i++) {
      const keep = nodeMask[i] === 1 && hasOut[i] === 1 && (i >= layout.features || hasIn[i] === 1);
      if (nodeMask[i] === 1 && !keep) {
        nodeMask[i] = 0;
        changed = true;
      }
    }
    if (!changed) break;
    for (let r = 0; r < n; r++) {
      if (!nodeMask[r]) {
        edgeMask.fill(0, r * n, (r + 1) * n);
        continue;
      }
      for (let c = 0; c < tokenStart; c++) if (!nodeMask[c]) edgeMask[r * n + c] = 0;
    }
  }

  // Cumulative influence at each node's rank.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => influence[b]! - influence[a]! || a - b);
  let total = 0;
  for (const v of influence) total += v;
  const cumulativeScores = new Float32Array(n);
  let running = 0;
  for (const i of order) {
    running += influence[i]!;
    cumulativeScores[i] = running / total;
  }
  return { nodeMask, edgeMask, cumulativeScores, influence, replacementScore, completenessScore };
}
