/**
 * ONNX graphs of a Gemma transformer (Gemma 2, Gemma 3 text), built from the canonical weights with
 * llama-graphs.ts's RMSNorm and RoPE: Llama's block with Gemma's differences, every hook point of
 * the registry's `gemma` family a graph output.
 *   - RMSNorm before and after attention and the MLP (ln1, ln1_post, ln2, ln2_post; the adapter
 *     stores Gemma's (1 + w) as w): hook_attn_out and hook_mlp_out are the post-normed outputs, the
 *     ones added to the residual stream, as in TransformerLens.
 *   - scores scaled by query_pre_attn_scalar^-0.5, then soft-capped, cap * tanh(scores / cap), before
 *     the mask (HF's eager_attention_forward).
 *   - GeGLU: down(gelu_tanh(gate(x)) * up(x)).
 *   - Gemma 3: per-head q/k RMSNorm before RoPE, and the sliding layers' own RoPE (rope_local_base_freq).
 * The sliding window lives in the runtime's masks, as for Mistral. The embedding's sqrt(d_model) is
 * applied where the stream starts (runtime/embedding.ts).
 *
 * Block graph I/O: as llama-graphs.ts's (resid_pre, past_k, past_v, attn_mask, positions,
 * prefix_rows, z_route_from / z_route_to and the registry's patch rows in; the hook points, k and v
 * out). Final graph: as llama-graphs.ts's, with the final logit soft-cap applied to `logits`
 * (TransformerLens's logits are capped) and so to the token scores.
 *
 * The packed forward of patching sweeps (runtime/packed-forward.ts) runs on the same graph, as
 * llama-graphs.ts's: rows of one sequence with their own positions (which drive the layer's RoPE,
 * local or global), under a dense mask (the runtime's, with the layer's sliding window) or as prefix
 * rows, hook_z rows routed before W_O and the post-attention norm. The soft-cap applies to the
 * scores before the mask in both layouts, as it is elementwise.
 */
import { attentionScoreScale, attentionWindowOf, type ModelConfig } from '../model/config.js';
import type { BlockWeights, ModelWeights } from '../model/weights.js';
import type { Tensor } from '../tensor.js';
import { blockOutputOf, hasHook, HOOK_POINT_LIST, ROW_PATCH_POINTS, type HookDim } from '../hooks/registry.js';
import { GraphBuilder, type BuiltGraph, type Dim, type WeightMode } from './graph-builder.js';
import { attention, graphDims, headColumns, prefixAttention, rmsNorm, ropeTablesAt, rotate, type LlamaAttentionInputs } from './llama-graphs.js';

export function buildGemmaBlockGraph(config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'initializers'): BuiltGraph {
  const g = new GraphBuilder(`block${layer}`, mode);
  const { nHeads: H, dModel: D, dHead: Dh, dMlp: M, eps } = config;
  const Hkv = config.nKvHeads ?? H;
  const resid = g.input('resid_pre', 'float', ['b', 'q', D]);
  const pastK = g.input('past_k', 'float', ['P', Hkv, Dh]);
  const pastV = g.input('past_v', 'float', ['P', Hkv, Dh]);
  const mask = g.input('attn_mask', 'float', ['q', 'T']);
  const positions = g.input('positions', 'int64', ['q']);
  const prefixRows = g.input('prefix_rows', 'int64', [1]);
  const routeFrom = g.input('z_route_from', 'int64', ['rk', 3]);
  const routeTo = g.input('z_route_to', 'int64', ['rk', 3]);
  // Per patchable hook (registry): its index rows and their values, written by ScatterND.
  const patchRows = new Map<string, [index: string, values: string]>();
  for (const point of ROW_PATCH_POINTS) {
    const { index, values, perHead } = point.patch;
    const k = `${index}_rows`;
    patchRows.set(blockOutputOf(point)!, [g.input(index, 'int64', [k, perHead ? 3 : 2]), g.input(values, 'float', [k, perHead ? Dh : D])]);
  }
  /** `x` as the graph output `output`, with that hook's patch rows written when it is patchable. */
  const hookOut = (x: string, output: string): string => {
    const rows = patchRows.get(output);
    return rows ? g.op1('ScatterND', [x, ...rows], {}, output) : g.op1('Identity', [x], {}, output);
  };
  const normWeight = (name: string, t: Tensor | undefined, width: number): string => g.weight(name, t!.data, [width]);

  // --- attention ---------------------------------------------------------------------------
  const x1 = rmsNorm(g, resid, normWeight('ln1_w', w.ln1.w, D), eps, 'ln1_scale');
  /** x1 @ W, [b, q, heads, d_head] as graph output `out`. */
  const project = (name: string, W: Tensor, heads: number, out: string): string =>
    hookOut(g.op1('Reshape', [g.op1('MatMul', [x1, g.weight(name, headColumns(W, heads, D, Dh), [D, heads * Dh])]), g.constInt64([0, 0, heads, Dh])]), out);
  let q = project('W_Q', w.W_Q, H, 'hook_q');
  let k = project('W_K', w.W_K, Hkv, 'hook_k');
  const v = project('W_V', w.W_V, Hkv, 'hook_v');
  if (config.qkNorm) {
    q = rmsNorm(g, q, normWeight('q_norm', w.q_norm, Dh), eps);
    k = rmsNorm(g, k, normWeight('k_norm', w.k_norm, Dh), eps);
  }
  // Gemma 3's sliding layers rotate with their own base frequency.
  const sliding = attentionWindowOf(config, layer) !== null;
  const rotary = sliding && config.localRotary ? config.localRotary : config.rotary;
  const { cos, sin } = ropeTablesAt(g, { ...config, rotary }, positions);
  const rotQ = rotate(g, q, cos, sin, Dh, 'rot_q'); // [b, q, head, d_head]
  const rotK = rotate(g, k, cos, sin, Dh, 'rot_k'); // [b, q, kv_head, d_head]
  g.op1('Reshape', [rotK, g.constInt64([0, 0, Hkv * Dh])], {}, 'k');
  g.op1('Reshape', [v, g.constInt64([0, 0, Hkv * Dh])], {}, 'v');
  const a: LlamaAttentionInputs = {
    queries: g.op1('Transpose', [rotQ], { perm: [0, 2, 1, 3] }), // [b, head, q, d_head]
    rotK,
    v,
    pastK,
    pastV,
    mask,
    prefixRows,
    // Scaled by query_pre_attn_scalar^-0.5, then soft-capped (attn_logit_softcapping), before the mask.
    scoreTransform: (sub, scores) => {
      const scaled = sub.op1('Mul', [scores, sub.constFloat([attentionScoreScale(config, layer)], [])]);
      return config.attnSoftcap ? softcap(sub, scaled, config.attnSoftcap) : scaled;
    },
    H,
    Hkv,
    Dh,
  };
  const [, zHeads] = g.ifElse(
    g.op1('Greater', [prefixRows, g.constInt64([0])]),
    ['pattern', g.fresh('z')],
    (sub) => prefixAttention(sub, a),
    (sub) => attention(sub, a),
  );
  // [b, head, q, d_head] -> [b, q, head, d_head]; routed rows (packed runs) take the values of their
  // source rows of the same call, then the patch rows are written (both before W_O and the post-norm).
  const byRow = g.op1('Transpose', [zHeads!], { perm: [0, 2, 1, 3] });
  const z = hookOut(g.op1('ScatterND', [byRow, routeTo, g.op1('GatherND', [byRow, routeFrom])]), 'z');
  const attn = g.op1('MatMul', [g.op1('Reshape', [z, g.constInt64([0, 0, H * Dh])]), g.weight('W_O', w.W_O.data, [H * Dh, D])]);
  const attnOut = hookOut(rmsNorm(g, attn, normWeight('ln1_post_w', w.ln1_post?.w, D), eps, 'ln1_post_scale'), 'attn_out');
  const residMid = g.op1('Add', [resid, attnOut], {}, 'resid_mid');

  // --- GeGLU MLP: down(gelu_tanh(gate(x)) * up(x)) ------------------------------------------
  const x2 = rmsNorm(g, residMid, normWeight('ln2_w', w.ln2.w, D), eps, 'ln2_scale');
  const gate = g.op1('MatMul', [x2, g.weight('W_gate', w.W_gate!.data, [D, M])], {}, 'mlp_pre');
  const up = g.op1('MatMul', [x2, g.weight('W_in', w.W_in.data, [D, M])], {}, 'mlp_pre_linear');
  const post = g.op1('Mul', [geluTanh(g, gate), up], {}, 'mlp_post');
  const mlp = g.op1('MatMul', [post, g.weight('W_out', w.W_out.data, [M, D])]);
  const mlpOut = hookOut(rmsNorm(g, mlp, normWeight('ln2_post_w', w.ln2_post?.w, D), eps, 'ln2_post_scale'), 'mlp_out');
  g.op1('Add', [residMid, mlpOut], {}, 'resid_post');

  const dims: Partial<Record<HookDim, Dim>> = { pos: 'q', query_pos: 'q', key_pos: 'T', head: H, kv_head: Hkv, d_head: Dh, d_model: D, d_mlp: M };
  for (const point of HOOK_POINT_LIST) {
    if ('output' in point.source && point.source.graph === 'block' && hasHook(point, 'gemma'))
      g.output(point.source.output, 'float', ['b', ...graphDims(point.shape, dims)]);
  }
  g.output('k', 'float', ['b', 'q', Hkv * Dh]);
  g.output('v', 'float', ['b', 'q', Hkv * Dh]);
  return g.build();
}

export function buildGemmaFinalGraph(
  config: ModelConfig,
  weights: Pick<ModelWeights, 'ln_final' | 'W_U_T' | 'b_U'>,
  mode: WeightMode = 'initializers',
): BuiltGraph {
  const g = new GraphBuilder('final', mode);
  const { dModel: D, dVocab: V } = config;
  const resid = g.input('resid', 'float', ['b', 'p', D]);
  const positions = g.input('logit_pos', 'int64', ['n']);
  const y = rmsNorm(g, resid, g.weight('ln_final_w', weights.ln_final.w.data, [D]), config.eps, 'scale');
  const flat = g.op1('Reshape', [g.op1('Gather', [y, positions], { axis: 1 }), g.constInt64([-1, D])]); // [b*n, d_model]
  const raw = g.op1('Gemm', [flat, g.weight('W_U_T', weights.W_U_T.data, [V, D])], { transB: 1 }); // [b*n, vocab]
  const logits = g.op1('Identity', [config.finalSoftcap ? softcap(g, raw, config.finalSoftcap) : raw], {}, 'logits');
  const tokens = g.input('score_tokens', 'int64', ['t']);
  g.ifElse(
    g.input('score', 'bool', []),
    ['token_logits', 'token_probs'],
    (sub) => [sub.op1('Gather', [logits, tokens], { axis: 1 }), sub.op1('Gather', [sub.op1('Softmax', [logits], { axis: -1 }), tokens], { axis: 1 })],
    (sub) => {
      const none = sub.op1('Slice', [logits, sub.constInt64([0]), sub.constInt64([0]), sub.constInt64([0])]);
      return [sub.op1('Gather', [none, tokens], { axis: 1 }), sub.op1('Gather', [none, tokens], { axis: 1 })];
    },
  );
  g.output('scale', 'float', ['b', 'p', 1]);
  g.output('logits', 'float', ['bn', V]);
  g.output('token_logits', 'float', ['m', 't']);
  g.output('token_probs', 'float', ['m', 't']);
  return g.build();
}

/** cap * tanh(x / cap), Gemma's soft-capping of attention scores and final logits. */
function softcap(g: GraphBuilder, x: string, cap: number): string {
  return g.op1('Mul', [g.op1('Tanh', [g.op1('Div', [x, g.constFloat([cap], [])])]), g.constFloat([cap], [])]);
}

/** GELU's tanh approximation (PyTorch's approximate="tanh", HF's gelu_pytorch_tanh): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
function geluTanh(g: GraphBuilder, x: string): string {
  const cube = g.op1('Mul', [g.op1('Mul', [x, x]), x]);
  const inner = g.op1('Mul', [g.op1('Add', [x, g.op1('Mul', [cube, g.constFloat([0.044715], [])])]), g.constFloat([Math.sqrt(2 / Math.PI)], [])]);
  return g.op1('Mul', [g.op1('Mul', [x, g.constFloat([0.5], [])]), g.op1('Add', [g.op1('Tanh', [inner]), g.constFloat([1], [])])]);
}
