/**
 * An attribution graph of one prompt, end to end (circuit-tracer's attribute → prune_graph →
 * create_graph_files): the replacement model (replacement.ts), the adjacency by batched linearised
 * backward passes in order of influence (attribute.ts), pruning and the scores (prune.ts), and the
 * kept nodes and links, named as circuit-tracer names them.
 */
import { throwIfCancelled } from '../../errors.js';
import type { ForwardRunner } from '../../runtime/types.js';
import { MatmulSessions } from '../../runtime/matmul-session.js';
import type { Dictionary } from '../dictionary.js';
import { computeAdjacency, type Adjacency } from './attribute.js';
import { displayToken } from './graph-json.js';
import { InfluenceSessions } from './influence.js';
import { checkEdgeMatrixSize, checkGraphOptions, checkGraphPrompt } from './limits.js';
import { LinearBackward, sourceColumns } from './linear-backward.js';
import { pruneGraph, type NodeLayout, type PruneResult } from './prune.js';
import { checkReplacementDictionary } from './replacement-check.js';
import { buildReplacementModel, type ReplacementModel } from './replacement.js';
import type { AttributionGraphProgress } from '../../../protocol/attribution-graph-run.js';
import type { AttributionGraphOptions, AttributionGraphResult, GraphLink, GraphNode } from './types.js';

export type GraphProgress = AttributionGraphProgress;

export interface AttributionGraphRun {
  result: AttributionGraphResult;
  /** What the result was computed from, for tests and exports that need the whole graph. */
  replacement: ReplacementModel;
  adjacency: Adjacency;
  layout: NodeLayout;
  pruning: PruneResult;
}

/** Node i of the adjacency, as circuit-tracer's create_nodes names it. */
function describeNode(run: Omit<AttributionGraphRun, 'result'>, i: number, dictionary: Dictionary, tokenText: (id: number) => string): GraphNode {
  const { replacement, adjacency, layout, pruning } = run;
  const P = replacement.nPos;
  const L = replacement.layers.length;
  const influence = pruning.cumulativeScores[i]!;
  if (i < layout.features) {
    const f = adjacency.selectedFeatures[i]!;
    const { layer, position, feature, activation } = replacement.features;
    const l = layer[f]!;
    const idx = feature[f]!;
    return {
      id: `${l}_${idx}_${position[f]}`,
      kind: 'feature',
      layer: l,
      position: position[f]!,
      index: idx,
      activation: activation[f]!,
      influence,
      probability: null,
      label: dictionary.labels?.get(`${l}/${idx}`) ?? '',
    };
  }
  const e = i - layout.features;
  if (e < layout.errors) {
    const l = Math.floor(e / P);
    const p = e % P;
    return { id: `${l}_-1_${p}`, kind: 'error', layer: l, position: p, index: null, activation: null, influence, probability: null, label: '' };
  }
  const t = e - layout.errors;
  if (t < layout.tokens) {
    const id = replacement.ids[t]!;
    return { id: `E_${id}_${t}`, kind: 'token', layer: null, position: t, index: id, activation: null, influence, probability: null, label: '' };
  }
  const k = t - layout.tokens;
  const token = replacement.logits.tokens[k]!;
  const probability = replacement.logits.probabilities[k]!;
  return {
    id: `${L + 1}_${token}_${P - 1}`,
    kind: 'logit',
    layer: null,
    position: P - 1,
    index: token,
    activation: null,
    influence: null,
    probability,
    label: `Output "${displayToken(tokenText(token))}" (p=${probability.toFixed(3)})`,
  };
}

export async function buildAttributionGraph(
  runner: ForwardRunner,
  dictionary: Dictionary,
  ids: readonly number[],
  tokenText: (id: number) => string,
  options: AttributionGraphOptions = {},
  hooks: { signal?: AbortSignal; onProgress?: (p: GraphProgress) => void; threads?: number } = {},
): Promise<AttributionGraphRun> {
  const started = performance.now();
  checkGraphPrompt(ids);
  checkGraphOptions(options);
  const layers = checkReplacementDictionary(dictionary, runner.config);
  const nodeThreshold = options.nodeThreshold ?? 0.8;
  const edgeThreshold = options.edgeThreshold ?? 0.98;
  const signal = hooks.signal;
  hooks.onProgress?.({ phase: 'activations', done: 0, total: 0 });
  const matmul = await MatmulSessions.create(hooks.threads);
  let backward: LinearBackward | null = null;
  const influence = await InfluenceSessions.create(hooks.threads);
  try {
    const replacement = await buildReplacementModel(runner, matmul, layers, ids, {
      ...(options.maxLogits !== undefined ? { maxLogits: options.maxLogits } : {}),
      ...(options.logitProbability !== undefined ? { logitProbability: options.logitProbability } : {}),
      ...(options.zeroBos !== undefined ? { zeroBos: options.zeroBos } : {}),
      ...(signal ? { signal } : {}),
    });
    const maxFeatures = Math.min(options.maxFeatureNodes ?? 7500, replacement.features.count);
    checkEdgeMatrixSize(maxFeatures + replacement.logits.tokens.length, sourceColumns(replacement).count);
    throwIfCancelled(signal);
    backward = await LinearBackward.create(runner.config, runner.weights, layers, hooks.threads);
    const adjacency = await computeAdjacency(replacement, layers, backward, influence, {
      maxFeatureNodes: maxFeatures,
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(signal ? { signal } : {}),
      onProgress: (done, total) => hooks.onProgress?.({ phase: 'backward', done, total }),
    });
    throwIfCancelled(signal);
    hooks.onProgress?.({ phase: 'pruning', done: 0, total: 0 });
    const pruneStarted = performance.now();
    const L = replacement.layers.length;
    const P = replacement.nPos;
    const layout: NodeLayout = { features: adjacency.selectedFeatures.length, errors: L * P, tokens: P, logits: replacement.logits.tokens.length };
    const pruning = await pruneGraph(adjacency.matrix, layout, replacement.logits.probabilities, influence, nodeThreshold, edgeThreshold);
    const pruningMs = performance.now() - pruneStarted;

    // create_graph_files: the kept nodes, the kept edges between them, then only nodes with an edge (tokens and logits always).
    const run = { replacement, adjacency, layout, pruning };
    const n = adjacency.nodes;
    const links: GraphLink[] = [];
    const connected = new Uint8Array(n);
    const described = new Map<number, GraphNode>();
    const node = (i: number): GraphNode => {
      let d = described.get(i);
      if (!d) described.set(i, (d = describeNode(run, i, dictionary, tokenText)));
      return d;
    };
    for (let r = 0; r < n; r++) {
      if (!pruning.nodeMask[r]) continue;
      for (let c = 0; c < n; c++) {
        if (!pruning.edgeMask[r * n + c] || !pruning.nodeMask[c]) continue;
        links.push({ source: node(c).id, target: node(r).id, weight: adjacency.matrix[r * n + c]! });
        connected[r] = connected[c] = 1;
      }
    }
    const tokenStart = layout.features + layout.errors;
    const nodes: GraphNode[] = [];
    for (let i = 0; i < n; i++) if (pruning.nodeMask[i] && (connected[i] || i >= tokenStart)) nodes.push(node(i));

    const result: AttributionGraphResult = {
      dictionaryId: dictionary.id,
      ids: [...ids],
      tokens: ids.map((id) => tokenText(id)),
      nLayers: runner.config.nLayers,
      nodes,
      links,
      logits: replacement.logits.tokens.map((token, k) => ({ token, text: tokenText(token), probability: replacement.logits.probabilities[k]! })),
      replacementScore: pruning.replacementScore,
      completenessScore: pruning.completenessScore,
      nodeThreshold,
      edgeThreshold,
      counts: {
        activeFeatures: replacement.features.count,
        visitedFeatures: adjacency.selectedFeatures.length,
        nodes: n,
        keptNodes: nodes.length,
        keptLinks: links.length,
      },
      zeroedBos: replacement.zeroedBos,
      timings: {
        activationMs: replacement.elapsedMs,
        backwardMs: adjacency.backwardMs,
        rankingMs: adjacency.rankingMs,
        pruningMs,
        totalMs: performance.now() - started,
      },
    };
    return { ...run, result };
  } finally {
    await Promise.all([matmul.dispose(), influence.dispose(), backward?.dispose()]);
  }
}
