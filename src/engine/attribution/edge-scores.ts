/**
 * Edge attribution: EAP (Syed et al. 2023) and EAP-IG (Hanna et al. 2024) over the edges of
 * circuits/edge-graph.ts. score(u → v) = Σ over positions of (out_u[clean] − out_u[corrupt]) · g_v,
 * g_v the metric's gradient with respect to v's own copy of its input on the corrupted run (EAP),
 * or averaged over the runs from the input embeddings corrupt + α (clean − corrupt), α = k / steps,
 * k = 1..steps (EAP-IG).
 *
 * Every score at once is one product: the upstream differences as rows [upstream, pos · d_model]
 * against the downstream gradients as rows [downstream, pos · d_model] (MatmulSessions), read at
 * the edges of the graph.
 */
import { EngineError, throwIfCancelled } from '../errors.js';
import type { ResolvedMetric } from '../analysis/target-metric.js';
import type { EdgeGraph } from '../circuits/edge-graph.js';
import { assertSplitInputSupported, attentionSlots } from '../onnx/split-input-graphs.js';
import type { ForwardPass, GradientModel, MetricCoefficients } from '../runtime/gradient-model.js';
import { forwardRows } from './forward-rows.js';

/** EAP-IG's batch rows per forward and backward call. */
const IG_CHUNK = 8;

export interface EdgeScoreInput {
  model: GradientModel;
  graph: EdgeGraph;
  /** Input embeddings (token plus position embedding; the token embedding alone with rotary positions) of the two prompts, [pos, d_model]. */
  embedClean: Float32Array;
  embedCorrupt: Float32Array;
  /** The forward of [clean, corrupt] (batch rows 0 and 1). */
  both: ForwardPass;
  metric: MetricCoefficients;
  method: 'eap' | 'eap-ig';
  steps: number;
  signal?: AbortSignal;
}

/** The metric's coefficients of a resolved metric; the probability-difference metrics are not linear in logits or log-probabilities. */
export function metricCoefficients(metric: ResolvedMetric): MetricCoefficients {
  switch (metric.name) {
    case 'logit_diff':
      return {
        logit: [
          [metric.targetId, 1],
          [metric.contrastId, -1],
        ],
        logProb: [],
      };
    case 'log_prob':
      return { logit: [], logProb: [[metric.targetId, 1]] };
    default:
      throw new EngineError('BAD_ARGUMENT', `Attribution takes the logit difference or the log-probability as its metric, not ${metric.name}.`);
  }
}

/** The input embeddings of two prompts of one length and their forward as batch rows 0 and 1. */
export async function forwardPair(
  model: GradientModel,
  cleanIds: readonly number[],
  corruptIds: readonly number[],
  signal?: AbortSignal,
): Promise<{ embedClean: Float32Array; embedCorrupt: Float32Array; both: ForwardPass }> {
  if (cleanIds.length !== corruptIds.length)
    throw new EngineError(
      'LENGTH_MISMATCH',
      `The clean prompt is ${cleanIds.length} tokens and the corrupted prompt ${corruptIds.length}; attribution needs the same length.`,
      'Edit the corrupted prompt so that it tokenizes to as many tokens as the clean one.',
    );
  const embedClean = model.embed(cleanIds);
  const embedCorrupt = model.embed(corruptIds);
  const embeddings = new Float32Array(2 * embedClean.length);
  embeddings.set(embedClean);
  embeddings.set(embedCorrupt, embedClean.length);
  return { embedClean, embedCorrupt, both: await model.forward(embeddings, 2, signal) };
}

/**
 * An edge scorer for circuit discovery (circuits/discover-circuit.ts's EdgeScorer): EAP or EAP-IG
 * of every edge of `graph` from the gradient graphs, aligned with graph.edges.
 */
export function gradientEdgeScorer(model: GradientModel, graph: EdgeGraph) {
  return async (request: {
    clean: readonly number[];
    corrupt: readonly number[];
    metric: ResolvedMetric;
    method: 'eap' | 'eap-ig';
    steps: number;
    signal?: AbortSignal;
  }): Promise<Float64Array> => {
    const pair = await forwardPair(model, request.clean, request.corrupt, request.signal);
    return edgeScores({
      model,
      graph,
      ...pair,
      metric: metricCoefficients(request.metric),
      method: request.method,
      steps: request.steps,
      ...(request.signal ? { signal: request.signal } : {}),
    });
  };
}

/** Scores of every edge of `graph`, aligned with graph.edges; a model without edges between heads (Gemma) is refused. */
export async function edgeScores(x: EdgeScoreInput): Promise<Float64Array> {
  const { model, graph, both } = x;
  assertSplitInputSupported(model.config);
  const { nLayers: L, dModel: D } = model.config;
  const { slots: S } = attentionSlots(model.config);
  const P = both.positions;
  const K = P * D;
  const upstream = await upstreamDifferences(x);
  // [downstream, pos · d_model] in graph.downstream's order: per layer each head's q, each key/value head's k and v, the MLP; then the logits.
  const nDown = graph.downstream.length;
  const down = new Float32Array(nDown * K);
  const accumulate = (grads: Awaited<ReturnType<GradientModel['backward']>>, batch: number, weight: number): void => {
    for (let l = 0; l < L; l++) {
      const base = l * (S + 1);
      const qkv = grads.layers[l]!.qkv_in; // [head + 2 kv_head, b, pos, d_model]
      for (let c = 0; c < S; c++) for (let r = 0; r < batch; r++) addScaled(down, (base + c) * K, qkv, (c * batch + r) * K, K, weight);
      for (let r = 0; r < batch; r++) addScaled(down, (base + S) * K, grads.layers[l]!.mlp_in, r * K, K, weight);
    }
    for (let r = 0; r < batch; r++) addScaled(down, (nDown - 1) * K, grads.finalResid, r * K, K, weight);
  };
  if (x.method === 'eap') {
    const corrupt = forwardRows(both, [1]);
    accumulate(await model.backward({ forward: corrupt, metrics: [x.metric], ...(x.signal ? { signal: x.signal } : {}) }), 1, 1);
  } else {
    for (let k0 = 1; k0 <= x.steps; k0 += IG_CHUNK) {
      const rows = Math.min(IG_CHUNK, x.steps - k0 + 1);
      const embeddings = new Float32Array(rows * K);
      for (let r = 0; r < rows; r++) {
        const alpha = (k0 + r) / x.steps;
        for (let i = 0; i < K; i++) embeddings[r * K + i] = x.embedCorrupt[i]! + alpha * (x.embedClean[i]! - x.embedCorrupt[i]!);
      }
      throwIfCancelled(x.signal);
      const forward = await model.forward(embeddings, rows, x.signal);
      accumulate(await model.backward({ forward, metrics: [x.metric], ...(x.signal ? { signal: x.signal } : {}) }), rows, 1 / x.steps);
    }
  }
  throwIfCancelled(x.signal);
  const nUp = graph.upstream.length;
  const products = await x.model.products.matmulTransposed(upstream, down, nUp, nDown, K); // [upstream, downstream]
  return Float64Array.from(graph.edges, (e) => products[e.from * nDown + e.to]!);
}

/** Rows [upstream, pos · d_model] in graph.upstream's order: embed, then per layer each head's z_h · W_O[h] and the MLP's output, clean − corrupt. */
async function upstreamDifferences(x: EdgeScoreInput): Promise<Float32Array> {
  const { model, both } = x;
  const { nLayers: L, nHeads: H, dHead: Dh, dModel: D } = model.config;
  const P = both.positions;
  const K = P * D;
  const out = new Float32Array(x.graph.upstream.length * K);
  for (let i = 0; i < K; i++) out[i] = x.embedClean[i]! - x.embedCorrupt[i]!;
  for (let l = 0; l < L; l++) {
    throwIfCancelled(x.signal);
    const base = 1 + l * (H + 1);
    const z = both.layers[l]!.z; // [b, pos, head, d_head]
    const zClean = row(z, 0, 2),
      zCorrupt = row(z, 1, 2);
    const dz = new Float32Array(H * P * Dh); // [head, pos, d_head]
    for (let p = 0; p < P; p++)
      for (let h = 0; h < H; h++) for (let e = 0; e < Dh; e++) dz[(h * P + p) * Dh + e] = zClean[(p * H + h) * Dh + e]! - zCorrupt[(p * H + h) * Dh + e]!;
    out.set(await x.model.products.batchedMatmul(dz, model.weights.blocks[l]!.W_O.data, H, P, Dh, D), base * K); // [head, pos, d_model]
    const mlp = both.layers[l]!.mlp_out;
    const mClean = row(mlp, 0, 2),
      mCorrupt = row(mlp, 1, 2);
    for (let i = 0; i < K; i++) out[(base + H) * K + i] = mClean[i]! - mCorrupt[i]!;
  }
  return out;
}

function row(data: Float32Array, r: number, batch: number): Float32Array {
  const size = data.length / batch;
  return data.subarray(r * size, (r + 1) * size);
}

function addScaled(target: Float32Array, at: number, source: Float32Array, from: number, n: number, weight: number): void {
  for (let i = 0; i < n; i++) target[at + i]! += weight * source[from + i]!;
}
