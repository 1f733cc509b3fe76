/**
 * ONNX graphs of a Llama-family transformer (Llama, Mistral, Qwen2, Qwen3), built from the
 * canonical weights: RMSNorm, rotary position embeddings (rotate_half convention), grouped-query
 * attention, per-head q/k RMSNorm (Qwen3) and the gated (SwiGLU) MLP, every hook point of the
 * registry's `llama` family a graph output. Built from primitive operators, all computed in fp32,
 * so that each hook point is exactly its definition (ONNX's fused RMSNormalization would not hand
 * back hook_scale, and the Attention operator not the pre-RoPE queries and keys).
 *
 * Block graph I/O (b = batch, q = positions run, T = keys they see; plain forward: T = q):
 *   in   resid_pre   [b, q, d_model]
 *        past_k      [P, kv_head, d_head]  keys (after RoPE) of earlier positions, shared by every variant (P may be 0)
 *        past_v      [P, kv_head, d_head]
 *        attn_mask   [q, T]          additive mask, T = P + q (causal, and the sliding window on windowed
 *                                    layers); the rows run are positions T - q .. T - 1, for RoPE
 *        z_index [k, 3], z_patch [k, d_head]; attn_index [k, 2], attn_patch [k, d_model];
 *        mlp_index [k, 2], mlp_patch [k, d_model]   patch rows, as in gpt2-graphs.ts (empty lists: no patch)
 *   out  the `llama` family's block hook points, [b, ...the hook's shape]
 *        k, v        [b, q, kv_head * d_head]  keys (after RoPE) and values of the positions run, for caching
 * Final graph: as gpt2-graphs.ts's (resid, logit_pos, score, score_tokens in; scale, logits and
 * token scores out), with RMSNorm for ln_final.
 *
 * The packed forward (prefix rows, routed z rows) is not built for this family: patching sweeps
 * run its sites as variants (run-patch-sweep.ts) and runtime/instrumented-model.ts refuses it.
 */
import type { ModelConfig } from '../model/config.js';
import { ropeInverseFrequencies } from '../model/rope.js';
import type { BlockWeights, ModelWeights } from '../model/weights.js';
import type { Tensor } from '../tensor.js';
import { blockOutputOf, hasHook, HOOK_POINT_LIST, ROW_PATCH_POINTS, type HookDim } from '../hooks/registry.js';
import { GraphBuilder, type BuiltGraph, type Dim, type WeightMode } from './graph-builder.js';

export function buildLlamaBlockGraph(config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'initializers'): BuiltGraph {
  const g = new GraphBuilder(`block${layer}`, mode);
  const { nHeads: H, dModel: D, dHead: Dh, dMlp: M, eps } = config;
  const Hkv = config.nKvHeads ?? H;
  const resid = g.input('resid_pre', 'float', ['b', 'q', D]);
  const pastK = g.input('past_k', 'float', ['P', Hkv, Dh]);
  const pastV = g.input('past_v', 'float', ['P', Hkv, Dh]);
  const mask = g.input('attn_mask', 'float', ['q', 'T']);
  // Per patchable hook (registry): its index rows and their values, written by ScatterND.
  const patchRows = new Map<string, [index: string, values: string]>();
  for (const point of ROW_PATCH_POINTS) {
    const { index, values, perHead } = point.patch;
    const k = `${index}_rows`;
    patchRows.set(blockOutputOf(point)!, [g.input(index, 'int64', [k, perHead ? 3 : 2]), g.input(values, 'float', [k, perHead ? Dh : D])]);
  }
  const patched = (x: string, output: string): string => g.op1('ScatterND', [x, ...patchRows.get(output)!], {}, output);
  /** [P, kv_head, d_head] cached rows before the run's [b, q, kv_head, d_head]: [b, T, kv_head, d_head]. */
  const withPast = (past: string, run: string): string => {
    const b = g.op1('Slice', [g.op1('Shape', [run]), g.constInt64([0]), g.constInt64([1])]);
    const perVariant = g.op1('Expand', [g.op1('Unsqueeze', [past, g.constInt64([0])]), g.op1('Concat', [b, g.constInt64([1, 1, 1])], { axis: 0 })]);
    return g.op1('Concat', [perVariant, run], { axis: 1 });
  };

  // --- attention ---------------------------------------------------------------------------
  const x1 = rmsNorm(g, resid, g.weight('ln1_w', w.ln1.w.data, [D]), eps, 'ln1_scale');
  /** x1 @ W (+ b), [b, q, heads, d_head] as graph output `out`. */
  const project = (name: string, W: Tensor, b: Tensor, heads: number, out: string): string => {
    let y = g.op1('MatMul', [x1, g.weight(name, headColumns(W, heads, D, Dh), [D, heads * Dh])]);
    if (config.qkvBias) y = g.op1('Add', [y, g.weight(`${name}_b`, b.data, [heads * Dh])]);
    return g.op1('Reshape', [y, g.constInt64([0, 0, heads, Dh])], {}, out);
  };
  let q = project('W_Q', w.W_Q, w.b_Q, H, 'hook_q');
  let k = project('W_K', w.W_K, w.b_K, Hkv, 'hook_k');
  const v = project('W_V', w.W_V, w.b_V, Hkv, 'hook_v');
  if (config.qkNorm) {
    q = rmsNorm(g, q, g.weight('q_norm', w.q_norm!.data, [Dh]), eps);
    k = rmsNorm(g, k, g.weight('k_norm', w.k_norm!.data, [Dh]), eps);
  }
  const { cos, sin } = ropeTables(g, config, mask);
  const rotQ = rotate(g, q, cos, sin, Dh, 'rot_q'); // [b, q, head, d_head]
  const rotK = rotate(g, k, cos, sin, Dh, 'rot_k'); // [b, q, kv_head, d_head]
  // Query head h reads kv head floor(h / group), as HF's repeat_kv lays them out.
  const group = H / Hkv;
  const perQueryHead = (x: string, perm: number[], merged: number[]): string => {
    const t = g.op1('Transpose', [x], { perm }); // [b, kv_head, a, c]
    if (group === 1) return t;
    const repeated = g.op1('Expand', [g.op1('Unsqueeze', [t, g.constInt64([2])]), g.constInt64([1, 1, group, 1, 1])]); // [b, kv_head, group, a, c]
    return g.op1('Reshape', [repeated, g.constInt64(merged)]);
  };
  g.op1('Reshape', [rotK, g.constInt64([0, 0, Hkv * Dh])], {}, 'k');
  g.op1('Reshape', [v, g.constInt64([0, 0, Hkv * Dh])], {}, 'v');
  const keys = perQueryHead(withPast(pastK, rotK), [0, 2, 3, 1], [0, H, Dh, -1]); // [b, head, d_head, T]
  const values = perQueryHead(withPast(pastV, v), [0, 2, 1, 3], [0, H, -1, Dh]); // [b, head, T, d_head]
  const queries = g.op1('Transpose', [rotQ], { perm: [0, 2, 1, 3] }); // [b, head, q, d_head]
  const scores = g.op1('Add', [g.op1('Mul', [g.op1('MatMul', [queries, keys]), g.constFloat([1 / Math.sqrt(Dh)], [])]), mask]);
  const pattern = g.op1('Softmax', [scores], { axis: -1 }, 'pattern'); // [b, head, q, T]
  const z = patched(g.op1('Transpose', [g.op1('MatMul', [pattern, values])], { perm: [0, 2, 1, 3] }), 'z'); // [b, q, head, d_head]
  let attn = g.op1('MatMul', [g.op1('Reshape', [z, g.constInt64([0, 0, H * Dh])]), g.weight('W_O', w.W_O.data, [H * Dh, D])]);
  if (config.oBias) attn = g.op1('Add', [attn, g.weight('b_O', w.b_O.data, [D])]);
  const attnOut = patched(attn, 'attn_out');
  const residMid = g.op1('Add', [resid, attnOut], {}, 'resid_mid');

  // --- gated MLP: down(silu(gate(x)) * up(x)) ----------------------------------------------
  const x2 = rmsNorm(g, residMid, g.weight('ln2_w', w.ln2.w.data, [D]), eps, 'ln2_scale');
  const gate = g.op1('MatMul', [x2, g.weight('W_gate', w.W_gate!.data, [D, M])], {}, 'mlp_pre');
  const up = g.op1('MatMul', [x2, g.weight('W_in', w.W_in.data, [D, M])], {}, 'mlp_pre_linear');
  const post = g.op1('Mul', [g.op1('Mul', [gate, g.op1('Sigmoid', [gate])]), up], {}, 'mlp_post');
  const mlpOut = patched(g.op1('MatMul', [post, g.weight('W_out', w.W_out.data, [M, D])]), 'mlp_out');
  g.op1('Add', [residMid, mlpOut], {}, 'resid_post');

  const dims: Partial<Record<HookDim, Dim>> = { pos: 'q', query_pos: 'q', key_pos: 'T', head: H, kv_head: Hkv, d_head: Dh, d_model: D, d_mlp: M };
  for (const point of HOOK_POINT_LIST) {
    if ('output' in point.source && point.source.graph === 'block' && hasHook(point, 'llama'))
      g.output(point.source.output, 'float', ['b', ...graphDims(point.shape, dims)]);
  }
  g.output('k', 'float', ['b', 'q', Hkv * Dh]);
  g.output('v', 'float', ['b', 'q', Hkv * Dh]);
  return g.build();
}

export function buildLlamaFinalGraph(
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
  const logits = g.op1('Gemm', [flat, g.weight('W_U_T', weights.W_U_T.data, [V, D])], { transB: 1 }, 'logits');
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

/**
 * RMSNorm over the last axis, in fp32 as HF computes it: x / sqrt(mean(x^2) + eps) * w. With
 * `scaleOutput`, sqrt(mean(x^2) + eps) is that graph output (TransformerLens's hook_scale).
 */
export function rmsNorm(g: GraphBuilder, x: string, w: string, eps: number, scaleOutput?: string): string {
  const meanSquare = g.op1('ReduceMean', [g.op1('Mul', [x, x]), g.constInt64([-1])], { keepdims: 1 });
  const scale = g.op1('Sqrt', [g.op1('Add', [meanSquare, g.constFloat([eps], [])])], {}, scaleOutput);
  return g.op1('Mul', [g.op1('Div', [x, scale]), w]);
}

/** cos and sin of RoPE's angles for the rows run (positions T - q .. T - 1 of the mask), [q, 1, d_head]. */
export function ropeTables(g: GraphBuilder, config: ModelConfig, mask: string): { cos: string; sin: string } {
  const inv = Float32Array.from(ropeInverseFrequencies(config.rotary!, config.dHead));
  const shape = g.op1('Shape', [mask]);
  const dim = (i: number): string => g.op1('Gather', [shape, g.constInt64([i], [])], { axis: 0 });
  const T = dim(1);
  const positions = g.op1('Cast', [g.op1('Range', [g.op1('Sub', [T, dim(0)]), T, g.constInt64([1], [])])], { to: 1 }); // [q] float
  const half = g.op1('Mul', [g.op1('Unsqueeze', [positions, g.constInt64([1])]), g.constFloat([...inv], [inv.length])]); // [q, d_head / 2]
  const angles = g.op1('Unsqueeze', [g.op1('Concat', [half, half], { axis: 1 }), g.constInt64([1])]); // [q, 1, d_head]
  return { cos: g.op1('Cos', [angles]), sin: g.op1('Sin', [angles]) };
}

/** x * cos + rotate_half(x) * sin, rotate_half(x) = (-x2, x1) for the halves x1, x2 of the last axis. */
export function rotate(g: GraphBuilder, x: string, cos: string, sin: string, Dh: number, out: string): string {
  const axis = g.constInt64([-1]);
  const x1 = g.op1('Slice', [x, g.constInt64([0]), g.constInt64([Dh / 2]), axis]);
  const x2 = g.op1('Slice', [x, g.constInt64([Dh / 2]), g.constInt64([Dh]), axis]);
  const rotated = g.op1('Concat', [g.op1('Neg', [x2]), x1], { axis: -1 });
  return g.op1('Add', [g.op1('Mul', [x, cos]), g.op1('Mul', [rotated, sin])], {}, out);
}

/** TransformerLens's [heads, d_model, d_head] as the [d_model, heads * d_head] matrix x is multiplied by. */
export function headColumns(W: Tensor, heads: number, D: number, Dh: number): Float32Array {
  const out = new Float32Array(D * heads * Dh);
  for (let h = 0; h < heads; h++) for (let i = 0; i < D; i++) out.set(W.data.subarray((h * D + i) * Dh, (h * D + i + 1) * Dh), i * heads * Dh + h * Dh);
  return out;
}

/** A hook's shape as graph dims. */
export function graphDims(shape: readonly HookDim[], named: Partial<Record<HookDim, Dim>>): Dim[] {
  return shape.map((d) => {
    const dim = typeof d === 'number' ? d : named[d];
    if (dim === undefined) throw new Error(`graph dims: no size for hook dim "${String(d)}"`);
    return dim;
  });
}
