/**
 * circuit-tracer's attribute(): the adjacency of a prompt's attribution graph. The logit rows are
 * computed first; then features are visited in order of their influence on the logits so far
 * (re-ranked every `updateInterval` batches), each batch one linearised backward pass
 * (linear-backward.ts), until `maxFeatureNodes` features have rows. The graph keeps the visited
 * features as nodes, in their (layer, position, feature) order.
 *
 * Node order of the returned adjacency ([node, node], row = target, column = source): visited
 * features, error nodes [layer, pos], token nodes, logit nodes (circuit-tracer's Graph).
 */
import { throwIfCancelled } from '../../errors.js';
import type { DictionaryLayer } from '../dictionary.js';
import type { InfluenceSessions } from './influence.js';
import { sourceColumns, type BackwardTarget, type LinearBackward } from './linear-backward.js';
import type { ReplacementModel } from './replacement.js';

export interface AttributionOptions {
  /** Features visited at most (circuit-tracer's max_feature_nodes; default 7500). */
  maxFeatureNodes?: number;
  /** Target rows per backward pass (circuit-tracer's batch_size; default 512). */
  batchSize?: number;
  /** Batches between re-rankings (update_interval; default 4). */
  updateInterval?: number;
  signal?: AbortSignal;
  onProgress?: (visited: number, total: number) => void;
}

export interface Adjacency {
  /** [nodes, nodes], row = target, column = source. */
  matrix: Float32Array;
  nodes: number;
  /** Indices into the replacement's active features of the feature nodes, ascending. */
  selectedFeatures: Int32Array;
  /** Milliseconds in backward passes and in re-ranking. */
  backwardMs: number;
  rankingMs: number;
}

/** The encoder column injected for active feature `i`: s_p · W_enc[:, f], at its layer's input hook. */
function featureTarget(replacement: ReplacementModel, dictionary: readonly DictionaryLayer[], i: number): BackwardTarget {
  const { features } = replacement;
  const l = features.layer[i]!;
  const p = features.position[i]!;
  const f = features.feature[i]!;
  const layer = dictionary[l]!;
  const S = layer.dSae;
  const s = replacement.inputScales[l]![p]!;
  const v = new Float32Array(layer.dIn);
  for (let d = 0; d < layer.dIn; d++) v[d] = layer.W_enc[d * S + f]! * s;
  return { layer: l, position: p, vector: v };
}

export async function computeAdjacency(
  replacement: ReplacementModel,
  dictionary: readonly DictionaryLayer[],
  backward: LinearBackward,
  influence: InfluenceSessions,
  options: AttributionOptions = {},
): Promise<Adjacency> {
  const batchSize = options.batchSize ?? 512;
  const updateInterval = options.updateInterval ?? 4;
  const nFeat = replacement.features.count;
  const maxFeatures = Math.min(options.maxFeatureNodes ?? 7500, nFeat);
  const { logits } = replacement;
  const nLogits = logits.tokens.length;
  const L = replacement.layers.length;
  const P = replacement.nPos;
  const { count: columns } = sourceColumns(replacement);
  backward.prepare(replacement);

  // Rows in visit order: logits first, then features; rowNode is the node's column (-1 for a logit).
  const rows = maxFeatures + nLogits;
  const edges = new Float32Array(rows * columns);
  const rowNode = new Int32Array(rows).fill(-1);
  const start = new Float32Array(rows);
  let backwardMs = 0;
  let rankingMs = 0;

  const runRows = async (targets: BackwardTarget[], at: number): Promise<void> => {
    const t0 = performance.now();
    await backward.run(targets, edges, at, columns, options.signal);
    backwardMs += performance.now() - t0;
  };

  for (let i = 0; i < nLogits; i += batchSize) {
    const batch = logits.injections.slice(i, i + batchSize).map((vector): BackwardTarget => ({ layer: L, position: P - 1, vector }));
    await runRows(batch, i);
  }
  logits.probabilities.forEach((p, i) => (start[i] = p));

  const visited = new Uint8Array(nFeat);
  let nVisited = 0;
  let st = nLogits;
  while (nVisited < maxFeatures) {
    throwIfCancelled(options.signal);
    let pending: number[];
    if (maxFeatures === nFeat) {
      pending = Array.from({ length: nFeat }, (_, i) => i);
    } else {
      const t0 = performance.now();
      const scores = await influence.partialInfluences(edges, st, columns, rowNode, start);
      rankingMs += performance.now() - t0;
      const queueSize = Math.min(updateInterval * batchSize, maxFeatures - nVisited);
      // Descending influence, ties by index (a stable order).
      pending = Array.from({ length: nFeat }, (_, i) => i)
        .filter((i) => visited[i] === 0)
        .sort((a, b) => scores[b]! - scores[a]! || a - b)
        .slice(0, queueSize);
    }
    // Within a queue the order of rows is free: grouping by layer and position lets a batch stop at its
    // highest layer and run only the positions up to its last target's.
    const { layer, position } = replacement.features;
    pending.sort((a, b) => layer[b]! - layer[a]! || position[b]! - position[a]! || a - b);
    for (let i = 0; i < pending.length; i += batchSize) {
      const batch = pending.slice(i, i + batchSize);
      await runRows(
        batch.map((f) => featureTarget(replacement, dictionary, f)),
        st,
      );
      batch.forEach((f, j) => {
        rowNode[st + j] = f;
        visited[f] = 1;
      });
      st += batch.length;
      nVisited += batch.length;
      options.onProgress?.(nVisited, maxFeatures);
    }
  }

  // The square adjacency over the kept nodes: visited features (ascending), errors, tokens, logits.
  const selected: number[] = [];
  for (let i = 0; i < nFeat; i++) if (visited[i]) selected.push(i);
  const nodes = selected.length + L * P + P + nLogits;
  const featureNode = new Int32Array(nFeat).fill(-1);
  selected.forEach((f, j) => (featureNode[f] = j));
  const rowOf = new Int32Array(rows);
  for (let r = 0; r < rows; r++) rowOf[r] = rowNode[r]! >= 0 ? featureNode[rowNode[r]!]! : nodes - nLogits + r;
  const matrix = new Float32Array(nodes * nodes);
  for (let r = 0; r < rows; r++) {
    const target = rowOf[r]! * nodes;
    const src = r * columns;
    for (let j = 0; j < selected.length; j++) matrix[target + j] = edges[src + selected[j]!]!;
    matrix.set(edges.subarray(src + nFeat, src + columns), target + selected.length);
  }
  return { matrix, nodes, selectedFeatures: Int32Array.from(selected), backwardMs, rankingMs };
}
