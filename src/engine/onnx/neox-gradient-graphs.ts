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
import type { ModelConfig } from '../model/config.js';
import type { BlockWeights } from '../model/weights.js';
import { Tape, type TapeValue } from './autodiff.js';
import { LLAMA_GRADIENT_POINTS } from './llama-gradient-graphs.js';
import type { SplitInputs } from './normed-qkv-pullback.js';
import { rotaryAttention, rotaryBlockGraphs, rotaryBlockInputs, rotarySlots, type PointValue } from './rotary-gradient-blocks.js';

/**
 * A block's hook points that have gradients: the Llama family's but the gated MLP's mlp.hook_pre_linear (the
 * kv_head dims being the heads; hook_resid_mid only with the sequential residual).
 */
const NEOX_POINTS = LLAMA_GRADIENT_POINTS.filter((p) => p.output !== 'mlp_pre_linear');

export type NeoxGradientOutput = (typeof NEOX_POINTS)[number]['output'];
type NeoxGradientPoint = (typeof NEOX_POINTS)[number];

/** The hook points of a NeoX model with gradients: without hook_resid_mid under the parallel residual. */
export function neoxGradientPoints(config: Pick<ModelConfig, 'parallelResidual'>): readonly NeoxGradientPoint[] {
  return config.parallelResidual === true ? NEOX_POINTS.filter((p) => p.output !== 'resid_mid') : NEOX_POINTS;
}

function defineBlock(t: Tape, config: ModelConfig, w: BlockWeights, layer: number, split: SplitInputs | null, frozen: boolean, gate: TapeValue | null) {
  const { dModel: D, dMlp: M, eps } = config;
  const parallel = config.parallelResidual === true;
  const { residPre, mask, cos, sin, gated } = rotaryBlockInputs(t, config, gate);
  // Each head's q, k and v from ln1 (LayerNorm); in a backward graph each reads its own copy of the stream.
  const slots = rotarySlots(t, config, w, residPre, { norm: 'layer', weight: w.ln1.w.data, bias: w.ln1.b.data }, split, frozen);
  const { attn: attnOut, points: attentionPoints } = rotaryAttention(t, config, w, layer, { qkv: slots.qkv, mask, cos, sin, frozen });
  const residMid = parallel ? null : t.add(residPre, gated(attnOut));

  const mlpSource = residMid ?? residPre;
  const mlpIn = split !== null && split !== 'none' ? t.identity(mlpSource) : mlpSource;
  const ln2 = layerNorm(t, mlpIn, w.ln2, D, eps, 'ln2', frozen);
  const pre = t.add(t.matmul(ln2.y, t.weight('W_in', w.W_in.data, [D, M])), t.weight('b_in', w.b_in.data, [M]));
  const post = t.mul(t.scale(pre, 0.5), t.add(t.constant([1]), t.erf(t.scale(pre, Math.SQRT1_2)))); // exact GELU
  const mlpOut = t.add(t.matmul(post, t.weight('W_out', w.W_out.data, [M, D])), t.weight('b_out', w.b_out.data, [D]));
  const residPost = residMid ? t.add(residMid, gated(mlpOut)) : t.add(t.add(residPre, gated(attnOut)), gated(mlpOut));

  const points: Partial<Record<NeoxGradientOutput, PointValue>> = {
    resid_pre: { value: residPre },
    ln1_scale: slots.scale,
    ...attentionPoints,
    attn_out: { value: attnOut },
    ...(residMid ? { resid_mid: { value: residMid } } : {}),
    ln2_scale: { value: ln2.scale },
    mlp_pre: { value: pre },
    mlp_post: { value: post },
    mlp_out: { value: mlpOut },
    resid_post: { value: residPost },
  };
  return { points, residPre, normed: slots.normed, mlpIn, residPost };
}

/** GPT-NeoX's block graphs: forward (every hook point of neoxGradientPoints), backward and edges. */
export const NEOX_BLOCK_GRAPHS = rotaryBlockGraphs(neoxGradientPoints, defineBlock);

/** LayerNorm over the last axis: (x − mean) / scale · w + b, scale = sqrt(var + eps) (frozen: a constant of the backward pass). */
function layerNorm(t: Tape, x: TapeValue, ln: BlockWeights['ln1'], D: number, eps: number, name: string, frozen: boolean): { y: TapeValue; scale: TapeValue } {
  const centred = t.sub(x, t.reduceMean(x, [-1]));
  const computed = t.sqrt(t.add(t.reduceMean(t.mul(centred, centred), [-1]), t.constant([eps])));
  const scale = frozen ? t.freeze(computed) : computed;
  return { y: t.add(t.mul(t.div(centred, scale), t.weight(`${name}_w`, ln.w.data, [D])), t.weight(`${name}_b`, ln.b.data, [D])), scale };
}
