/**
 * Gradient graphs of the Llama family (Llama, Mistral, Qwen2, Qwen3) and Gemma (2, 3), written against the Tape
 * (autodiff.ts) as gpt2-gradient-graphs.ts writes GPT-2's: per block a forward graph that returns
 * every hook point, and a backward graph that recomputes the block from its input and returns, for
 * a batch of gradients of its output, the gradients of its input, of every hook point and of each
 * reader's own copy of its input. A final graph computes the metric and its gradient.
 *
 * The block is HF's LlamaDecoderLayer: RMSNorm (x / sqrt(mean(x^2) + eps) * w), q/k/v projections
 * (Qwen2's biases), Qwen3's per-head q/k RMSNorm, RoPE (x cos + rotate_half(x) sin), grouped-query
 * attention (query head h reads key/value head floor(h / (head / kv_head))), the causal mask with
 * Mistral's sliding window, o_proj (with a bias under attention_bias), and the SwiGLU MLP
 * down(silu(gate(x)) * up(x)). Gemma's decoder layer adds, from the model's config: scores scaled by
 * query_pre_attn_scalar^-½ and soft-capped (cap · tanh(s / cap)) before the mask, RMSNorm of the
 * attention output and of the MLP output before each joins the residual stream (ln1_post, ln2_post;
 * hook_attn_out and hook_mlp_out are after them), GeGLU with the tanh GELU, its own RoPE base on
 * sliding layers (rope_cos / rope_sin are fed per layer), and the final logits' soft-cap. Its norm
 * weights are the canonical 1 + w, so its RMSNorm is the Llama family's.
 *
 * The backward graph gives every query head, every key/value head's key and every key/value head's
 * value its own copy of resid_pre, each normalised by its own ln1 (TransformerLens's split q/k/v
 * input, with grouped-query attention's keys and values read per key/value head, as EAP's
 * `L5KV1.k` nodes and the edge patcher's slots are); the MLP reads its own copy of resid_mid.
 *
 * Block graphs (b = batch rows, p = positions, S = head + 2 kv_head reader slots):
 *   in   resid_pre        [b, p, d_model]
 *        attn_mask        [p, p]                additive causal mask (with the layer's window)
 *        rope_cos         [p, d_head]           cos and sin of RoPE's angles at positions 0 .. p - 1,
 *        rope_sin         [p, d_head]           each frequency twice (rotate_half's pairing j, j + d_head / 2)
 *   backward only:
 *        grad_resid_post  [b, p, d_model]
 *        grad_gate        [b, 1, 1]             1: exact; 0 drops the layer's attn_out and mlp_out (GradDrop)
 *   out  forward: every point of the model's points (rmsFamilyGradientPoints) but resid_pre;
 *        backward: `grad_<output>` of every point but resid_post, and
 *        grad_qkv_in      [S, b, p, d_model]    each query head's input, then each kv head's key input,
 *                                               then each kv head's value input
 *        grad_mlp_in      [b, p, d_model]
 * Final graph: as gpt2-gradient-graphs.ts's, with RMSNorm for ln_final.
 */
import type { ModelConfig } from '../model/config.js';
import type { BlockWeights, ModelWeights } from '../model/weights.js';
import { Tape, type TapeValue } from './autodiff.js';
import { linearMetric, type GradientGraphOptions } from './gpt2-gradient-graphs.js';
import type { BuiltGraph, WeightMode } from './graph-builder.js';
import type { SplitInputs } from './normed-qkv-pullback.js';
import { rotaryAttention, rotaryBlockGraphs, rotaryBlockInputs, rotarySlots, softcap, type PointValue } from './rotary-gradient-blocks.js';

/** A block's hook points that have gradients: TransformerLens name within the block, graph output, shape after the batch. */
export const LLAMA_GRADIENT_POINTS = [
  { hook: 'hook_resid_pre', output: 'resid_pre', shape: ['pos', 'd_model'] },
  { hook: 'ln1.hook_scale', output: 'ln1_scale', shape: ['pos', 1] },
  { hook: 'attn.hook_q', output: 'q', shape: ['pos', 'head', 'd_head'] },
  { hook: 'attn.hook_k', output: 'k', shape: ['pos', 'kv_head', 'd_head'] },
  { hook: 'attn.hook_v', output: 'v', shape: ['pos', 'kv_head', 'd_head'] },
  { hook: 'attn.hook_rot_q', output: 'rot_q', shape: ['pos', 'head', 'd_head'] },
  { hook: 'attn.hook_rot_k', output: 'rot_k', shape: ['pos', 'kv_head', 'd_head'] },
  { hook: 'attn.hook_pattern', output: 'pattern', shape: ['head', 'pos', 'pos'] },
  { hook: 'attn.hook_z', output: 'z', shape: ['pos', 'head', 'd_head'] },
  { hook: 'hook_attn_out', output: 'attn_out', shape: ['pos', 'd_model'] },
  { hook: 'hook_resid_mid', output: 'resid_mid', shape: ['pos', 'd_model'] },
  { hook: 'ln2.hook_scale', output: 'ln2_scale', shape: ['pos', 1] },
  { hook: 'mlp.hook_pre', output: 'mlp_pre', shape: ['pos', 'd_mlp'] },
  { hook: 'mlp.hook_pre_linear', output: 'mlp_pre_linear', shape: ['pos', 'd_mlp'] },
  { hook: 'mlp.hook_post', output: 'mlp_post', shape: ['pos', 'd_mlp'] },
  { hook: 'hook_mlp_out', output: 'mlp_out', shape: ['pos', 'd_model'] },
  { hook: 'hook_resid_post', output: 'resid_post', shape: ['pos', 'd_model'] },
] as const;

/** Gemma's points: the Llama family's and the post-norms' scales. */
export const GEMMA_GRADIENT_POINTS = [
  ...LLAMA_GRADIENT_POINTS.slice(0, 9),
  { hook: 'ln1_post.hook_scale', output: 'ln1_post_scale', shape: ['pos', 1] },
  ...LLAMA_GRADIENT_POINTS.slice(9, 15),
  { hook: 'ln2_post.hook_scale', output: 'ln2_post_scale', shape: ['pos', 1] },
  ...LLAMA_GRADIENT_POINTS.slice(15),
] as const;

export type LlamaGradientOutput = (typeof GEMMA_GRADIENT_POINTS)[number]['output'];

/** The gradient points of a Llama-family or Gemma model. */
export function rmsFamilyGradientPoints(config: Pick<ModelConfig, 'postNorms'>): ReadonlyArray<(typeof GEMMA_GRADIENT_POINTS)[number]> {
  return config.postNorms === true ? GEMMA_GRADIENT_POINTS : LLAMA_GRADIENT_POINTS;
}

/** The block's forward on the tape; `split` gives each reader its own input copy. */
function defineBlock(t: Tape, config: ModelConfig, w: BlockWeights, layer: number, split: SplitInputs | null, frozen: boolean, gate: TapeValue | null) {
  const { dModel: D, dHead: Dh, dMlp: M, eps } = config;
  const { residPre, mask, cos, sin, gated } = rotaryBlockInputs(t, config, gate);
  // Every reader slot's product from ln1 (RMSNorm); in a backward graph each slot reads its own copy of the stream.
  const slots = rotarySlots(t, config, w, residPre, { norm: 'rms', weight: w.ln1.w.data, bias: null }, split, frozen);
  const qkNorm = (x: TapeValue, which: 'q' | 'k'): TapeValue =>
    rmsNorm(t, x, t.weight(`${which}_norm`, (which === 'q' ? w.q_norm : w.k_norm)!.data, [Dh]), eps, frozen).y;
  const attention = rotaryAttention(t, config, w, layer, { qkv: slots.qkv, mask, cos, sin, frozen, ...(config.qkNorm ? { qkNorm } : {}) });
  const attn = attention.attn;
  const ln1Post = config.postNorms ? rmsNorm(t, attn, t.weight('ln1_post_w', w.ln1_post!.w.data, [D]), eps, frozen) : null;
  const attnOut = ln1Post ? ln1Post.y : attn;
  const residMid = t.add(residPre, gated(attnOut));

  const mlpIn = split !== null && split !== 'none' ? t.identity(residMid) : residMid;
  const ln2 = rmsNorm(t, mlpIn, t.weight('ln2_w', w.ln2.w.data, [D]), eps, frozen);
  const gateProj = t.matmul(ln2.y, t.weight('W_gate', w.W_gate!.data, [D, M]));
  const up = t.matmul(ln2.y, t.weight('W_in', w.W_in.data, [D, M]));
  const post = t.mul(gatedActivation(t, gateProj, config.actFn), up);
  const mlp = t.matmul(post, t.weight('W_out', w.W_out.data, [M, D]));
  const ln2Post = config.postNorms ? rmsNorm(t, mlp, t.weight('ln2_post_w', w.ln2_post!.w.data, [D]), eps, frozen) : null;
  const mlpOut = ln2Post ? ln2Post.y : mlp;
  const residPost = t.add(residMid, gated(mlpOut));

  const points: Partial<Record<LlamaGradientOutput, PointValue>> = {
    resid_pre: { value: residPre },
    ln1_scale: slots.scale,
    ...attention.points,
    ...(ln1Post ? { ln1_post_scale: { value: ln1Post.scale } } : {}),
    attn_out: { value: attnOut },
    resid_mid: { value: residMid },
    ln2_scale: { value: ln2.scale },
    mlp_pre: { value: gateProj },
    mlp_pre_linear: { value: up },
    mlp_post: { value: post },
    ...(ln2Post ? { ln2_post_scale: { value: ln2Post.scale } } : {}),
    mlp_out: { value: mlpOut },
    resid_post: { value: residPost },
  };
  return { points, residPre, normed: slots.normed, mlpIn, residPost };
}

/** The Llama family's and Gemma's block graphs: forward (every hook point of rmsFamilyGradientPoints), backward and edges. */
export const LLAMA_BLOCK_GRAPHS = rotaryBlockGraphs(rmsFamilyGradientPoints, defineBlock);

/** ln_final (RMSNorm), the unembedding (Gemma: soft-capped) and the metric at the last position, with the metric's gradient. */
export function buildLlamaGradientFinalGraph(
  config: ModelConfig,
  weights: Pick<ModelWeights, 'ln_final' | 'W_U_T'>,
  options: GradientGraphOptions,
  mode: WeightMode = 'inputs',
): BuiltGraph {
  const t = new Tape('final', mode);
  const { dModel: D, dVocab: V } = config;
  const resid = t.input('resid', ['b', D], true);
  const { y } = rmsNorm(t, resid, t.weight('ln_final_w', weights.ln_final.w.data, [D]), config.eps, options.frozen);
  if (options.direction && config.finalSoftcap) throw new Error('a soft-capped final graph has no linear metric');
  const metric = options.direction ? linearMetric(t, y, D) : vocabularyMetric(t, y, weights, config, V);
  const ones = t.g.op1('Add', [t.g.op1('Mul', [metric.name, t.g.constFloat([0], [])]), t.g.constFloat([1], [])]);
  t.backward([[metric, ones]]);
  t.g.output(t.g.op1('Identity', [metric.name], {}, 'metric'), 'float', ['b']);
  t.g.output(t.g.op1('Identity', [t.gradient(resid)], {}, 'grad_resid'), 'float', ['b', D]);
  return t.g.build();
}

/** [b]: Σ logit_coef · logits + Σ logprob_coef · log_softmax(logits), the logits y W_U, soft-capped where the config says. */
function vocabularyMetric(t: Tape, y: TapeValue, weights: Pick<ModelWeights, 'W_U_T'>, config: ModelConfig, V: number): TapeValue {
  const D = y.shape[1] as number;
  const logitCoef = t.input('logit_coef', ['b', V], false);
  const logprobCoef = t.input('logprob_coef', ['b', V], false);
  const raw = t.matmulTransposed(y, t.weight('W_U_T', weights.W_U_T.data, [V, D])); // [b, vocab]
  const logits = config.finalSoftcap ? softcap(t, raw, config.finalSoftcap) : raw;
  const weighted = t.add(t.mul(logits, logitCoef), t.mul(t.logSoftmax(logits), logprobCoef));
  return t.reduceSum(weighted, [1], false); // [b]
}

/** RMSNorm over the last axis, x / scale * w with scale = sqrt(mean(x^2) + eps); frozen: the scale is a constant of the backward pass. */
function rmsNorm(t: Tape, x: TapeValue, w: TapeValue, eps: number, frozen: boolean): { y: TapeValue; scale: TapeValue } {
  const computed = t.sqrt(t.add(t.reduceMean(t.mul(x, x), [-1]), t.constant([eps])));
  const scale = frozen ? t.freeze(computed) : computed;
  return { y: t.mul(t.div(x, scale), w), scale };
}

/** The gated MLP's activation of its gate: silu (SwiGLU) or GELU's tanh approximation (Gemma's GeGLU). */
function gatedActivation(t: Tape, x: TapeValue, fn: ModelConfig['actFn']): TapeValue {
  if (fn === 'silu') return t.mul(x, t.sigmoid(x));
  if (fn !== 'gelu_new') throw new Error(`gated MLP activation ${fn} has no gradient graph`);
  // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
  const inner = t.scale(t.add(x, t.scale(t.mul(x, t.mul(x, x)), 0.044715)), Math.sqrt(2 / Math.PI));
  return t.mul(t.scale(x, 0.5), t.add(t.constant([1]), t.tanh(inner)));
}
