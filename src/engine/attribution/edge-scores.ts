/**
 * Edge attribution: EAP (Syed et al. 2023) and EAP-IG (Hanna et al. 2024) over the edges of
 * circuits/edge-graph.ts. score(u → v) = Σ over positions of (out_u[clean] − out_u[corrupt]) · g_v,
 * g_v the metric's gradient with respect to v's own copy of its input on the corrupted run (EAP),
 * or averaged over the runs from the input embeddings corrupt + α (clean − corrupt), α = k / steps,
 * k = 1..steps (EAP-IG).
 *
 * The scores are products of the upstream differences as rows [upstream, pos · d_model] with the
 * downstream gradients as rows [downstream, pos · d_model], one per layer's downstream nodes and only
 * with the upstream nodes before them (GradientModel.edgeProducts: inside the backward graphs where the
 * family has edge graphs), read at the edges of the graph. The logits' column needs only the last
 * position, the one position whose final residual has a gradient.
 */
import { EngineError, throwIfCancelled } from '../errors.js';
import type { ResolvedMetric } from '../analysis/target-metric.js';
import type { EdgeGraph } from '../circuits/edge-graph.js';
import { assertSplitInputSupported, attentionSlots } from '../onnx/split-input-graphs.js';
import type { EdgeProductPass, FinalGradient, ForwardPass, GradientModel, MetricCoefficients } from '../runtime/gradient-model.js';
import { finalRows, forwardRows } from './forward-rows.js';

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
  /** The metric of `both`'s rows and their final gradient (GradientModel.finalGradient), when known. */
  pairFinal?: FinalGradient;
  /** EAP-IG: interpolation points whose forward ran with the pair's (forwardPair's `points`); the rest run here. */
  points?: InterpolationPoints | null;
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

/** EAP-IG's interpolation points at `alphas` (rows of `pass`, in that order). */
export interface InterpolationPoints {
  pass: ForwardPass;
  alphas: readonly number[];
}

/** The input embeddings at corrupt + α (clean − corrupt) for each α, [α, pos, d_model]. */
function interpolate(embedClean: Float32Array, embedCorrupt: Float32Array, alphas: readonly number[]): Float32Array {
  const K = embedClean.length;
  const out = new Float32Array(alphas.length * K);
  alphas.forEach((alpha, r) => {
    for (let i = 0; i < K; i++) out[r * K + i] = embedCorrupt[i]! + alpha * (embedClean[i]! - embedCorrupt[i]!);
  });
  return out;
}

/**
 * The input embeddings of two prompts of one length and their forward as a pass of two rows (clean,
 * corrupted). With `igSteps`, EAP-IG's interpolation points run in the same call (up to a chunk of
 * them): the clean row is the point α = 1, the others run as rows before it.
 */
export async function forwardPair(
  model: GradientModel,
  cleanIds: readonly number[],
  corruptIds: readonly number[],
  signal?: AbortSignal,
  igSteps?: number,
): Promise<{ embedClean: Float32Array; embedCorrupt: Float32Array; both: ForwardPass; points: InterpolationPoints | null }> {
  if (cleanIds.length !== corruptIds.length)
    throw new EngineError(
      'LENGTH_MISMATCH',
      `The clean prompt is ${cleanIds.length} tokens and the corrupted prompt ${corruptIds.length}; attribution needs the same length.`,
      'Edit the corrupted prompt so that it tokenizes to as many tokens as the clean one.',
    );
  const embedClean = model.embed(cleanIds);
  const embedCorrupt = model.embed(corruptIds);
  // Rows α = 1 / steps, 2 / steps, … while the call has room, then the clean row (the point α = 1) and the
  // corrupted row: the points and the pair are each consecutive rows, which their passes share rather than copy.
  const extra = igSteps === undefined ? [] : Array.from({ length: Math.min(igSteps - 1, IG_CHUNK - 1) }, (_, i) => (i + 1) / igSteps);
  const K = embedClean.length;
  const embeddings = new Float32Array((extra.length + 2) * K);
  embeddings.set(interpolate(embedClean, embedCorrupt, extra));
  embeddings.set(embedClean, extra.length * K);
  embeddings.set(embedCorrupt, (extra.length + 1) * K);
  const all = await model.forward(embeddings, extra.length + 2, signal);
  const pair = [extra.length, extra.length + 1];
  if (igSteps === undefined) return { embedClean, embedCorrupt, both: all, points: null };
  const points = { pass: forwardRows(all, [...extra.keys(), extra.length]), alphas: [...extra, 1] };
  return { embedClean, embedCorrupt, both: forwardRows(all, pair), points };
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
    const pair = await forwardPair(model, request.clean, request.corrupt, request.signal, request.method === 'eap-ig' ? request.steps : undefined);
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
  // The scores table [upstream, downstream], downstream in graph.downstream's order: per layer each head's q, each
  // key/value head's k and v, the MLP; then the logits. Each layer's columns are products of the upstream rows
  // before it (the prefix of graph.upstream that can feed it) with its gradients, summed over batch rows.
  const nUp = graph.upstream.length;
  const nDown = graph.downstream.length;
  const table = new Float64Array(nUp * nDown);
  const filled = new Int32Array(nDown); // per column: the upstream rows its products cover
  const { nHeads: H } = model.config;
  const before = (l: number): number => 1 + l * (H + 1); // embed and the earlier layers' heads and MLPs
  const addColumns = (products: Float32Array, stride: number, columns: number, first: number, rows: number, weight: number): void => {
    for (let u = 0; u < rows; u++) for (let c = 0; c < columns; c++) table[u * nDown + first + c]! += weight * products[u * stride + c]!;
    filled.fill(rows, first, first + columns);
  };
  const accumulate = (pass: EdgeProductPass, batch: number, weight: number): void => {
    for (let l = 0; l < L; l++) {
      const base = l * (S + 1);
      addColumns(pass.layers[l]!.qkv, S, S, base, before(l), weight); // [head + 2 kv_head]
      addColumns(pass.layers[l]!.mlp, 1, 1, base + S, before(l) + H, weight); // and this layer's heads
    }
    // The logits read the final residual, whose gradient is zero but at the last position.
    const last = (P - 1) * D;
    for (let u = 0; u < nUp; u++) {
      let sum = 0;
      for (let r = 0; r < batch; r++) for (let i = 0; i < D; i++) sum += upstream[u * K + last + i]! * pass.finalResid[r * K + last + i]!;
      table[u * nDown + nDown - 1]! += weight * sum;
    }
    filled[nDown - 1] = nUp;
  };
  const backward = async (forward: ForwardPass, weight: number, final?: FinalGradient): Promise<void> =>
    accumulate(
      await model.edgeProducts({
        forward,
        metrics: [x.metric],
        upstream,
        rows: (l) => before(l) + H,
        ...(final ? { final } : {}),
        ...(x.signal ? { signal: x.signal } : {}),
      }),
      forward.batch,
      weight,
    );
  if (x.method === 'eap') await backward(forwardRows(both, [1]), 1, x.pairFinal && finalRows(x.pairFinal, [1]));
  else {
    const done = new Set(x.points?.alphas ?? []);
    if (x.points) await backward(x.points.pass, 1 / x.steps);
    const rest = Array.from({ length: x.steps }, (_, k) => (k + 1) / x.steps).filter((alpha) => !done.has(alpha));
    for (let k0 = 0; k0 < rest.length; k0 += IG_CHUNK) {
      const alphas = rest.slice(k0, k0 + IG_CHUNK);
      throwIfCancelled(x.signal);
      await backward(await model.forward(interpolate(x.embedClean, x.embedCorrupt, alphas), alphas.length, x.signal), 1 / x.steps);
    }
  }
  throwIfCancelled(x.signal);
  return Float64Array.from(graph.edges, (e) => {
    if (e.from >= filled[e.to]!) throw new EngineError('INTERNAL', `Edge ${e.from} → ${e.to} reads an upstream node after its downstream node.`);
    return table[e.from * nDown + e.to]!;
  });
}

/** Rows [upstream, pos · d_model] in graph.upstream's order: embed, then per layer each head's z_h · W_O[h] and the MLP's output, clean − corrupt. */
function upstreamDifferences(x: EdgeScoreInput): Promise<Float32Array> {
  const embed = new Float32Array(x.embedClean.length);
  for (let i = 0; i < embed.length; i++) embed[i] = x.embedClean[i]! - x.embedCorrupt[i]!;
  return x.model.outputDifferences(x.both, embed);
}
