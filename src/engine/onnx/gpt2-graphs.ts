/**
 * ONNX graphs of a GPT-2-style (pre-LayerNorm) transformer, built from the canonical weights.
 *
 * The model is split into one graph per block plus a final (ln_final + unembed) graph, so that
 *  - results stream layer by layer (each block's hooks are available as soon as it has run),
 *  - a run can start at any layer from a given residual stream (interventions, patching), and
 *  - a block can process only some query positions against cached keys/values of the others
 *    (the incremental passes that make activation patching cheap).
 * Embedding lookups happen in JavaScript (a row gather is cheaper than a session run).
 *
 * Block graph I/O (b = batch of variants, q = query positions run, P = cached past positions):
 *   in   resid_pre  [b, q, d_model]
 *        past_k     [b, head, P, d_head]      keys of earlier positions (P may be 0)
 *        past_v     [b, head, P, d_head]
 *        attn_mask  [q, P + q]                additive causal mask (0 or -1e9)
 *        z_patch    [b, head, q, d_head]      replacement values for hook_z
 *        z_sel      [b, head, q, 1]           1 where z_patch replaces z, else 0
 *        attn_patch [b, q, d_model], attn_sel [b, q, 1]   same for hook_attn_out
 *        mlp_patch  [b, q, d_model], mlp_sel  [b, q, 1]   same for hook_mlp_out
 *   out  pattern    [b, head, q, P + q]       hook_pattern
 *        z          [b, q, head, d_head]      hook_z (TransformerLens layout)
 *        attn_out, resid_mid, mlp_out, resid_post  [b, q, d_model]
 *        k, v       [b, head, P + q, d_head]  keys and values of every position (for caching)
 *
 * Final graph:
 *   in   resid      [b, p, d_model]
 *        logit_pos  [n] int64                 positions whose logits are wanted
 *   out  scale      [b, p, 1]                 ln_final.hook_scale = sqrt(var + eps)
 *        logits     [b, n, vocab]
 */
import type { ModelConfig } from '../model/config.js';
import type { BlockWeights, ModelWeights } from '../model/weights.js';
import { GraphBuilder, type BuiltGraph, type WeightMode } from './graph-builder.js';

export const BLOCK_INPUTS = [
  'resid_pre', 'past_k', 'past_v', 'attn_mask', 'z_patch', 'z_sel', 'attn_patch', 'attn_sel', 'mlp_patch', 'mlp_sel',
] as const;
export const BLOCK_OUTPUTS = ['pattern', 'z', 'attn_out', 'resid_mid', 'mlp_out', 'resid_post', 'k', 'v'] as const;
export type BlockOutput = (typeof BLOCK_OUTPUTS)[number];

/** Masked attention scores: large enough that exp() underflows to exactly 0 in float32. */
export const MASKED = -1e9;

export function buildBlockGraph(config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'initializers'): BuiltGraph {
  const g = new GraphBuilder(`block${layer}`, mode);
  const { nHeads: H, dModel: D, dHead: Dh, dMlp: M } = config;

  const resid = g.input('resid_pre', 'float', ['b', 'q', D]);
  const pastK = g.input('past_k', 'float', ['b', H, 'P', Dh]);
  const pastV = g.input('past_v', 'float', ['b', H, 'P', Dh]);
  const mask = g.input('attn_mask', 'float', ['q', 'T']);
  const zPatch = g.input('z_patch', 'float', ['b', H, 'q', Dh]);
  const zSel = g.input('z_sel', 'float', ['b', H, 'q', 1]);
  const attnPatch = g.input('attn_patch', 'float', ['b', 'q', D]);
  const attnSel = g.input('attn_sel', 'float', ['b', 'q', 1]);
  const mlpPatch = g.input('mlp_patch', 'float', ['b', 'q', D]);
  const mlpSel = g.input('mlp_sel', 'float', ['b', 'q', 1]);

  // --- attention -------------------------------------------------------------------------
  const x1 = layerNorm(g, resid, w.ln1.w.data, w.ln1.b.data, D, config.eps, `ln1`);
  // One GEMM for Q, K and V of every head: x [b, q, d] @ W_QKV [d, 3 * head * d_head]. Far better
  // shaped than per-head products, above all for the one-position passes of activation patching.
  const qkvFlat = g.op1('Add', [g.op1('MatMul', [x1, g.weight('W_QKV', fuseQkv(w, H, D, Dh), [D, 3 * H * Dh])]), g.weight('b_QKV', fuseQkvBias(w, H, Dh), [3 * H * Dh])]);
  const qkv5 = g.op1('Reshape', [qkvFlat, g.constInt64([0, 0, 3, H, Dh])]); // [b, q, 3, head, d_head]
  const qkvT = g.op1('Transpose', [qkv5], { perm: [2, 0, 3, 1, 4] }); // [3, b, head, q, d_head]
  const [qS, kS, vS] = g.op('Split', [qkvT], { axis: 0 }, 3);
  const axis0 = g.constInt64([0]);
  const q = g.op1('Squeeze', [qS!, axis0]); // [b, head, q, d_head]
  const kNew = g.op1('Squeeze', [kS!, axis0]);
  const vNew = g.op1('Squeeze', [vS!, axis0]);
  const k = g.op1('Concat', [pastK, kNew], { axis: 2 }, 'k'); // [b, head, P + q, d_head]
  const v = g.op1('Concat', [pastV, vNew], { axis: 2 }, 'v');
  const kT = g.op1('Transpose', [k], { perm: [0, 1, 3, 2] });
  const scores = g.op1('Mul', [g.op1('MatMul', [q, kT]), g.constFloat([1 / Math.sqrt(Dh)], [])]);
  const pattern = g.op1('Softmax', [g.op1('Add', [scores, mask])], { axis: -1 }, 'pattern'); // [b, head, q, T]
  const zHeads = blend(g, g.op1('MatMul', [pattern, v]), zPatch, zSel); // [b, head, q, d_head]
  const z = g.op1('Transpose', [zHeads], { perm: [0, 2, 1, 3] }, 'z'); // [b, q, head, d_head]
  const zFlat = g.op1('Reshape', [z, g.constInt64([0, 0, H * Dh])]); // [b, q, head*d_head]
  const attnRaw = g.op1('Add', [g.op1('MatMul', [zFlat, g.weight('W_O', w.W_O.data, [H * Dh, D])]), g.weight('b_O', w.b_O.data, [D])]);
  const attnOut = blend(g, attnRaw, attnPatch, attnSel, 'attn_out');
  const residMid = g.op1('Add', [resid, attnOut], {}, 'resid_mid');

  // --- MLP -------------------------------------------------------------------------------
  const x2 = layerNorm(g, residMid, w.ln2.w.data, w.ln2.b.data, D, config.eps, 'ln2');
  const pre = g.op1('Add', [g.op1('MatMul', [x2, g.weight('W_in', w.W_in.data, [D, M])]), g.weight('b_in', w.b_in.data, [M])]);
  const post = activation(g, pre, config.actFn);
  const mlpRaw = g.op1('Add', [g.op1('MatMul', [post, g.weight('W_out', w.W_out.data, [M, D])]), g.weight('b_out', w.b_out.data, [D])]);
  const mlpOut = blend(g, mlpRaw, mlpPatch, mlpSel, 'mlp_out');
  g.op1('Add', [residMid, mlpOut], {}, 'resid_post');

  g.output('pattern', 'float', ['b', H, 'q', 'T']);
  g.output('z', 'float', ['b', 'q', H, Dh]);
  for (const name of ['attn_out', 'resid_mid', 'mlp_out', 'resid_post']) g.output(name, 'float', ['b', 'q', D]);
  g.output('k', 'float', ['b', H, 'T', Dh]);
  g.output('v', 'float', ['b', H, 'T', Dh]);
  void k; void v;
  return g.build();
}

export function buildFinalGraph(config: ModelConfig, weights: Pick<ModelWeights, 'ln_final' | 'W_U_T' | 'b_U'>, mode: WeightMode = 'initializers'): BuiltGraph {
  const g = new GraphBuilder('final', mode);
  const { dModel: D, dVocab: V } = config;
  const resid = g.input('resid', 'float', ['b', 'p', D]);
  const positions = g.input('logit_pos', 'int64', ['n']);
  const [y, , invStd] = g.op('LayerNormalization', [resid, g.weight('ln_final_w', weights.ln_final.w.data, [D]), g.weight('ln_final_b', weights.ln_final.b.data, [D])], { axis: -1, epsilon: { float: config.eps } }, 3);
  g.op1('Reciprocal', [invStd!], {}, 'scale');
  const picked = g.op1('Gather', [y!, positions], { axis: 1 }); // [b, n, d]
  const shape = g.op1('Shape', [picked]);
  const bn = g.op1('Slice', [shape, g.constInt64([0]), g.constInt64([2])]);
  const flat = g.op1('Reshape', [picked, g.constInt64([-1, D])]); // [b*n, d]
  // logits^T = W_U_T @ flat^T: the large [vocab, d_model] matrix is the GEMM's A operand, which the
  // kernel reads as it is; as B (flat @ W_U_T^T) it would be transposed and packed on every call,
  // because it is fed as an input rather than a pre-packed initializer.
  const logitsT = g.op1('Gemm', [g.weight('W_U_T', weights.W_U_T.data, [V, D]), flat], { transB: 1 }); // [vocab, b*n]
  const logitsNoBias = g.op1('Transpose', [logitsT], { perm: [1, 0] });
  // GPT-2 has no unembedding bias: skip adding 50 257 zeros to every row.
  const logitsFlat = weights.b_U.data.some((x) => x !== 0) ? g.op1('Add', [logitsNoBias, g.weight('b_U', weights.b_U.data, [V])]) : logitsNoBias;
  g.op1('Reshape', [logitsFlat, g.op1('Concat', [bn, g.constInt64([V])], { axis: 0 })], {}, 'logits');
  g.output('scale', 'float', ['b', 'p', 1]);
  g.output('logits', 'float', ['b', 'n', V]);
  return g.build();
}

/**
 * W_Q, W_K, W_V [head, d_model, d_head] side by side as one [d_model, 3 * head * d_head] matrix
 * (column (which * head + h) * d_head + j), the layout of GPT-2's c_attn.
 */
function fuseQkv(w: BlockWeights, H: number, D: number, Dh: number): Float32Array {
  const fused = new Float32Array(D * 3 * H * Dh);
  const width = 3 * H * Dh;
  [w.W_Q.data, w.W_K.data, w.W_V.data].forEach((W, which) => {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < D; i++) {
        fused.set(W.subarray((h * D + i) * Dh, (h * D + i + 1) * Dh), i * width + (which * H + h) * Dh);
      }
    }
  });
  return fused;
}

function fuseQkvBias(w: BlockWeights, H: number, Dh: number): Float32Array {
  const fused = new Float32Array(3 * H * Dh);
  [w.b_Q.data, w.b_K.data, w.b_V.data].forEach((b, which) => fused.set(b, which * H * Dh));
  return fused;
}

function layerNorm(g: GraphBuilder, x: string, w: Float32Array, b: Float32Array, D: number, eps: number, name: string): string {
  return g.op1('LayerNormalization', [x, g.weight(`${name}_w`, w, [D]), g.weight(`${name}_b`, b, [D])], { axis: -1, epsilon: { float: eps } });
}

/** x where sel = 0, patch where sel = 1: x + sel * (patch - x). */
function blend(g: GraphBuilder, x: string, patch: string, sel: string, output?: string): string {
  return g.op1('Add', [x, g.op1('Mul', [sel, g.op1('Sub', [patch, x])])], {}, output);
}

function activation(g: GraphBuilder, x: string, fn: ModelConfig['actFn']): string {
  if (fn === 'relu') return g.op1('Relu', [x]);
  if (fn === 'gelu') {
    // exact GELU: 0.5 x (1 + erf(x / sqrt 2))
    const erf = g.op1('Erf', [g.op1('Mul', [x, g.constFloat([Math.SQRT1_2], [])])]);
    return g.op1('Mul', [g.op1('Mul', [x, g.constFloat([0.5], [])]), g.op1('Add', [erf, g.constFloat([1], [])])]);
  }
  // gelu_new (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  const x3 = g.op1('Mul', [g.op1('Mul', [x, x]), x]);
  const inner = g.op1('Mul', [g.op1('Add', [x, g.op1('Mul', [x3, g.constFloat([0.044715], [])])]), g.constFloat([Math.sqrt(2 / Math.PI)], [])]);
  const t = g.op1('Add', [g.op1('Tanh', [inner]), g.constFloat([1], [])]);
  return g.op1('Mul', [g.op1('Mul', [x, g.constFloat([0.5], [])]), t]);
}
