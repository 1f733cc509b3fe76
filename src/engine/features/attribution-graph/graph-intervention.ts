/**
 * Interventions on an attribution graph's features, compared with what the graph predicts:
 * edits (set, scale, add a feature's activation at positions) run on the real model, with attention
 * frozen at the clean run's patterns (circuit-tracer's default) or recomputed, through the feature
 * steering of steer-features.ts; and per logit target of the graph the demeaned logit's change
 * against two linear predictions from the adjacency (A[t, s] is proportional to s's activation a_s):
 *
 *   direct      Δ_t = Σ_edited s  A[t, s] · (a'_s − a_s) / a_s
 *   propagated  the same through the graph's feature nodes in layer order: each unedited feature's
 *               pre-activation moves by Σ_s A[f, s] · Δa_s / a_s and its activation follows through a
 *               ReLU (it cannot fall below 0); then Δ_t = Σ_s A[t, s] · Δa_s / a_s over every changed node.
 *
 * Edits of features that are not nodes of the graph (inactive, or beyond the visited cap) are run
 * but have no prediction; they are listed.
 */
import { EngineError } from '../../errors.js';
import type { MatmulSessions } from '../../runtime/matmul-session.js';
import type { ForwardRunner } from '../../runtime/types.js';
import type { AppliedFeatureEdit, FeatureEdit } from '../../../protocol/features.js';
import type { Dictionary } from '../dictionary.js';
import { steerFeatures } from '../steer-features.js';
import type { AttributionGraphRun } from './attribution-graph.js';
import { frozenAttentionRunner } from './frozen-attention.js';

export interface LogitComparison {
  token: number;
  text: string;
  /** Demeaned logits (logit − mean over the vocabulary) at the last position. */
  clean: number;
  intervened: number;
  actual: number;
  predictedDirect: number;
  predictedPropagated: number;
}

export interface GraphInterventionResult {
  freezeAttention: boolean;
  applied: AppliedFeatureEdit[];
  logits: LogitComparison[];
  /** Applied edits whose feature is not a node of the graph (no prediction includes them). */
  notInGraph: AppliedFeatureEdit[];
}

function demeaned(logits: Float32Array, token: number): number {
  let mean = 0;
  for (const v of logits) mean += v;
  return logits[token]! - mean / logits.length;
}

export async function interveneOnGraph(
  runner: Pick<ForwardRunner, 'config' | 'weights' | 'forward' | 'intervene'>,
  matmul: MatmulSessions,
  dictionary: Dictionary,
  graph: AttributionGraphRun,
  edits: readonly FeatureEdit[],
  tokenText: (id: number) => string,
  options: { freezeAttention?: boolean; signal?: AbortSignal } = {},
): Promise<GraphInterventionResult> {
  if (edits.length === 0) throw new EngineError('BAD_ARGUMENT', 'An intervention needs at least one feature edit.');
  const freezeAttention = options.freezeAttention ?? true;
  const { replacement, adjacency } = graph;
  const ids = replacement.ids;
  const P = ids.length;
  const target = freezeAttention ? await frozenAttentionRunner(runner, ids) : runner;
  const steered = await steerFeatures(target, matmul, dictionary, ids, edits, { position: P - 1, ...(options.signal ? { signal: options.signal } : {}) });

  // Graph node of each active feature (visited ones only).
  const n = adjacency.nodes;
  const { features } = replacement;
  const nodeOf = new Map<string, number>();
  adjacency.selectedFeatures.forEach((f, j) => nodeOf.set(`${features.layer[f]}/${features.position[f]}/${features.feature[f]}`, j));
  const activationOf = (j: number): number => features.activation[adjacency.selectedFeatures[j]!]!;
  const nFeatureNodes = adjacency.selectedFeatures.length;
  const change = new Float64Array(nFeatureNodes); // Δa per feature node
  const edited = new Uint8Array(nFeatureNodes);
  const notInGraph: AppliedFeatureEdit[] = [];
  for (const a of steered.applied) {
    const j = nodeOf.get(`${a.layer}/${a.position}/${a.feature}`);
    if (j === undefined) {
      notInGraph.push(a);
      continue;
    }
    change[j] = a.after - activationOf(j);
    edited[j] = 1;
  }
  const A = adjacency.matrix;
  const effectOn = (row: number, delta: Float64Array): number => {
    let sum = 0;
    for (let s = 0; s < nFeatureNodes; s++) if (delta[s] !== 0) sum += (A[row * n + s]! * delta[s]!) / activationOf(s);
    return sum;
  };
  const direct = Float64Array.from(change, (d, j) => (edited[j] ? d : 0));
  const propagated = Float64Array.from(direct);
  for (let f = 0; f < nFeatureNodes; f++) {
    if (edited[f]) continue;
    const a = activationOf(f);
    const shift = effectOn(f, propagated);
    propagated[f] = Math.max(a + shift, 0) - a;
  }
  const logitStart = n - replacement.logits.tokens.length;
  const logits = replacement.logits.tokens.map((token, k): LogitComparison => {
    const clean = demeaned(steered.before, token);
    const intervened = demeaned(steered.after, token);
    return {
      token,
      text: tokenText(token),
      clean,
      intervened,
      actual: intervened - clean,
      predictedDirect: effectOn(logitStart + k, direct),
      predictedPropagated: effectOn(logitStart + k, propagated),
    };
  });
  return { freezeAttention, applied: steered.applied, logits, notInGraph };
}
