/**
 * Exact edge-level patching: run the clean prompt with every edge outside a circuit carrying its
 * corrupted value (Hanna et al. 2024's faithfulness check). Each reader v (a head's q, k or v input,
 * an MLP's input, the logits) reads
 *
 *   input_v = Σ_u [(u → v) in the circuit ? out_u(this run) : out_u(corrupted run)] + the biases
 *           = input_v(corrupted run) + Σ_{(u → v) in the circuit} (out_u(this run) − out_u(corrupted run)),
 *
 * so the empty circuit is the corrupted run and the circuit of every edge the clean run. The
 * writers' outputs of this run are computed layer by layer by split-input block graphs
 * (onnx/split-input-graphs.ts), each circuit a variant of one batched call per layer; the last
 * residual goes through the model's own final graph (ForwardRunner.intervene from the last layer).
 */
import * as ort from 'onnxruntime-node';
import { EngineError, throwIfCancelled } from '../errors.js';
import { graphFamily } from '../model/config.js';
import type { CanonicalModel } from '../model/weights.js';
import { metricOfLogits, type ResolvedMetric } from '../analysis/target-metric.js';
import { assertSplitInputSupported, attentionSlots, buildSplitAttentionGraph, buildSplitMlpGraph } from '../onnx/split-input-graphs.js';
import { embed } from '../runtime/embedding.js';
import { layerMasks } from '../runtime/forward-steps.js';
import { planHooks } from '../runtime/hook-plan.js';
import { f32 } from '../runtime/ort-tensors.js';
import { sessionOptions } from '../runtime/sessions.js';
import type { ForwardRunner } from '../runtime/types.js';
import { EdgeGraph } from './edge-graph.js';

export interface EdgePatchRequest {
  clean: readonly number[];
  corrupt: readonly number[];
  metric: ResolvedMetric;
  /** One circuit a variant: membership over EdgeGraph.edges (non-zero: the edge carries this run's value). */
  circuits: readonly Uint8Array[];
  signal?: AbortSignal;
}

export interface EdgePatchResult {
  /** The metric of the clean and the corrupted prompt (the full and the empty circuit). */
  clean: number;
  corrupt: number;
  /** The metric of each circuit, in the request's order. */
  values: number[];
}

/** A run's writers and readers: what the circuits' variants read from the corrupted run. */
interface RunRecord {
  /** Per upstream node (EdgeGraph.upstream order), its output [q, d_model]. */
  outputs: Float32Array[];
  /** Per layer, the residual stream its heads read (resid_pre) and its MLP reads (resid_mid, or resid_pre with a parallel residual), [q, d_model]. */
  headInput: Float32Array[];
  mlpInput: Float32Array[];
  /** The residual stream before the final norm, [q, d_model]. */
  final: Float32Array;
}

export class EdgePatcher {
  readonly graph: EdgeGraph;
  /** Per reader (EdgeGraph.downstream order), the index of its first edge; one more entry, the edge count. */
  private readonly readerEdges: number[];

  private constructor(
    private readonly model: Pick<CanonicalModel, 'config'> & { weights: ForwardRunner['weights'] },
    private readonly runner: ForwardRunner,
    private readonly attention: readonly ort.InferenceSession[],
    private readonly mlp: readonly ort.InferenceSession[],
  ) {
    this.graph = new EdgeGraph(model.config);
    this.readerEdges = this.graph.downstream.map(() => 0);
    for (let i = this.graph.edges.length - 1; i >= 0; i--) this.readerEdges[this.graph.edges[i]!.to] = i;
    this.readerEdges.push(this.graph.edges.length);
  }

  /**
   * Builds the split-input graphs from `model`'s weights (read once, here: ONNX Runtime keeps its
   * own copy, so the canonical weights may be dropped afterwards) for the model `runner` runs.
   */
  static async create(model: CanonicalModel, runner: ForwardRunner): Promise<EdgePatcher> {
    assertSplitInputSupported(model.config);
    const opts = sessionOptions(runner.provider, undefined);
    const attention: ort.InferenceSession[] = [];
    const mlp: ort.InferenceSession[] = [];
    try {
      for (let layer = 0; layer < model.config.nLayers; layer++) {
        for (const [build, into] of [
          [buildSplitAttentionGraph, attention],
          [buildSplitMlpGraph, mlp],
        ] as const) {
          const graph = build(model.config, model.weights.blocks[layer]!, layer);
          into.push(await ort.InferenceSession.create(graph.model, { ...opts, externalData: graph.externalData.map((e) => ({ path: e.path, data: e.data })) }));
        }
      }
    } catch (error) {
      await Promise.all([...attention, ...mlp].map((s) => s.release().catch(() => undefined)));
      throw new EngineError('INTERNAL', `ONNX Runtime could not create the edge-patching graphs: ${(error as Error).message}`);
    }
    return new EdgePatcher({ config: model.config, weights: runner.weights }, runner, attention, mlp);
  }

  /** The metric of every circuit of the request, with the clean and corrupted baselines. */
  async run(request: EdgePatchRequest): Promise<EdgePatchResult> {
    const { clean, corrupt, circuits, signal } = request;
    if (clean.length !== corrupt.length || clean.length === 0) {
      throw new EngineError(
        'BAD_ARGUMENT',
        `The clean and corrupted prompts must be the same non-zero length (got ${clean.length} and ${corrupt.length} tokens).`,
      );
    }
    for (const c of circuits) {
      if (c.length !== this.graph.edges.length)
        throw new EngineError('BAD_ARGUMENT', `A circuit must say for each of the ${this.graph.edges.length} edges whether it is in.`);
    }
    const corrupted = await this.record(corrupt, signal);
    const cleanRun = await this.record(clean, signal);
    const patched = circuits.length > 0 ? await this.patchedFinals(clean, corrupted, circuits, signal) : [];
    const metrics = await this.metrics(clean, [cleanRun.final, corrupted.final, ...patched], request.metric);
    return { clean: metrics[0]!, corrupt: metrics[1]!, values: metrics.slice(2) };
  }

  /** The clean run's or the corrupted run's writers and readers (every reader reads the residual stream). */
  private async record(ids: readonly number[], signal: AbortSignal | undefined): Promise<RunRecord> {
    const { nLayers, dModel: D } = this.model.config;
    const Q = ids.length;
    const masks = layerMasks(this.model.config, Q, 0);
    let resid = this.embedding(ids);
    const outputs: Float32Array[] = [resid.slice()];
    const headInput: Float32Array[] = [],
      mlpInput: Float32Array[] = [];
    const { slots } = attentionSlots(this.model.config);
    for (let layer = 0; layer < nLayers; layer++) {
      throwIfCancelled(signal);
      headInput.push(resid);
      const split = new Float32Array(slots * Q * D);
      for (let s = 0; s < slots; s++) split.set(resid, s * Q * D);
      const results = await this.attentionCall(layer, split, 1, Q, masks[layer]!);
      const heads = this.headOutputs(results, 0, Q);
      outputs.push(...heads);
      const attnOut = this.attentionSum(heads, layer, Q);
      const mid = add(resid, attnOut);
      const mlpIn = this.model.config.parallelResidual === true ? resid : mid;
      mlpInput.push(mlpIn);
      const mlpOut = await this.mlpCall(layer, mlpIn, 1, Q);
      outputs.push(mlpOut);
      resid = add(mid, mlpOut);
    }
    return { outputs, headInput, mlpInput, final: resid };
  }

  /** Every circuit's last residual stream, the circuits run as the variants of one call per layer and sublayer. */
  private async patchedFinals(
    clean: readonly number[],
    corrupted: RunRecord,
    circuits: readonly Uint8Array[],
    signal: AbortSignal | undefined,
  ): Promise<Float32Array[]> {
    const { nLayers, nHeads: H, dModel: D } = this.model.config;
    const Q = clean.length,
      B = circuits.length,
      size = Q * D;
    const masks = layerMasks(this.model.config, Q, 0);
    const { slots } = attentionSlots(this.model.config);
    // Per circuit and upstream node: out_u(this run) − out_u(corrupted run), filled as the run reaches u;
    // and per circuit the sum of those deltas so far (every reader is fed by a prefix of the writers).
    const embedDelta = sub(this.embedding(clean), corrupted.outputs[0]!);
    const deltas: Float32Array[][] = circuits.map(() => [embedDelta]);
    const sums = circuits.map(() => embedDelta.slice());
    /**
     * Reader `v`'s input for circuit `c`: the corrupted run's plus the in-circuit writers' deltas,
     * added one by one, or as the sum of every feeder's delta less the out-of-circuit ones when those
     * are fewer (a large circuit then costs as little as a small one).
     */
    const readerInput = (c: number, v: number, base: Float32Array, into: Float32Array, offset: number): void => {
      const circuit = circuits[c]!;
      const first = this.readerEdges[v]!,
        feeders = this.readerEdges[v + 1]! - first; // the reader's edges come from writers 0..feeders-1, in order
      let kept = 0;
      for (let u = 0; u < feeders; u++) if (circuit[first + u] !== 0) kept++;
      into.set(base, offset);
      const complement = kept > feeders - kept;
      if (complement) {
        const sum = sums[c]!;
        for (let i = 0; i < size; i++) into[offset + i]! += sum[i]!;
      }
      for (let u = 0; u < feeders; u++) {
        if ((circuit[first + u] !== 0) === complement) continue;
        const delta = deltas[c]![u]!;
        if (complement) for (let i = 0; i < size; i++) into[offset + i]! -= delta[i]!;
        else for (let i = 0; i < size; i++) into[offset + i]! += delta[i]!;
      }
    };
    /** Records writer `u`'s delta for circuit `c` and adds it to the circuit's running sum. */
    const record = (c: number, u: number, delta: Float32Array): void => {
      deltas[c]![u] = delta;
      const sum = sums[c]!;
      for (let i = 0; i < size; i++) sum[i]! += delta[i]!;
    };
    const parallel = this.model.config.parallelResidual === true;
    let v = 0; // downstream index of the current layer's first reader
    for (let layer = 0; layer < nLayers; layer++) {
      throwIfCancelled(signal);
      const split = new Float32Array(B * slots * size);
      for (let c = 0; c < B; c++) for (let s = 0; s < slots; s++) readerInput(c, v + s, corrupted.headInput[layer]!, split, (c * slots + s) * size);
      const results = await this.attentionCall(layer, split, B, Q, masks[layer]!);
      const firstHead = 1 + layer * (H + 1); // upstream index of this layer's head 0
      const heads = circuits.map((_, c) => this.headOutputs(results, c, Q).map((out, h) => sub(out, corrupted.outputs[firstHead + h]!)));
      // A parallel MLP reads resid_pre: its feeders stop before this layer's heads, so their deltas join the sums after it.
      if (!parallel) heads.forEach((perHead, c) => perHead.forEach((delta, h) => record(c, firstHead + h, delta)));
      const mlpIn = new Float32Array(B * size);
      for (let c = 0; c < B; c++) readerInput(c, v + slots, corrupted.mlpInput[layer]!, mlpIn, c * size);
      if (parallel) heads.forEach((perHead, c) => perHead.forEach((delta, h) => record(c, firstHead + h, delta)));
      const mlpOut = await this.mlpCall(layer, mlpIn, B, Q);
      for (let c = 0; c < B; c++) record(c, firstHead + H, sub(mlpOut.subarray(c * size, (c + 1) * size), corrupted.outputs[firstHead + H]!));
      v += slots + 1;
    }
    return circuits.map((_, c) => {
      const final = new Float32Array(size);
      readerInput(c, v, corrupted.final, final, 0);
      return final;
    });
  }

  /** The metric of each last residual stream, through the model's own final norm and unembedding. */
  private async metrics(ids: readonly number[], finals: readonly Float32Array[], metric: ResolvedMetric): Promise<number[]> {
    const { nLayers, dModel: D } = this.model.config;
    const Q = ids.length;
    const results = await this.runner.intervene({
      ids,
      variants: finals.map((resid) => ({ startLayer: nLayers, startResid: { data: resid, shape: [Q, D] } })),
      hooks: ['logits'],
      logitPositions: [Q - 1],
    });
    return results.map((r) => metricOfLogits(metric, r.cache.get('logits')!.data));
  }

  /** Token (and position) embeddings of a prompt, [q, d_model]. */
  private embedding(ids: readonly number[]): Float32Array {
    const { nLayers, dModel: D } = this.model.config;
    return embed(this.model.weights, D, ids, 0, planHooks([], nLayers, graphFamily(this.model.config)), []);
  }

  /** Each head's output z_h · W_O[h] for `B` variants' readers `split` [b, slot, q, d_model]: [b, head, q, d_model]. */
  private async attentionCall(layer: number, split: Float32Array, B: number, Q: number, mask: ort.Tensor): Promise<Float32Array> {
    const { dModel: D } = this.model.config;
    const { slots } = attentionSlots(this.model.config);
    const out = await this.attention[layer]!.run({ split_in: f32(split, [B, slots, Q, D]), attn_mask: mask });
    return out['result']!.data as Float32Array;
  }

  private async mlpCall(layer: number, input: Float32Array, B: number, Q: number): Promise<Float32Array> {
    const out = await this.mlp[layer]!.run({ mlp_in: f32(input, [B, Q, this.model.config.dModel]) });
    return out['mlp_out']!.data as Float32Array;
  }

  /** Variant `c`'s heads' outputs from a [b, head, q, d_model] result, one [q, d_model] array each. */
  private headOutputs(results: Float32Array, c: number, Q: number): Float32Array[] {
    const { nHeads: H, dModel: D } = this.model.config;
    return Array.from({ length: H }, (_, h) => results.slice((c * H + h) * Q * D, (c * H + h + 1) * Q * D));
  }

  /** hook_attn_out: the heads' outputs plus b_O, [q, d_model]. */
  private attentionSum(heads: readonly Float32Array[], layer: number, Q: number): Float32Array {
    const D = this.model.config.dModel;
    const bias = this.model.weights.blocks[layer]!.b_O.data;
    const sum = new Float32Array(Q * D);
    for (let p = 0; p < Q; p++) sum.set(bias, p * D);
    for (const out of heads) for (let i = 0; i < sum.length; i++) sum[i]! += out[i]!;
    return sum;
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.attention, ...this.mlp].map((s) => s.release()));
  }
}

function add(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

function sub(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! - b[i]!;
  return out;
}
