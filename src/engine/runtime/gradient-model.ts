/**
 * Gradients of a metric with respect to every hook point of a run, on ONNX Runtime: the gradient
 * graphs of onnx/gpt2-gradient-graphs.ts (GPT-2, GPT-Neo), onnx/llama-gradient-graphs.ts (Llama,
 * Mistral, Qwen2, Qwen3, Gemma) or onnx/neox-gradient-graphs.ts (GPT-NeoX, Pythia): a forward graph
 * per block and the final graphs, built when the model is created, and per block a backward graph of
 * each kind (exact with per-row split inputs, exact without them, frozen, edge attribution's), built
 * when first asked for; one session each. The weights reach the sessions as
 * inputs from the canonical model's arrays (WeightMode 'inputs'), so the forward and backward
 * sessions share one copy of them and the frozen (linearised) backward graphs can be built later,
 * when first asked for.
 *
 * A run takes a batch of b rows of input embeddings [b, p, d_model] (several prompts, or points
 * between two prompts) and per row the metric's coefficients, runs the forward block by block,
 * then the final graph and the blocks' backward graphs from the last layer down.
 */
import * as ort from 'onnxruntime-node';
import { EngineError, throwIfCancelled } from '../errors.js';
import { attentionWindowOf, graphFamily, type ModelConfig } from '../model/config.js';
import { ropeInverseFrequencies } from '../model/rope.js';
import type { BlockWeights, CanonicalModel, ModelWeights } from '../model/weights.js';
import type { BuiltGraph, WeightMode } from '../onnx/graph-builder.js';
import {
  BACKWARD_SAVED_OUTPUTS,
  BLOCK_GRADIENT_POINTS,
  buildGradientBackwardGraph,
  buildGradientEdgeGraph,
  buildGradientFinalGraph,
  buildGradientForwardGraph,
  type BlockGradientOutput,
  type GradientGraphOptions,
} from '../onnx/gpt2-gradient-graphs.js';
import { buildLlamaGradientFinalGraph, LLAMA_BLOCK_GRAPHS, rmsFamilyGradientPoints, type LlamaGradientOutput } from '../onnx/llama-gradient-graphs.js';
import { buildOutputDifferenceGraph } from '../onnx/output-difference-graph.js';
import { NEOX_BLOCK_GRAPHS, neoxGradientPoints } from '../onnx/neox-gradient-graphs.js';
import { embed } from './embedding.js';
import { layerMasks } from './forward-steps.js';
import { planHooks } from './hook-plan.js';
import { f32 } from './ort-tensors.js';
import { checkIds } from './prompt-checks.js';
import { sessionOptions } from './sessions.js';

/** What the metric reads from the last position's logits: m = Σ_t logit[t] · logit_t + Σ_t logProb[t] · log_softmax_t. */
export interface MetricCoefficients {
  logit: ReadonlyArray<readonly [token: number, coefficient: number]>;
  logProb: ReadonlyArray<readonly [token: number, coefficient: number]>;
}

/** The metric of patch-metric.ts: target − contrast logits with a contrast, else log p(target). */
export function defaultMetricCoefficients(targetId: number, contrastId: number | null): MetricCoefficients {
  return contrastId === null
    ? { logit: [], logProb: [[targetId, 1]] }
    : {
        logit: [
          [targetId, 1],
          [contrastId, -1],
        ],
        logProb: [],
      };
}

/** A block's hook point with a gradient: TransformerLens name within the block, graph output, shape after the batch. */
export interface GradientPoint {
  hook: string;
  output: GradientOutput;
  shape: ReadonlyArray<string | number>;
}

/** Every family's gradient outputs; GPT-2's are every family's, the rest (norm scales, rotated q/k, the gated MLP's up projection) some families'. */
export type GradientOutput = BlockGradientOutput | LlamaGradientOutput;

/**
 * One block's values for every batch row, [b, ...hook shape] each, by graph output name: the family's
 * extra points when it has them, and resid_mid except with a parallel residual (GPT-NeoX).
 */
export type BlockValues = Record<Exclude<BlockGradientOutput, 'resid_mid'>, Float32Array> & Partial<Record<GradientOutput, Float32Array>>;

export interface ForwardPass {
  batch: number;
  positions: number;
  /** Per layer: the hook points' values. */
  layers: BlockValues[];
  /** The residual stream after the last block, [b, p, d_model]. */
  finalResid: Float32Array;
}

export type BlockGradients = BlockValues & {
  /**
   * [head + 2 kv_head, b, p, d_model]: each query head's input, then each key/value head's key input,
   * then its value input (their own copies of resid_pre; kv_head = head without grouped-query attention).
   * Empty when the request asked for no split inputs (BackwardRequest.splitInputs) and the graphs left them out.
   */
  qkv_in: Float32Array;
  /** [b, p, d_model]: the MLP's input (its own copy of resid_mid); empty as qkv_in. */
  mlp_in: Float32Array;
};

/** What a backward pass reads of a forward pass: each block's input, the values its family's backward graphs read (GPT-2's products with the weights), and the final residual. */
export interface BackwardInput {
  batch: number;
  positions: number;
  layers: ReadonlyArray<Pick<BlockValues, 'resid_pre'> & Partial<BlockValues>>;
  finalResid: Float32Array;
}

export interface BackwardRequest {
  /** The forward pass whose gradients are wanted. */
  forward: BackwardInput;
  /** Per batch row, or one for every row. */
  metrics: readonly MetricCoefficients[];
  /** The linearised model: attention patterns and norm scales held constant. */
  frozen?: boolean;
  /**
   * Whether the gradients of the split inputs (qkv_in, mlp_in) are wanted (default true). Without
   * them the backward is cheaper and returns
   * them empty (length 0). Applies to the exact gradients.
   */
  splitInputs?: boolean;
  /** The rows' metric and final gradient from finalGradient (exact gradients only), so the final graph does not run again. */
  final?: FinalGradient;
  /** GradDrop: per batch row, the layer whose attn_out and mlp_out pass no gradient back (null: none). */
  dropLayer?: ReadonlyArray<number | null>;
  signal?: AbortSignal;
  /** Called as each layer's gradients are ready, last layer first. */
  onLayer?: (layer: number, gradients: BlockGradients) => void;
}

/** The metric of each row, [b], and its gradient with respect to the last position's residual stream after the last block, [b, d_model]. */
export interface FinalGradient {
  metric: Float64Array;
  gradient: Float32Array;
}

export interface BackwardPass {
  /** The metric of each row, [b]. */
  metric: Float64Array;
  /** Per layer (index = layer). */
  layers: BlockGradients[];
  /** The gradient of the residual stream after the last block (before ln_final), [b, p, d_model]. */
  finalResid: Float32Array;
}

/** Edge attribution's products (GradientModel.edgeProducts): upstream rows against the gradients of a layer's split inputs. */
export interface EdgeProductRequest {
  forward: BackwardInput;
  metrics: readonly MetricCoefficients[];
  final?: FinalGradient;
  /** Rows [n, p · d_model]: the upstream nodes' output differences, in the order the layers can read them. */
  upstream: Float32Array;
  /** How many of the first upstream rows layer l's products cover (at most n). */
  rows(layer: number): number;
  signal?: AbortSignal;
}

/** Per layer, the request's first rows(l) upstream rows times each split input's gradient summed over the batch rows. */
export interface EdgeProducts {
  /** [rows, head + 2 kv_head]: against each query head's input, then each key/value head's key input, then its value input. */
  qkv: Float32Array;
  /** [rows]: against the MLP's input. */
  mlp: Float32Array;
}

export interface EdgeProductPass {
  metric: Float64Array;
  layers: EdgeProducts[];
  /** The gradient of the residual stream after the last block, [b, p, d_model] (only the last position's is non-zero). */
  finalResid: Float32Array;
}

interface GraphSession {
  session: ort.InferenceSession;
  weights: Record<string, ort.Tensor>;
}

/** The final graphs of exact or of frozen gradients. */
interface FinalSessions {
  final: GraphSession;
  /** The final graph of metrics linear in the logits (GradientGraphOptions.direction); null where the logits are soft-capped. */
  linearFinal: GraphSession | null;
}

interface BackwardSet {
  blocks: GraphSession[];
  finals: FinalSessions;
}

/** How one graph family's gradient graphs are built and fed. */
interface GradientGraphs {
  points(config: ModelConfig): readonly GradientPoint[];
  forward(config: ModelConfig, w: BlockWeights, layer: number, mode?: WeightMode): BuiltGraph;
  backward(config: ModelConfig, w: BlockWeights, layer: number, options: GradientGraphOptions): BuiltGraph;
  final(config: ModelConfig, weights: ModelWeights, options: GradientGraphOptions): BuiltGraph;
  /** Inputs of a block's graphs beside the stream, the mask and the gradients (RoPE's tables), for `P` positions. */
  blockFeeds(config: ModelConfig, layer: number, P: number): Record<string, ort.Tensor>;
  /** The forward values a backward graph takes as inputs (beside resid_pre) rather than recomputing them. */
  saved?: readonly GradientOutput[];
  /** A block's backward that gives edge attribution's products itself (edge-products.ts's inputs and outputs). */
  edges(config: ModelConfig, w: BlockWeights, layer: number, mode?: WeightMode): BuiltGraph;
}

const GPT2_GRAPHS: GradientGraphs = {
  points: () => BLOCK_GRADIENT_POINTS,
  saved: BACKWARD_SAVED_OUTPUTS,
  forward: buildGradientForwardGraph,
  backward: buildGradientBackwardGraph,
  edges: buildGradientEdgeGraph,
  final: buildGradientFinalGraph,
  blockFeeds: () => ({}),
};

/** The Llama family and Gemma (which adds its post-norms, soft-caps and GeGLU from its config). */
const LLAMA_GRAPHS: GradientGraphs = {
  points: rmsFamilyGradientPoints,
  ...LLAMA_BLOCK_GRAPHS,
  final: buildLlamaGradientFinalGraph,
  blockFeeds: ropeFeeds,
};

/** GPT-NeoX: its own blocks (partial RoPE, parallel or sequential residual); its final LayerNorm and unembedding are GPT-2's. */
const NEOX_GRAPHS: GradientGraphs = {
  points: neoxGradientPoints,
  ...NEOX_BLOCK_GRAPHS,
  final: buildGradientFinalGraph,
  blockFeeds: ropeFeeds,
};

/** The gradient graphs of a model's family (every graph family has them). */
function gradientGraphsOf(config: ModelConfig): GradientGraphs {
  const family = graphFamily(config);
  switch (family) {
    case 'gpt2':
      return GPT2_GRAPHS;
    case 'llama':
    case 'gemma':
      return LLAMA_GRAPHS;
    case 'neox':
    case 'neox_sequential':
      return NEOX_GRAPHS;
  }
}

/**
 * rope_cos, rope_sin [P, R] of a layer: RoPE's angles at positions 0 .. P - 1 over the R rotary
 * dimensions (d_head, or GPT-NeoX's rotaryDims, whose frequencies are theta^(-2j / R)), each frequency
 * twice (rotate_half's pairing), computed in float64; Gemma 3's sliding layers have their own base.
 */
function ropeFeeds(config: ModelConfig, layer: number, P: number): Record<string, ort.Tensor> {
  const Dh = config.rotaryDims ?? config.dHead;
  const rotary = attentionWindowOf(config, layer) !== null && config.localRotary ? config.localRotary : config.rotary!;
  const inv = ropeInverseFrequencies(rotary, Dh);
  const half = inv.length;
  const cos = new Float32Array(P * Dh),
    sin = new Float32Array(P * Dh);
  for (let p = 0; p < P; p++)
    for (let j = 0; j < Dh; j++) {
      cos[p * Dh + j] = Math.cos(p * inv[j % half]!);
      sin[p * Dh + j] = Math.sin(p * inv[j % half]!);
    }
  return { rope_cos: f32(cos, [P, Dh]), rope_sin: f32(sin, [P, Dh]) };
}

/**
 * The model with every block matrix read once into memory: the Llama family's block matrices are
 * getters reading the checkpoint on each access (a spread reads each once into a plain property),
 * and the gradient graphs take them as inputs of every call, and attribution reads W_O, after the
 * checkpoint may be closed.
 */
function withBlocksInMemory(model: CanonicalModel): CanonicalModel {
  return { ...model, weights: { ...model.weights, blocks: model.weights.blocks.map((b) => ({ ...b })) } };
}

export class GradientModel {
  private exactPromise: Promise<BackwardSet> | null = null;
  private frozenPromise: Promise<BackwardSet> | null = null;
  private unsplitPromise: Promise<BackwardSet> | null = null;
  private edgesPromise: Promise<GraphSession[]> | null = null;
  private differencesPromise: Promise<GraphSession> | null = null;

  private constructor(
    private readonly model: CanonicalModel,
    private readonly graphs: GradientGraphs,
    private readonly options: GradientModelOptions,
    /** Whether the forward and edge graphs hold pre-packed weights (GradientModelOptions.prepack). */
    private readonly prepack: boolean,
    private readonly forwards: GraphSession[],
    /** The exact gradients' final graphs (the block graphs of each kind are built when first asked for). */
    private readonly finals: FinalSessions,
  ) {}

  /** Builds the gradient graphs of a model of any supported architecture. */
  static async create(canonical: CanonicalModel, options: GradientModelOptions = {}): Promise<GradientModel> {
    const graphs = gradientGraphsOf(canonical.config);
    const model = graphs === GPT2_GRAPHS ? canonical : withBlocksInMemory(canonical);
    const forwards: GraphSession[] = [];
    const prepack = options.prepack ?? blockBytes(model.config) <= PREPACK_MAX_BYTES;
    const forwardMode: WeightMode = prepack ? 'initializers' : 'inputs';
    for (let l = 0; l < model.config.nLayers; l++)
      forwards.push(await session(graphs.forward(model.config, model.weights.blocks[l]!, l, forwardMode), options));
    const finals = await finalSessions(model, graphs, false, options);
    return new GradientModel(model, graphs, options, prepack, forwards, finals);
  }

  /** The block hook points whose values and gradients the passes hold. */
  get points(): readonly GradientPoint[] {
    return this.graphs.points(this.config);
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  get weights(): ModelWeights {
    return this.model.weights;
  }

  /** The input embeddings (token plus position embedding; token embedding alone with rotary positions) of a prompt, [p, d_model]. */
  embed(ids: readonly number[]): Float32Array {
    checkIds(ids, this.config);
    const { dModel: D, nLayers } = this.config;
    return embed(this.weights, D, ids, 0, planHooks([], nLayers, graphFamily(this.config)), []);
  }

  /** The forward of `batch` rows of input embeddings [b, p, d_model], every block hook point kept. */
  async forward(embeddings: Float32Array, batch: number, signal?: AbortSignal): Promise<ForwardPass> {
    const { dModel: D, nLayers } = this.config;
    const P = embeddings.length / (batch * D);
    if (!Number.isInteger(P) || P < 1)
      throw new EngineError('BAD_ARGUMENT', `Embeddings of ${embeddings.length} values are not ${batch} rows of [positions, ${D}].`);
    const masks = layerMasks(this.config, P, 0);
    const layers: BlockValues[] = [];
    let resid: Float32Array = embeddings;
    for (let l = 0; l < nLayers; l++) {
      throwIfCancelled(signal);
      const { session: s, weights } = this.forwards[l]!;
      const out = await s.run({ resid_pre: f32(resid, [batch, P, D]), attn_mask: masks[l]!, ...this.graphs.blockFeeds(this.config, l, P), ...weights });
      const values = { resid_pre: resid } as BlockValues;
      for (const { output } of this.points) if (output !== 'resid_pre') values[output] = out[output]!.data as Float32Array;
      layers.push(values);
      resid = values.resid_post;
    }
    return { batch, positions: P, layers, finalResid: resid };
  }

  /** The metric of every row and its gradient with respect to every hook point of the forward pass. */
  async backward(request: BackwardRequest): Promise<BackwardPass> {
    const set = request.frozen ? await this.frozen() : request.splitInputs === false ? await this.unsplit() : await this.exact();
    const layers: BlockGradients[] = new Array(this.config.nLayers);
    const { metric, finalResid } = await this.runBackward(set.finals, request, request.frozen === true, async (l, feeds) => {
      const { session: s, weights } = set.blocks[l]!;
      const out = await s.run({ ...feeds, ...weights });
      const g = {
        resid_post: feeds['grad_resid_post']!.data as Float32Array,
        qkv_in: out['grad_qkv_in']?.data ?? new Float32Array(0),
        mlp_in: out['grad_mlp_in']?.data ?? new Float32Array(0),
      } as BlockGradients;
      for (const { output } of this.points) if (output !== 'resid_post') g[output] = out[`grad_${output}`]!.data as Float32Array;
      layers[l] = g;
      request.onLayer?.(l, g);
      return g.resid_pre;
    });
    return { metric, layers, finalResid };
  }

  /**
   * Edge attribution's products of a backward pass: per layer the first rows(l) upstream rows times
   * the gradients of its heads' q, k, v inputs and of its MLP's input, summed over the batch rows,
   * computed inside the family's edge graphs (the split inputs' gradients never leave them).
   */
  async edgeProducts(request: EdgeProductRequest): Promise<EdgeProductPass> {
    const { dModel: D, nLayers } = this.config;
    const K = request.forward.positions * D;
    const upstreamRows = (l: number): ort.Tensor => {
      const n = request.rows(l);
      if (!Number.isInteger(n) || n < 1 || n * K > request.upstream.length)
        throw new EngineError('INTERNAL', `Layer ${l}'s edge products ask for ${n} of ${request.upstream.length / K} upstream rows.`);
      return f32(request.upstream.subarray(0, n * K), [n, K]);
    };
    const layers: EdgeProducts[] = new Array(nLayers);
    const sessions = await this.edgeSessions();
    const { metric, finalResid } = await this.runBackward(this.finals, request, false, async (l, feeds) => {
      const { session: s, weights } = sessions[l]!;
      const out = await s.run({ ...feeds, upstream: upstreamRows(l), ...weights });
      layers[l] = { qkv: out['edge_qkv']!.data as Float32Array, mlp: out['edge_mlp']!.data as Float32Array };
      return out['grad_resid_pre']!.data as Float32Array;
    });
    return { metric, layers, finalResid };
  }

  /**
   * The final graph (unless the request brings its result) and the blocks' backward from the last
   * layer down: `runLayer` runs layer l's graph on its feeds and returns the gradient of its input.
   */
  private async runBackward(
    finals: FinalSessions,
    request: Pick<BackwardRequest, 'forward' | 'metrics' | 'final' | 'dropLayer' | 'signal'>,
    frozen: boolean,
    runLayer: (layer: number, feeds: Record<string, ort.Tensor>) => Promise<Float32Array>,
  ): Promise<{ metric: Float64Array; finalResid: Float32Array }> {
    const { forward, signal } = request;
    const { batch: b, positions: P } = forward;
    const { dModel: D, nLayers } = this.config;
    throwIfCancelled(signal);
    if (request.final && (frozen || request.final.metric.length !== b))
      throw new EngineError('INTERNAL', 'A backward pass takes a precomputed final gradient for its own rows of exact gradients only.');
    const { metric, gradient: lastGrad } = request.final ?? (await this.finalOf(finals, forward, request.metrics));
    // Only the last position reads the metric: the gradient of the other positions' final residual is 0.
    const finalGrad = new Float32Array(b * P * D);
    for (let r = 0; r < b; r++) finalGrad.set(lastGrad.subarray(r * D, (r + 1) * D), (r * P + P - 1) * D);

    const masks = layerMasks(this.config, P, 0);
    let grad: Float32Array = finalGrad;
    for (let l = nLayers - 1; l >= 0; l--) {
      throwIfCancelled(signal);
      const gate = new Float32Array(b).fill(1);
      request.dropLayer?.forEach((d, r) => {
        if (d === l) gate[r] = 0;
      });
      grad = await runLayer(l, {
        resid_pre: f32(forward.layers[l]!.resid_pre, [b, P, D]),
        attn_mask: masks[l]!,
        grad_resid_post: f32(grad, [b, P, D]),
        grad_gate: f32(gate, [b, 1, 1]),
        ...this.savedFeeds(forward, l),
        ...this.graphs.blockFeeds(this.config, l, P),
      });
    }
    return { metric, finalResid: finalGrad };
  }

  /**
   * Edge attribution's upstream rows [1 + layer · (head + 1), p · d_model] from a forward pass whose
   * rows 0 and 1 are the clean and corrupted runs: `embed` (the input embeddings' difference), then
   * per layer each head's (z_clean − z_corrupt) W_O[h] and the MLP's output difference.
   */
  async outputDifferences(pair: ForwardPass, embed: Float32Array): Promise<Float32Array> {
    const { dModel: D, nHeads: H, dHead: Dh, nLayers } = this.config;
    const P = pair.positions;
    if (pair.batch !== 2 || embed.length !== P * D) throw new EngineError('INTERNAL', 'Output differences take a pass of two rows and one row of embeddings.');
    this.differencesPromise ??= session(buildOutputDifferenceGraph(this.config, this.model.weights), this.options);
    const { session: s, weights } = await this.differencesPromise;
    const feeds: Record<string, ort.Tensor> = { embed: f32(embed, [1, P * D]), ...weights };
    for (let l = 0; l < nLayers; l++) {
      feeds[`z_${l}`] = f32(pair.layers[l]!.z, [2, P, H, Dh]);
      feeds[`mlp_out_${l}`] = f32(pair.layers[l]!.mlp_out, [2, P, D]);
    }
    return (await s.run(feeds))['upstream']!.data as Float32Array;
  }

  /** The edge graphs' sessions, built when first asked for. */
  private edgeSessions(): Promise<GraphSession[]> {
    this.edgesPromise ??= (async () => {
      const sessions: GraphSession[] = [];
      for (let l = 0; l < this.config.nLayers; l++)
        sessions.push(await session(this.graphs.edges(this.config, this.model.weights.blocks[l]!, l, this.prepack ? 'initializers' : 'inputs'), this.options));
      return sessions;
    })();
    return this.edgesPromise;
  }

  /** The forward values of layer l that its backward graph reads, [b, ...hook shape] each. */
  private savedFeeds(forward: BackwardInput, l: number): Record<string, ort.Tensor> {
    const { nHeads: H, dHead: Dh, dModel: D, dMlp: M } = this.config;
    const sizes: Record<string, number> = { pos: forward.positions, head: H, kv_head: this.config.nKvHeads ?? H, d_head: Dh, d_model: D, d_mlp: M };
    const feeds: Record<string, ort.Tensor> = {};
    for (const output of this.graphs.saved ?? []) {
      const data = forward.layers[l]![output];
      const point = this.points.find((p) => p.output === output);
      if (data === undefined || point === undefined) throw new EngineError('INTERNAL', `The backward pass of layer ${l} needs the forward's ${output}.`);
      feeds[output] = f32(data, [forward.batch, ...point.shape.map((d) => (typeof d === 'number' ? d : sizes[d]!))]);
    }
    return feeds;
  }

  /** The metric of every row of a forward pass and its gradient with respect to the last position's final residual (the final graph only). */
  finalGradient(forward: BackwardInput, metrics: readonly MetricCoefficients[]): Promise<FinalGradient> {
    return this.finalOf(this.finals, forward, metrics);
  }

  private async finalOf(finals: FinalSessions, forward: BackwardInput, metrics: readonly MetricCoefficients[]): Promise<FinalGradient> {
    const fin = await this.runFinal(finals, forward, metrics);
    return { metric: Float64Array.from(fin['metric']!.data as Float32Array), gradient: fin['grad_resid']!.data as Float32Array };
  }

  /** The metric of every row of a forward pass (the final graph only). */
  async metric(forward: BackwardInput, metrics: readonly MetricCoefficients[]): Promise<Float64Array> {
    const fin = await this.runFinal(this.finals, forward, metrics);
    return Float64Array.from(fin['metric']!.data as Float32Array);
  }

  /**
   * The final graph on the last position of every row: the metric and its gradient there. A metric
   * of logits alone (a logit difference) runs as its direction in the residual's space, without the
   * unembedding's product with the whole vocabulary.
   */
  private async runFinal(set: FinalSessions, forward: BackwardInput, metrics: readonly MetricCoefficients[]): Promise<ort.InferenceSession.OnnxValueMapType> {
    const { batch: b, positions: P } = forward;
    const { dModel: D, dVocab: V } = this.config;
    if (metrics.length !== 1 && metrics.length !== b)
      throw new EngineError('BAD_ARGUMENT', `Give one metric or one per batch row (${b}), not ${metrics.length}.`);
    const rowMetric = (r: number): MetricCoefficients => metrics[metrics.length === 1 ? 0 : r]!;
    const last = new Float32Array(b * D);
    for (let r = 0; r < b; r++) last.set(forward.finalResid.subarray((r * P + P - 1) * D, (r * P + P) * D), r * D);
    if (set.linearFinal && metrics.every((m) => m.logProb.length === 0)) {
      const unembed = this.weights.W_U_T.data; // [vocab, d_model]
      const bias = this.weights.b_U.data;
      const direction = new Float32Array(b * D);
      const offset = new Float32Array(b);
      const sum = new Float64Array(D);
      for (let r = 0; r < b; r++) {
        sum.fill(0);
        let constant = 0;
        for (const [token, c] of rowMetric(r).logit) {
          const t = checkToken(token, V);
          for (let d = 0; d < D; d++) sum[d]! += c * unembed[t * D + d]!;
          constant += c * bias[t]!;
        }
        direction.set(sum, r * D);
        offset[r] = constant;
      }
      return set.linearFinal.session.run({ resid: f32(last, [b, D]), direction: f32(direction, [b, D]), offset: f32(offset, [b]), ...set.linearFinal.weights });
    }
    const logitCoef = new Float32Array(b * V);
    const logprobCoef = new Float32Array(b * V);
    for (let r = 0; r < b; r++) {
      const m = rowMetric(r);
      for (const [token, c] of m.logit) logitCoef[r * V + checkToken(token, V)]! += c;
      for (const [token, c] of m.logProb) logprobCoef[r * V + checkToken(token, V)]! += c;
    }
    return set.final.session.run({
      resid: f32(last, [b, D]),
      logit_coef: f32(logitCoef, [b, V]),
      logprob_coef: f32(logprobCoef, [b, V]),
      ...set.final.weights,
    });
  }

  /** The exact backward graphs with the split inputs' gradients per row, built when first asked for. */
  private exact(): Promise<BackwardSet> {
    this.exactPromise ??= backwardSet(this.model, this.graphs, this.finals, { frozen: false, splitInputs: true }, this.options);
    return this.exactPromise;
  }

  /** The frozen (linearised) backward graphs and their own final graphs, built when first asked for. */
  private frozen(): Promise<BackwardSet> {
    this.frozenPromise ??= (async () =>
      backwardSet(this.model, this.graphs, await finalSessions(this.model, this.graphs, true, this.options), { frozen: true }, this.options))();
    return this.frozenPromise;
  }

  /** The exact backward graphs without the split inputs' gradients, built when first asked for. */
  private unsplit(): Promise<BackwardSet> {
    this.unsplitPromise ??= backwardSet(this.model, this.graphs, this.finals, { frozen: false, splitInputs: false }, this.options);
    return this.unsplitPromise;
  }

  async dispose(): Promise<void> {
    const sets = await Promise.all([this.exactPromise, this.frozenPromise, this.unsplitPromise].filter((p) => p !== null));
    const edges = [...((await this.edgesPromise) ?? []), ...(this.differencesPromise ? [await this.differencesPromise] : [])];
    const finals = [this.finals, ...sets.map((s) => s.finals)].flatMap((f) => [f.final, ...(f.linearFinal ? [f.linearFinal] : [])]);
    const all = new Set([...this.forwards, ...edges, ...sets.flatMap((s) => s.blocks), ...finals]);
    await Promise.all([...all].map((g) => g.session.release()));
  }
}

export interface GradientModelOptions {
  /** Intra-op threads (default: ONNX Runtime's choice). */
  threads?: number;
  /**
   * The forward graphs, and the edge graphs once edge attribution first runs, hold their own copy
   * of the block weights, which ONNX Runtime pre-packs for its matrix products (faster than weights
   * fed on every run, at the cost of that copy each); the other backward graphs share the model's
   * arrays. Default: when the block weights take at most PREPACK_MAX_BYTES (GPT-2 small, not GPT-2
   * medium or a 1B model).
   */
  prepack?: boolean;
}

const PREPACK_MAX_BYTES = 512 * 2 ** 20;

/** About the bytes of a model's block matrices in float32 (attention, and an MLP of up to three matrices). */
function blockBytes(config: ModelConfig): number {
  const { nLayers, dModel: D, dMlp: M } = config;
  return 4 * nLayers * (4 * D * D + 3 * D * M);
}

function checkToken(token: number, V: number): number {
  if (!Number.isInteger(token) || token < 0 || token >= V) throw new EngineError('BAD_ARGUMENT', `Token id ${token} is outside the vocabulary of ${V}.`);
  return token;
}

/** The block graphs of one kind of backward (GradientGraphOptions), with the final graphs they run after. */
async function backwardSet(
  model: CanonicalModel,
  graphs: GradientGraphs,
  finals: FinalSessions,
  kind: GradientGraphOptions,
  options: GradientModelOptions,
): Promise<BackwardSet> {
  const blocks: GraphSession[] = [];
  for (let l = 0; l < model.config.nLayers; l++) blocks.push(await session(graphs.backward(model.config, model.weights.blocks[l]!, l, kind), options));
  return { blocks, finals };
}

/** The final graphs of exact or frozen gradients. */
async function finalSessions(model: CanonicalModel, graphs: GradientGraphs, frozen: boolean, options: GradientModelOptions): Promise<FinalSessions> {
  return {
    final: await session(graphs.final(model.config, model.weights, { frozen }), options),
    linearFinal: model.config.finalSoftcap ? null : await session(graphs.final(model.config, model.weights, { frozen, direction: true }), options),
  };
}

async function session(graph: BuiltGraph, options: GradientModelOptions): Promise<GraphSession> {
  // The block sessions run one after another: each stops its pool's spinning when its run ends (sessions.ts), so it leaves the cores to the next.
  const s = await ort.InferenceSession.create(graph.model, {
    ...sessionOptions('cpu', options.threads),
    externalData: graph.externalData.map((e) => ({ path: e.path, data: e.data })),
  });
  return { session: s, weights: Object.fromEntries([...graph.weightFeeds].map(([name, w]) => [name, f32(w.data, w.dims)])) };
}
