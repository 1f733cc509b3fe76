/**
 * Gradient graphs of the GPT-2 family (GPT-2, GPT-Neo, the organism), written against the Tape
 * (autodiff.ts): per block a forward graph that returns every hook point, and a backward graph
 * that recomputes the block's cheap elementwise steps from its input and the forward's products
 * with the weight matrices (fed to it, not recomputed) and returns, for a batch of gradients of its output
 * (the residual stream after the block), the gradients of its input and of every hook point. A
 * final graph computes the metric from the last position's residual and its gradient.
 *
 * The backward graph gives every head's q, k and v its own copy of resid_pre, each normalised by
 * its own ln1 (TransformerLens's split q/k/v input): the gradients of those copies are the
 * gradients at the heads' q, k, v inputs that edge attribution reads, and their sum is the
 * gradient of resid_pre through the attention (normed-qkv-pullback.ts computes both without
 * materialising the copies). The MLP likewise reads its own copy of resid_mid. The edge graph
 * (buildGradientEdgeGraph) multiplies those gradients with edge attribution's upstream rows itself.
 *
 * Block graphs (b = batch rows, p = positions):
 *   in   resid_pre        [b, p, d_model]
 *        attn_mask        [p, p]               additive causal mask (0 or MASKED)
 *   backward only:
 *        grad_resid_post  [b, p, d_model]      gradient of the block's output
 *        grad_gate        [b, 1, 1]            multiplies the gradient flowing into attn_out and
 *                                              mlp_out (1: exact; 0 drops the layer, GradDrop)
 *        q, k, v          [b, p, head, d_head] the forward graph's values of the products with the
 *        attn_out         [b, p, d_model]      weight matrices (BACKWARD_SAVED_OUTPUTS), read
 *        mlp_pre          [b, p, d_mlp]        instead of recomputed
 *        mlp_out          [b, p, d_model]
 *   out  forward: the block's hook points (BLOCK_GRADIENT_POINTS' outputs) and resid_post;
 *        backward: `grad_<output>` of each, grad_resid_pre, and
 *        grad_qkv_in      [3 * head, b, p, d_model]  gradient of each head's q (then k, then v)
 *                                              input, its own copy of resid_pre
 *        grad_mlp_in      [b, p, d_model]      gradient of the MLP's input, its copy of resid_mid
 *                                              (these two unless splitInputs is false)
 * Final graph:
 *   in   resid            [b, d_model]         the residual stream at the last position
 *        logit_coef       [b, vocab]           m = Σ logit_coef · logits + Σ logprob_coef · log_softmax(logits)
 *        logprob_coef     [b, vocab]
 *   out  metric [b], grad_resid [b, d_model]
 */
import { attentionScoreScale, type ModelConfig } from '../model/config.js';
import type { BlockWeights, ModelWeights } from '../model/weights.js';
import { Tape, type TapeValue } from './autodiff.js';
import type { BuiltGraph, WeightMode } from './graph-builder.js';
import { addEdgeGraphOutputs } from './edge-products.js';
import { normedQkv, stackedSlots, type NormedQkv, type SlotGroup, type SplitInputs } from './normed-qkv-pullback.js';

/** A block's hook points that have gradients: TransformerLens name within the block, graph output, shape after the batch. */
export const BLOCK_GRADIENT_POINTS = [
  { hook: 'hook_resid_pre', output: 'resid_pre', shape: ['pos', 'd_model'] },
  { hook: 'attn.hook_q', output: 'q', shape: ['pos', 'head', 'd_head'] },
  { hook: 'attn.hook_k', output: 'k', shape: ['pos', 'head', 'd_head'] },
  { hook: 'attn.hook_v', output: 'v', shape: ['pos', 'head', 'd_head'] },
  { hook: 'attn.hook_pattern', output: 'pattern', shape: ['head', 'pos', 'pos'] },
  { hook: 'attn.hook_z', output: 'z', shape: ['pos', 'head', 'd_head'] },
  { hook: 'hook_attn_out', output: 'attn_out', shape: ['pos', 'd_model'] },
  { hook: 'hook_resid_mid', output: 'resid_mid', shape: ['pos', 'd_model'] },
  { hook: 'mlp.hook_pre', output: 'mlp_pre', shape: ['pos', 'd_mlp'] },
  { hook: 'mlp.hook_post', output: 'mlp_post', shape: ['pos', 'd_mlp'] },
  { hook: 'hook_mlp_out', output: 'mlp_out', shape: ['pos', 'd_model'] },
  { hook: 'hook_resid_post', output: 'resid_post', shape: ['pos', 'd_model'] },
] as const;

export type BlockGradientPoint = (typeof BLOCK_GRADIENT_POINTS)[number];
export type BlockGradientHook = BlockGradientPoint['hook'];
export type BlockGradientOutput = BlockGradientPoint['output'];

export interface GradientGraphOptions {
  /** The linearised model: attention patterns and norm scales are constants of the backward pass. */
  frozen: boolean;
  /**
   * Each head's q, k, v and the MLP read their own input copy, whose gradients are outputs
   * (grad_qkv_in, grad_mlp_in); default true. Without them (node attribution) the backward is
   * cheaper. Families whose graphs always have them ignore it.
   */
  splitInputs?: boolean;
  /**
   * Final graph only: the metric is linear in the logits (no log-probabilities), given per row as a
   * direction in the residual's space (Σ_t coefficient_t · W_U[:, t]) and an offset (the same sum of b_U),
   * so the graph reads neither the unembedding nor the vocabulary:
   *   in  direction [b, d_model], offset [b]   instead of logit_coef, logprob_coef
   */
  direction?: boolean;
}

/** The forward values a backward graph reads instead of recomputing them: the block's products with its weight matrices (biases added). */
export const BACKWARD_SAVED_OUTPUTS = ['q', 'k', 'v', 'attn_out', 'mlp_pre', 'mlp_out'] as const satisfies readonly BlockGradientOutput[];

/**
 * The block's forward on the tape. For a backward graph (`saved`) the products with the weight
 * matrices are graph inputs (BACKWARD_SAVED_OUTPUTS, the forward graph's values) rather than
 * recomputed, and `split` gives each head's q, k, v (and the MLP) its own input copy.
 */
function defineBlock(
  t: Tape,
  config: ModelConfig,
  w: BlockWeights,
  layer: number,
  saved: boolean,
  split: SplitInputs,
  frozen: boolean,
  gate: TapeValue | null,
) {
  const { nHeads: H, dModel: D, dHead: Dh, dMlp: M } = config;
  const residPre = t.input('resid_pre', ['b', 'p', D], true);
  const mask = t.input('attn_mask', ['p', 'p'], false);
  const gated = (x: TapeValue): TapeValue => (gate ? t.gradientGate(x, gate) : x);
  const savedInput = (output: (typeof BACKWARD_SAVED_OUTPUTS)[number], dims: readonly (number | string)[]): string => {
    t.g.input(output, 'float', ['b', ...dims]);
    return output;
  };
  /** x · W + bias, or in a backward graph the forward's value of it. */
  const linear = (
    x: TapeValue,
    weight: TapeValue,
    bias: () => TapeValue,
    output: (typeof BACKWARD_SAVED_OUTPUTS)[number],
    dims: readonly (number | string)[],
  ) => (saved ? t.savedProduct(savedInput(output, dims), x, weight) : t.add(t.matmul(x, weight), bias()));

  // q, k, v of every head, [3H, b, p, d_head]; in a backward graph the saved products (the saved q, k, v are
  // [b, p, head, d_head] each) with normed-qkv-pullback.ts's pullback, which also gives each head's own input gradient.
  let normed: NormedQkv | null = null;
  let qkv: TapeValue;
  if (saved) {
    const savedQkv = t.g.op1(
      'Concat',
      (['q', 'k', 'v'] as const).map((o) => t.g.op1('Transpose', [savedInput(o, ['p', H, Dh])], { perm: [2, 0, 1, 3] })),
      { axis: 0 },
    );
    const centred = t.sub(residPre, t.reduceMean(residPre, [-1]));
    const scale = t.sqrt(t.add(t.reduceMean(t.mul(centred, centred), [-1]), t.constant([config.eps]))); // ln1's, [b, p, 1]
    normed = normedQkv(t, residPre, frozen ? t.freeze(scale) : scale, {
      norm: 'layer',
      normWeight: w.ln1.w.data,
      normBias: w.ln1.b.data,
      groups: qkvGroups(w, H),
      dModel: D,
      dHead: Dh,
      saved: savedQkv,
      frozen,
      split,
    });
    qkv = normed.qkv;
  } else {
    const x1 = layerNorm(t, t.unsqueeze(residPre, 0), w.ln1.w.data, w.ln1.b.data, D, config.eps, 'ln1', frozen);
    const wQkv = t.weight('W_qkv', stackedSlots(qkvGroups(w, H), D, Dh), [3 * H, 1, D, Dh]);
    qkv = t.add(t.matmul(x1, wQkv), t.weight('b_qkv', stackHeads([w.b_Q.data, w.b_K.data, w.b_V.data]), [3 * H, 1, 1, Dh]));
  }
  const [q, k, v] = t.split(qkv, 0, [H, H, H]) as [TapeValue, TapeValue, TapeValue]; // [head, b, p, d_head] each

  const scores = t.add(t.scale(t.matmul(q, t.transpose(k, [0, 1, 3, 2])), attentionScoreScale(config, layer)), mask); // [head, b, query, key]
  const softmaxed = t.softmax(scores);
  const pattern = frozen ? t.freeze(softmaxed) : softmaxed;
  const zHeads = t.matmul(pattern, v); // [head, b, p, d_head]
  const z = t.transpose(zHeads, [1, 2, 0, 3]); // [b, p, head, d_head]
  const attnOut = linear(t.reshape(z, ['b', 'p', H * Dh]), t.weight('W_O', w.W_O.data, [H * Dh, D]), () => t.weight('b_O', w.b_O.data, [D]), 'attn_out', [
    'p',
    D,
  ]);
  const residMid = t.add(residPre, gated(attnOut));

  const mlpIn = split !== 'none' ? t.identity(residMid) : residMid;
  const x2 = layerNorm(t, mlpIn, w.ln2.w.data, w.ln2.b.data, D, config.eps, 'ln2', frozen);
  const pre = linear(x2, t.weight('W_in', w.W_in.data, [D, M]), () => t.weight('b_in', w.b_in.data, [M]), 'mlp_pre', ['p', M]);
  const post = activation(t, pre, config.actFn);
  const mlpOut = linear(post, t.weight('W_out', w.W_out.data, [M, D]), () => t.weight('b_out', w.b_out.data, [D]), 'mlp_out', ['p', D]);
  const residPost = t.add(residMid, gated(mlpOut));

  const tl = (x: TapeValue): TapeValue => t.transpose(x, [1, 2, 0, 3]); // [head, b, p, d_head] -> [b, p, head, d_head]
  const points: Record<BlockGradientOutput, TapeValue> = {
    resid_pre: residPre,
    q: tl(q),
    k: tl(k),
    v: tl(v),
    pattern: t.transpose(pattern, [1, 0, 2, 3]), // [b, head, query, key]
    z,
    attn_out: attnOut,
    resid_mid: residMid,
    mlp_pre: pre,
    mlp_post: post,
    mlp_out: mlpOut,
    resid_post: residPost,
  };
  return { points, normed, mlpIn, pattern, heads: { q, k, v } };
}

/** A block's forward: every hook point of BLOCK_GRADIENT_POINTS as an output. */
export function buildGradientForwardGraph(config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'inputs'): BuiltGraph {
  const t = new Tape(`fwd${layer}`, mode);
  const { points } = defineBlock(t, config, w, layer, false, 'none', false, null);
  for (const { output, shape } of BLOCK_GRADIENT_POINTS) {
    if (output === 'resid_pre') continue;
    t.g.output(t.g.op1('Identity', [points[output].name], {}, output), 'float', ['b', ...graphDims(shape, config)]);
  }
  return t.g.build();
}

/** A block's backward: the gradients of its input, every hook point and the split inputs, for a batch of output gradients. */
export function buildGradientBackwardGraph(
  config: ModelConfig,
  w: BlockWeights,
  layer: number,
  options: GradientGraphOptions,
  mode: WeightMode = 'inputs',
): BuiltGraph {
  const t = new Tape(`bwd${layer}`, mode);
  const { dModel: D, nHeads: H } = config;
  const gradOut = t.g.input('grad_resid_post', 'float', ['b', 'p', D]);
  const gate = t.input('grad_gate', ['b', 1, 1], false);
  const split = options.splitInputs ?? true;
  const block = defineBlock(t, config, w, layer, true, split ? 'rows' : 'none', options.frozen, gate);
  t.backward([[block.points.resid_post, gradOut]]);
  for (const { output, shape } of BLOCK_GRADIENT_POINTS) {
    if (output === 'resid_post') continue;
    // q, k, v and the pattern: their hook layouts are transposes that nothing downstream reads, so
    // their gradients are the transposed gradients of the head-major values.
    const grad =
      output === 'pattern'
        ? t.g.op1('Transpose', [t.gradient(block.pattern)], { perm: [1, 0, 2, 3] })
        : output === 'q' || output === 'k' || output === 'v'
          ? t.g.op1('Transpose', [t.gradient(block.heads[output])], { perm: [1, 2, 0, 3] })
          : t.gradient(block.points[output]);
    t.g.output(t.g.op1('Identity', [grad], {}, `grad_${output}`), 'float', ['b', ...graphDims(shape, config)]);
  }
  if (split) {
    t.g.output(t.g.op1('Identity', [block.normed!.splitInput()], {}, 'grad_qkv_in'), 'float', [3 * H, 'b', 'p', D]);
    t.g.output(t.g.op1('Identity', [t.gradient(block.mlpIn)], {}, 'grad_mlp_in'), 'float', ['b', 'p', D]);
  }
  return t.g.build();
}

/**
 * A block's backward for edge attribution: resid_pre's gradient, and the products of `upstream`
 * (rows [n, p · d_model]: output differences of the nodes before the block, then of its heads) with
 * the gradients of its heads' q, k, v inputs and of its MLP's input, each summed over the batch rows:
 *   in   upstream         [n, p · d_model]
 *   out  grad_resid_pre   [b, p, d_model]
 *        edge_qkv         [n, 3 * head]     Σ_b upstream · grad of each head's q (then k, then v) input
 *        edge_mlp         [n, 1]            Σ_b upstream · grad of the MLP's input
 * No other gradient leaves the graph, and the split inputs' gradients never do.
 */
export function buildGradientEdgeGraph(config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'inputs'): BuiltGraph {
  const t = new Tape(`edges${layer}`, mode);
  const { dModel: D, nHeads: H } = config;
  const gradOut = t.g.input('grad_resid_post', 'float', ['b', 'p', D]);
  const gate = t.input('grad_gate', ['b', 1, 1], false);
  const block = defineBlock(t, config, w, layer, true, 'sum', false, gate);
  t.backward([[block.points.resid_post, gradOut]]);
  addEdgeGraphOutputs(t, {
    slots: 3 * H,
    dModel: D,
    slotInputs: block.normed!.splitInput(),
    mlpInput: t.gradient(block.mlpIn),
    residPre: t.gradient(block.points.resid_pre),
  });
  return t.g.build();
}

/** ln_final, the unembedding and the metric at the last position, with the metric's gradient. */
export function buildGradientFinalGraph(
  config: ModelConfig,
  weights: Pick<ModelWeights, 'ln_final' | 'W_U_T' | 'b_U'>,
  options: GradientGraphOptions,
  mode: WeightMode = 'inputs',
): BuiltGraph {
  const t = new Tape('final', mode);
  const { dModel: D, dVocab: V } = config;
  const resid = t.input('resid', ['b', D], true);
  const y = layerNorm(t, resid, weights.ln_final.w.data, weights.ln_final.b.data, D, config.eps, 'ln_final', options.frozen);
  const metric = options.direction ? linearMetric(t, y, D) : vocabularyMetric(t, y, weights, V);
  const ones = t.g.op1('Add', [t.g.op1('Mul', [metric.name, t.g.constFloat([0], [])]), t.g.constFloat([1], [])]);
  t.backward([[metric, ones]]);
  t.g.output(t.g.op1('Identity', [metric.name], {}, 'metric'), 'float', ['b']);
  t.g.output(t.g.op1('Identity', [t.gradient(resid)], {}, 'grad_resid'), 'float', ['b', D]);
  return t.g.build();
}

/** [b]: the metric of a linear metric's direction and offset (GradientGraphOptions.direction) at the final normalised residual y [b, d_model]. */
export function linearMetric(t: Tape, y: TapeValue, D: number): TapeValue {
  const direction = t.input('direction', ['b', D], false);
  const offset = t.input('offset', ['b'], false);
  return t.add(t.reduceSum(t.mul(y, direction), [1], false), offset);
}

/** [b]: Σ logit_coef · logits + Σ logprob_coef · log_softmax(logits), the logits y W_U + b_U. */
function vocabularyMetric(t: Tape, y: TapeValue, weights: Pick<ModelWeights, 'W_U_T' | 'b_U'>, V: number): TapeValue {
  const D = y.shape[1] as number;
  const logitCoef = t.input('logit_coef', ['b', V], false);
  const logprobCoef = t.input('logprob_coef', ['b', V], false);
  const bias = weights.b_U.data.some((x) => x !== 0) ? t.weight('b_U', weights.b_U.data, [V]) : undefined;
  const logits = t.matmulTransposed(y, t.weight('W_U_T', weights.W_U_T.data, [V, D]), bias); // [b, vocab]
  const weighted = t.add(t.mul(logits, logitCoef), t.mul(t.logSoftmax(logits), logprobCoef));
  return t.reduceSum(weighted, [1], false);
}

/** LayerNorm over the last axis, written out so the tape differentiates it (frozen: the scale is a constant). */
function layerNorm(t: Tape, x: TapeValue, w: Float32Array, b: Float32Array, D: number, eps: number, name: string, frozen: boolean): TapeValue {
  const centred = t.sub(x, t.reduceMean(x, [-1]));
  const scale = t.sqrt(t.add(t.reduceMean(t.mul(centred, centred), [-1]), t.constant([eps])));
  const normalized = t.div(centred, frozen ? t.freeze(scale) : scale);
  return t.add(t.mul(normalized, t.weight(`${name}_w`, w, [D])), t.weight(`${name}_b`, b, [D]));
}

function activation(t: Tape, x: TapeValue, fn: ModelConfig['actFn']): TapeValue {
  const half = (inner: TapeValue): TapeValue => t.mul(t.scale(x, 0.5), t.add(t.constant([1]), inner));
  switch (fn) {
    case 'gelu_new': // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
      return half(t.tanh(t.scale(t.add(x, t.scale(t.mul(x, t.mul(x, x)), 0.044715)), Math.sqrt(2 / Math.PI))));
    case 'gelu': // 0.5 x (1 + erf(x / sqrt 2))
      return half(t.erf(t.scale(x, Math.SQRT1_2)));
    case 'relu':
      return t.relu(x);
    case 'silu':
      return t.mul(x, t.sigmoid(x));
  }
}

/** A block's q, k and v heads as reader slot groups (normed-qkv-pullback.ts). */
function qkvGroups(w: BlockWeights, H: number): SlotGroup[] {
  return [w.W_Q, w.W_K, w.W_V].map((matrix, i) => ({ W: matrix.data, b: [w.b_Q, w.b_K, w.b_V][i]!.data, heads: H }));
}

/** [head, ...] arrays of q, k and v stacked as [3 * head, ...]. */
function stackHeads(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function graphDims(shape: readonly string[], config: ModelConfig): Array<number | string> {
  const sizes: Record<string, number | string> = { pos: 'p', head: config.nHeads, d_head: config.dHead, d_model: config.dModel, d_mlp: config.dMlp };
  return shape.map((d) => sizes[d]!);
}
