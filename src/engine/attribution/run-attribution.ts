/**
 * Attribution patching (AtP, AtP*) and edge attribution (EAP, EAP-IG) of a clean and a corrupted
 * prompt, from the gradient graphs (runtime/gradient-model.ts):
 *  1. one forward of both prompts (batch rows clean, corrupt), every block hook point kept;
 *  2. the metric of both;
 *  3. node scores: the corrupted run's backward (with GradDrop, one more batch row per layer, each
 *     dropping that layer's gradient), scored layer by layer as each layer's gradients arrive and
 *     streamed through onEntries, last layer first;
 *     edge scores: edge-scores.ts.
 * Cancellable between engine calls (EngineError CANCELLED).
 */
import { EdgeGraph } from '../circuits/edge-graph.js';
import { EngineError, throwIfCancelled } from '../errors.js';
import { defaultMetricCoefficients, type BlockGradients, type GradientModel, type GradientOutput } from '../runtime/gradient-model.js';
import { checkIds } from '../runtime/prompt-checks.js';
import type { ModelConfig } from '../model/config.js';
import {
  ATTRIBUTION_KINDS,
  ATTRIBUTION_METHODS,
  DEFAULT_IG_STEPS,
  type AttributionKind,
  MAX_IG_STEPS,
  type AttributionOptions,
  type AttributionRequest,
  type AttributionResult,
  type NodeScore,
} from './attribution-types.js';
import { edgeScores, forwardPair } from './edge-scores.js';
import { finalRows, forwardRows } from './forward-rows.js';
import { layerNodeScores, type RowValues } from './node-scores.js';

/** Checks a request before any run, with typed errors naming the problem. */
export function checkAttributionRequest(request: AttributionRequest, nLayers: number): void {
  const { method, kind } = request;
  if (!(ATTRIBUTION_METHODS as readonly string[]).includes(method))
    throw new EngineError('BAD_ARGUMENT', `Unknown attribution method "${method}".`, `Use one of ${ATTRIBUTION_METHODS.join(', ')}.`);
  if (!(ATTRIBUTION_KINDS as readonly string[]).includes(kind))
    throw new EngineError('BAD_ARGUMENT', `Unknown attribution kind "${kind}".`, `Use one of ${ATTRIBUTION_KINDS.join(', ')}.`);
  const edgeMethod = method === 'eap' || method === 'eap-ig';
  if (edgeMethod !== (kind === 'edges'))
    throw new EngineError(
      'BAD_ARGUMENT',
      edgeMethod ? `${method} scores edges, not ${kind}.` : `${method} scores nodes, not edges.`,
      'Use --method eap or eap-ig with --kind edges, and atp or atp-star with the other kinds.',
    );
  if (request.cleanIds.length !== request.corruptIds.length)
    throw new EngineError(
      'LENGTH_MISMATCH',
      `The clean prompt is ${request.cleanIds.length} tokens and the corrupted prompt ${request.corruptIds.length}; attribution needs the same length.`,
      'Edit the corrupted prompt so that it tokenizes to as many tokens as the clean one.',
    );
  if (request.steps !== undefined) {
    if (method !== 'eap-ig') throw new EngineError('BAD_ARGUMENT', `Interpolation steps apply to eap-ig only, not ${method}.`);
    if (!Number.isInteger(request.steps) || request.steps < 1 || request.steps > MAX_IG_STEPS)
      throw new EngineError('BAD_ARGUMENT', `EAP-IG's steps must be a whole number from 1 to ${MAX_IG_STEPS} (got ${request.steps}).`);
  }
  if (request.perPosition && kind !== 'heads')
    throw new EngineError(
      'BAD_ARGUMENT',
      `Per-position scores apply to heads; ${kind} scores are ${kind === 'neurons' ? 'summed over positions' : 'per position already'}.`,
    );
  if (request.gradDrop && method !== 'atp-star') throw new EngineError('BAD_ARGUMENT', 'GradDrop is part of atp-star.');
  if (request.gradDrop && nLayers < 2) throw new EngineError('BAD_ARGUMENT', 'GradDrop needs a model of at least two layers.');
}

/** A model's edge graph and its edges' names, made once per model. */
const edgeGraphs = new WeakMap<ModelConfig, { graph: EdgeGraph; names: ReadonlyArray<{ from: string; to: string }> }>();

function edgeGraphOf(config: ModelConfig): { graph: EdgeGraph; names: ReadonlyArray<{ from: string; to: string }> } {
  let made = edgeGraphs.get(config);
  if (made === undefined) {
    const graph = new EdgeGraph(config);
    edgeGraphs.set(config, (made = { graph, names: graph.edges.map((e) => graph.edgeName(e)) }));
  }
  return made;
}

export async function runAttribution(model: GradientModel, request: AttributionRequest, options: AttributionOptions = {}): Promise<AttributionResult> {
  return (await attribute(model, request, [request.kind], options))[0]!;
}

type NodeKind = Exclude<AttributionKind, 'edges'>;

/**
 * Node attribution of several kinds (heads per position and MLP neurons, say) from one forward and
 * one backward pass: one result per kind, in order, each as runAttribution would give it (perPosition
 * applies to heads). onEntries streams every kind's entries.
 */
export async function runNodeAttributions(
  model: GradientModel,
  request: Omit<AttributionRequest, 'kind'>,
  kinds: readonly NodeKind[],
  options: AttributionOptions = {},
): Promise<AttributionResult[]> {
  if (kinds.length === 0) throw new EngineError('BAD_ARGUMENT', 'Name at least one kind of node to attribute.');
  return attribute(model, { ...request, kind: kinds[0]! }, kinds, options);
}

async function attribute(
  model: GradientModel,
  request: AttributionRequest,
  kinds: readonly AttributionKind[],
  options: AttributionOptions,
): Promise<AttributionResult[]> {
  const started = performance.now();
  const { config } = model;
  const { nLayers: L } = config;
  for (const kind of kinds) checkAttributionRequest({ ...request, kind, ...(kind === 'heads' ? {} : { perPosition: false }) }, L);
  checkIds(request.cleanIds, config);
  checkIds(request.corruptIds, config);
  const { signal } = options;
  const metric = defaultMetricCoefficients(request.targetId, request.contrastId);
  const P = request.cleanIds.length;
  const igSteps = request.method === 'eap-ig' ? (request.steps ?? DEFAULT_IG_STEPS) : undefined;
  const { embedClean, embedCorrupt, both, points } = await forwardPair(model, request.cleanIds, request.corruptIds, signal, igSteps);
  throwIfCancelled(signal);
  const final = await model.finalGradient(both, [metric]);
  const [clean, corrupt] = final.metric;
  const result = (kind: AttributionKind, entries: AttributionResult['entries']): AttributionResult => ({
    method: request.method,
    kind,
    metric: { clean: clean!, corrupt: corrupt! },
    entries,
    elapsedMs: performance.now() - started,
  });

  if (request.kind === 'edges') {
    const { graph, names } = edgeGraphOf(config);
    const scores = await edgeScores({
      model,
      graph,
      embedClean,
      embedCorrupt,
      both,
      pairFinal: final,
      points,
      metric,
      method: request.method as 'eap' | 'eap-ig',
      steps: request.steps ?? DEFAULT_IG_STEPS,
      ...(signal ? { signal } : {}),
    });
    const entries = names.map(({ from, to }, i) => ({ from, to, score: scores[i]! }));
    options.onEntries?.(entries);
    return [result('edges', entries)];
  }

  // The corrupted row, once, or once per dropped layer after it (GradDrop).
  const gradDrop = request.gradDrop === true;
  const batch = gradDrop ? 1 + L : 1;
  const rows = new Array<number>(batch).fill(1);
  const forward = forwardRows(both, rows);
  const byLayer: NodeScore[][][] = kinds.map(() => new Array<NodeScore[]>(L));
  const rowOf =
    (data: (output: GradientOutput) => Float32Array | undefined, r: number, b: number): RowValues =>
    (output) => {
      const all = data(output);
      if (all === undefined) throw new EngineError('INTERNAL', `The gradient graphs of ${config.modelType} models have no ${output}.`);
      const size = all.length / b;
      return all.subarray(r * size, (r + 1) * size);
    };
  await model.backward({
    forward,
    metrics: [metric],
    splitInputs: false,
    final: finalRows(final, rows),
    ...(gradDrop ? { dropLayer: [null, ...Array.from({ length: L }, (_, l) => l)] } : {}),
    ...(signal ? { signal } : {}),
    onLayer: (layer: number, grads: BlockGradients) => {
      const values = both.layers[layer]!;
      const score = (kind: NodeKind, r: number): NodeScore[] =>
        layerNodeScores({
          config,
          layer,
          positions: P,
          clean: rowOf((o) => values[o], 0, 2),
          corrupt: rowOf((o) => values[o], 1, 2),
          grad: rowOf((o) => grads[o], r, batch),
          kind,
          qkFix: request.method === 'atp-star',
          perPosition: kind === 'heads' && request.perPosition === true,
        });
      kinds.forEach((k, i) => {
        const kind = k as NodeKind;
        let entries: NodeScore[];
        if (!gradDrop) entries = score(kind, 0);
        else {
          // Kramár et al. eq. 11: (1 / (L − 1)) Σ_l |AtP with layer l's gradient dropped|; the node's own layer contributes 0.
          entries = score(kind, 1).map((e) => ({ ...e, score: Math.abs(e.score) / (L - 1) }));
          for (let l = 1; l < L; l++) score(kind, 1 + l).forEach((e, j) => (entries[j]!.score += Math.abs(e.score) / (L - 1)));
        }
        byLayer[i]![layer] = entries;
        options.onEntries?.(entries);
      });
    },
  });
  return kinds.map((kind, i) => result(kind, byLayer[i]!.flat()));
}
