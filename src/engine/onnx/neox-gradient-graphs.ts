/**
 * Gradient graphs of GPT-NeoX (Pythia), written against the Tape (autodiff.ts) as
 * llama-gradient-graphs.ts writes the Llama family's: per block a forward graph returning every hook
 * point and a backward graph returning, for a batch of gradients of the block's output, the
 * gradients of its input, of every hook point and of each reader's own copy of its input. The final
 * graph is GPT-2's (LayerNorm with bias, the unembedding): gpt2-gradient-graphs.ts's.
 *
 * The block is HF's GPTNeoXLayer: LayerNorm with biases, q/k/v per head (with biases under
 * attention_bias), RoPE on the first rotaryDims dimensions of each head (the rest passed through),
 * scores / sqrt(d_head) under the causal mask, the dense output with its bias, and the MLP
 * W_out gelu(x W_in + b_in) + b_out with exact GELU. With the parallel residual (Pythia's) the MLP
 * reads resid_pre and resid_post = resid_pre + attn_out + mlp_out, so there is no resid_mid, and the
 * MLP's own input copy is a copy of resid_pre (no head writes before it reads: EdgeGraph has no
 * head → same-layer MLP edge); otherwise it reads resid_mid = resid_pre + attn_out.
 *
 * Block graphs: as llama-gradient-graphs.ts's, with S = 3 head reader slots and RoPE's tables
 * rope_cos, rope_sin [p, rotaryDims].
 */
import { attentionScoreScale, type ModelConfig } from '../model/config.js';
import type { BlockWeights } from '../model/weights.js';
import { Tape, type TapeValue } from './autodiff.js';
import type { GradientGraphOptions } from './gpt2-gradient-graphs.js';
import type { BuiltGraph, WeightMode } from './graph-builder.js';
import { concat, graphDims, pointGradient, pointValue, rotary, type PointValue } from './llama-gradient-graphs.js';

/** A block's hook points that have gradients (hook_resid_mid only with the sequential residual). */
const NEOX_POINTS = [
  { hook: 'hook_resid_pre', output: 'resid_pre', shape: ['pos', 'd_model'] },
  { hook: 'ln1.hook_scale', output: 'ln1_scale', shape: ['pos', 1] },
  { hook: 'attn.hook_q', output: 'q', shape: ['pos', 'head', 'd_head'] },
  { hook: 'attn.hook_k', output: 'k', shape: ['pos', 'head', 'd_head'] },
  { hook: 'attn.hook_v', output: 'v', shape: ['pos', 'head', 'd_head'] },
  { hook: 'attn.hook_rot_q', output: 'rot_q', shape: ['pos', 'head', 'd_head'] },
  { hook: 'attn.hook_rot_k', output: 'rot_k', shape: ['pos', 'head', 'd_head'] },
  { hook: 'attn.hook_pattern', output: 'pattern', shape: ['head', 'pos', 'pos'] },
  { hook: 'attn.hook_z', output: 'z', shape: ['pos', 'head', 'd_head'] },
  { hook: 'hook_attn_out', output: 'attn_out', shape: ['pos', 'd_model'] },
  { hook: 'hook_resid_mid', output: 'resid_mid', shape: ['pos', 'd_model'] },
  { hook: 'ln2.hook_scale', output: 'ln2_scale', shape: ['pos', 1] },
  { hook: 'mlp.hook_pre', output: 'mlp_pre', shape: ['pos', 'd_mlp'] },
  { hook: 'mlp.hook_post', output: 'mlp_post', shape: ['pos', 'd_mlp'] },
  { hook: 'hook_mlp_out', output: 'mlp_out', shape: ['pos', 'd_model'] },
  { hook: 'hook_resid_post', output: 'resid_post', shape: ['pos', 'd_model'] },
] as const;

export type NeoxGradientOutput = (typeof NEOX_POINTS)[number]['output'];
type NeoxGradientPoint = (typeof NEOX_POINTS)[number];

/** The hook points of a NeoX model with gradients: without hook_resid_mid under the parallel residual. */
export function neoxGradientPoints(config: Pick<ModelConfig, 'parallelResidual'>): readonly NeoxGradientPoint[] {
  return config.parallelResidual === true ? NEOX_POINTS.filter((p) => p.output !== 'resid_mid') : NEOX_POINTS;
}

function defineBlock(t: Tape, config: ModelConfig, w: BlockWeights, layer: number, split: boolean, frozen: boolean, gate: TapeValue | null) {
  const { nHeads: H, dModel: D, dHead: Dh, dMlp: M, eps } = config;
  const R = config.rotaryDims ?? Dh;
  const parallel = config.parallelResidual === true;
  const residPre = t.input('resid_pre', ['b', 'p', D], true);
  const mask = t.input('attn_mask', ['p', 'p'], false);
  const cos = t.input('rope_cos', ['p', R], false);
  const sin = t.input('rope_sin', ['p', R], false);
  const gated = (x: TapeValue): TapeValue => (gate ? t.gradientGate(x, gate) : x);

  // Each head's q, k and v from [3 * head, b, p, d_model] copies of the stream.
  const lnInput = split ? t.expand(t.unsqueeze(residPre, 0), [3 * H, 'b', 'p', D]) : t.unsqueeze(residPre, 0);
  const ln1 = layerNorm(t, lnInput, w.ln1, D, eps, 'ln1', frozen);
  let qkv = t.matmul(ln1.y, t.weight('W_slots', concat([w.W_Q.data, w.W_K.data, w.W_V.data]), [3 * H, 1, D, Dh])); // [3H, b, p, d_head]
  if (config.qkvBias) qkv = t.add(qkv, t.weight('b_slots', concat([w.b_Q.data, w.b_K.data, w.b_V.data]), [3 * H, 1, 1, Dh]));
  const [q, k, v] = t.split(qkv, 0, [H, H, H]) as [TapeValue, TapeValue, TapeValue]; // [head, b, p, d_head]
  /** RoPE on the first R dimensions of each head, the others passed through. */
  const rope = (x: TapeValue): TapeValue => {
    if (R === Dh) return rotary(t, x, cos, sin);
    const [turned, kept] = t.split(x, 3, [R, Dh - R]) as [TapeValue, TapeValue];
    return t.concat([rotary(t, turned, cos, sin), kept], 3);
  };
  const rotQ = rope(q),
    rotK = rope(k);
  const scores = t.add(t.scale(t.matmul(rotQ, t.transpose(rotK, [0, 1, 3, 2])), attentionScoreScale(config, layer)), mask); // [head, b, query, key]
  const softmaxed = t.softmax(scores);
  const pattern = frozen ? t.freeze(softmaxed) : softmaxed;
  const z = t.transpose(t.matmul(pattern, v), [1, 2, 0, 3]); // [b, p, head, d_head]
  let attnOut = t.matmul(t.reshape(z, ['b', 'p', H * Dh]), t.weight('W_O', w.W_O.data, [H * Dh, D]));
  if (config.oBias) attnOut = t.add(attnOut, t.weight('b_O', w.b_O.data, [D]));
  const residMid = parallel ? null : t.add(residPre, gated(attnOut));

  const mlpSource = residMid ?? residPre;
  const mlpIn = split ? t.identity(mlpSource) : mlpSource;
  const ln2 = layerNorm(t, mlpIn, w.ln2, D, eps, 'ln2', frozen);
  const pre = t.add(t.matmul(ln2.y, t.weight('W_in', w.W_in.data, [D, M])), t.weight('b_in', w.b_in.data, [M]));
  const post = t.mul(t.scale(pre, 0.5), t.add(t.constant([1]), t.erf(t.scale(pre, Math.SQRT1_2)))); // exact GELU
  const mlpOut = t.add(t.matmul(post, t.weight('W_out', w.W_out.data, [M, D])), t.weight('b_out', w.b_out.data, [D]));
  const residPost = residMid ? t.add(residMid, gated(mlpOut)) : t.add(t.add(residPre, gated(attnOut)), gated(mlpOut));

  const byPos = [1, 2, 0, 3];
  const points: Partial<Record<NeoxGradientOutput, PointValue>> = {
    resid_pre: { value: residPre },
    ln1_scale: { slots: ln1.scale },
    q: { headMajor: q, perm: byPos },
    k: { headMajor: k, perm: byPos },
    v: { headMajor: v, perm: byPos },
    rot_q: { headMajor: rotQ, perm: byPos },
    rot_k: { headMajor: rotK, perm: byPos },
    pattern: { headMajor: pattern, perm: [1, 0, 2, 3] },
    z: { value: z },
    attn_out: { value: attnOut },
    ...(residMid ? { resid_mid: { value: residMid } } : {}),
    ln2_scale: { value: ln2.scale },
    mlp_pre: { value: pre },
    mlp_post: { value: post },
    mlp_out: { value: mlpOut },
    resid_post: { value: residPost },
  };
  return { points, lnInput, mlpIn, residPost };
}

/** A block's forward: every hook point of the model's NeoX points as an output. */
export function buildNeoxGradientForwardGraph(config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'inputs'): BuiltGraph {
  const t = new Tape(`fwd${layer}`, mode);
  const { points } = defineBlock(t, config, w, layer, false, false, null);
  for (const { output, shape } of neoxGradientPoints(config)) {
    if (output === 'resid_pre') continue;
    t.g.output(t.g.op1('Identity', [pointValue(t, points[output]!)], {}, output), 'float', ['b', ...graphDims(shape, config)]);
  }
  return t.g.build();
}

/** A block's backward: the gradients of its input, every hook point and the readers' input copies. */
export function buildNeoxGradientBackwardGraph(
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
  const block = defineBlock(t, config, w, layer, true, options.frozen, gate);
  t.backward([[block.residPost, gradOut]]);
  for (const { output, shape } of neoxGradientPoints(config)) {
    if (output === 'resid_post') continue;
    t.g.output(t.g.op1('Identity', [pointGradient(t, block.points[output]!)], {}, `grad_${output}`), 'float', ['b', ...graphDims(shape, config)]);
  }
  t.g.output(t.g.op1('Identity', [t.gradient(block.lnInput)], {}, 'grad_qkv_in'), 'float', [3 * H, 'b', 'p', D]);
  t.g.output(t.g.op1('Identity', [t.gradient(block.mlpIn)], {}, 'grad_mlp_in'), 'float', ['b', 'p', D]);
  return t.g.build();
}

/** LayerNorm over the last axis: (x − mean) / scale · w + b, scale = sqrt(var + eps) (frozen: a constant of the backward pass). */
function layerNorm(t: Tape, x: TapeValue, ln: BlockWeights['ln1'], D: number, eps: number, name: string, frozen: boolean): { y: TapeValue; scale: TapeValue } {
  const centred = t.sub(x, t.reduceMean(x, [-1]));
  const computed = t.sqrt(t.add(t.reduceMean(t.mul(centred, centred), [-1]), t.constant([eps])));
  const scale = frozen ? t.freeze(computed) : computed;
  return { y: t.add(t.mul(t.div(centred, scale), t.weight(`${name}_w`, ln.w.data, [D])), t.weight(`${name}_b`, ln.b.data, [D])), scale };
}
