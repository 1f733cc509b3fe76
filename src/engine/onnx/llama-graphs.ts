/**
 * ONNX graphs of a Llama-family transformer (Llama, Mistral, Qwen2, Qwen3), built from the
 * canonical weights: RMSNorm, rotary position embeddings (rotate_half convention), grouped-query
 * attention, per-head q/k RMSNorm (Qwen3) and the gated (SwiGLU) MLP, every hook point of the
 * registry's `llama` family a graph output, all computed in fp32. Fused operators only where ONNX
 * Runtime's CPU kernel computes the definition and every hook point stays an output: RMSNorm is
 * SimplifiedLayerNormalization (its 1 / scale output gives hook_scale), RoPE the RotaryEmbedding
 * operator on tables of cos and sin fed by the runtime (computed in float64 and rounded), and a plain
 * forward's attention ONNX's Attention operator with grouped-query heads (its softmax output is
 * hook_pattern), as GPT-2's graphs run theirs.
 *
 * Block graph I/O (b = batch, q = positions run, T = keys they see; plain forward: T = q):
 *   in   resid_pre   [b, q, d_model]
 *        past_k      [P, kv_head, d_head]  keys (after RoPE) of earlier positions, shared by every variant (P may be 0)
 *        past_v      [P, kv_head, d_head]
 *        attn_mask   [q, T]          additive mask, T = P + q (causal, and the sliding window on windowed
 *                                    layers); packed rows: [q, q] (dense) or [q, K + 1] (prefix rows)
 *        rope_positions [b, q] int64  each row's position in its prompt, for RoPE (packed rows are not
 *                                    in position order, so the mask's shape cannot say it)
 *        rope_cos, rope_sin [n, d_head / 2]  cos and sin of RoPE's angles at positions 0 .. n - 1
 *        plain       [] bool         true when the call has no past, no routed rows and no prefix rows
 *        prefix_rows [1] int64       K > 0: packed rows (b = 1, P = 0) that attend to the first K rows
 *                                    of the call and to themselves only, as in gpt2-graphs.ts
 *        z_route_from, z_route_to [r, 3] int64  packed runs: hook_z rows (0, row, head) that take the
 *                                    values of another row of the same call
 *        z_index [k, 3], z_patch [k, d_head]; attn_index [k, 2], attn_patch [k, d_model];
 *        mlp_index [k, 2], mlp_patch [k, d_model]   patch rows, as in gpt2-graphs.ts (empty lists: no patch)
 *        q_index, k_index, v_index [k, 3], q_patch, k_patch, v_patch [k, d_head]   hook_q / hook_k / hook_v rows
 *                                    (keys and values per kv head)
 *   out  the `llama` family's block hook points, [b, ...the hook's shape]
 *        k, v        [b, q, kv_head * d_head]  keys (after RoPE) and values of the positions run, for caching
 * Final graph: as gpt2-graphs.ts's (resid, logit_pos, score, score_tokens in; scale, logits and
 * token scores out), with RMSNorm for ln_final.
 *
 * The packed forward of patching sweeps (runtime/packed-forward.ts) runs on the same graph: rows of
 * one sequence with their own positions, under a dense mask or as prefix rows, hook_z rows routed.
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
  const positions = g.input('rope_positions', 'int64', ['b', 'q']);
  const ropeCos = g.input('rope_cos', 'float', ['n', Dh / 2]);
  const ropeSin = g.input('rope_sin', 'float', ['n', Dh / 2]);
  const plain = g.input('plain', 'bool', []);
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
  const patched = (x: string, output: string): string => g.op1('ScatterND', [x, ...patchRows.get(output)!], {}, output);
  // --- attention ---------------------------------------------------------------------------
  const x1 = rmsNorm(g, resid, g.weight('ln1_w', w.ln1.w.data, [D]), eps, 'ln1_scale');
  // One product for Q, K and V of every head, x1 [b, q, d_model] @ [d_model, (head + 2 kv_head) * d_head]
  // (far better shaped than three), split into hook_q, hook_k and hook_v [b, q, heads, d_head] with
  // their patch rows written (before q/k norms and RoPE).
  const widths = [H * Dh, Hkv * Dh, Hkv * Dh];
  let qkv = g.op1('MatMul', [
    x1,
    g.weight('W_QKV', fusedColumns([headColumns(w.W_Q, H, D, Dh), headColumns(w.W_K, Hkv, D, Dh), headColumns(w.W_V, Hkv, D, Dh)], D), [D, (H + 2 * Hkv) * Dh]),
  ]);
  if (config.qkvBias) qkv = g.op1('Add', [qkv, g.weight('b_QKV', Float32Array.from([...w.b_Q.data, ...w.b_K.data, ...w.b_V.data]), [(H + 2 * Hkv) * Dh])]);
  const parts = g.op('Split', [qkv, g.constInt64(widths)], { axis: 2 }, 3);
  const project = (part: string, heads: number, out: string): string => patched(g.op1('Reshape', [part, g.constInt64([0, 0, heads, Dh])]), out);
  let q = project(parts[0]!, H, 'hook_q');
  let k = project(parts[1]!, Hkv, 'hook_k');
  const v = project(parts[2]!, Hkv, 'hook_v');
  if (config.qkNorm) {
    q = rmsNorm(g, q, g.weight('q_norm', w.q_norm!.data, [Dh]), eps);
    k = rmsNorm(g, k, g.weight('k_norm', w.k_norm!.data, [Dh]), eps);
  }
  // RoPE on [b, q, heads * d_head] rows: rot_q and rot_k as hook points, the rotated keys (and the
  // values) of the positions run as rows for caching and for the Attention operator.
  const rope = (x: string, heads: number, out?: string): string =>
    g.op1('RotaryEmbedding', [g.op1('Reshape', [x, g.constInt64([0, 0, heads * Dh])]), ropeCos, ropeSin, positions], { num_heads: heads }, out);
  const rotQRows = rope(q, H);
  const kRows = rope(k, Hkv, 'k');
  const vRows = g.op1('Reshape', [v, g.constInt64([0, 0, Hkv * Dh])], {}, 'v');
  const rotQ = g.op1('Reshape', [rotQRows, g.constInt64([0, 0, H, Dh])], {}, 'rot_q'); // [b, q, head, d_head]
  const rotK = g.op1('Reshape', [kRows, g.constInt64([0, 0, Hkv, Dh])], {}, 'rot_k'); // [b, q, kv_head, d_head]
  // Of the branches one runs: a plain forward (no past, nothing routed or packed as prefix rows) is
  // ONNX's Attention operator, grouped-query heads and all, with [b, q, heads * d_head] rows in and
  // out; the others work per head (attention, prefixAttention) and route packed runs' z rows.
  const [, zRun] = g.ifElse(
    plain,
    ['pattern', g.fresh('z')],
    (sub) => {
      const [zRows, , , p] = sub.op(
        'Attention',
        [rotQRows, kRows, vRows, mask],
        { q_num_heads: H, kv_num_heads: Hkv, scale: { float: 1 / Math.sqrt(Dh) }, qk_matmul_output_mode: 3 },
        [sub.fresh('z'), '', '', sub.fresh('pattern')],
      );
      return [p!, sub.op1('Reshape', [zRows!, sub.constInt64([0, 0, H, Dh])])];
    },
    (other) => {
      const a: LlamaAttentionInputs = { rotK, v, pastK, pastV, mask, prefixRows, queries: other.op1('Transpose', [rotQ], { perm: [0, 2, 1, 3] }), H, Hkv, Dh };
      const [p, zHeads] = other.ifElse(
        other.op1('Greater', [prefixRows, other.constInt64([0])]),
        [other.fresh('pattern'), other.fresh('z')],
        (sub) => prefixAttention(sub, a),
        (sub) => attention(sub, a),
      );
      // [b, head, q, d_head] -> [b, q, head, d_head]; routed rows (packed runs) take the values of
      // their source rows of the same call.
      const byRow = other.op1('Transpose', [zHeads!], { perm: [0, 2, 1, 3] });
      return [p!, other.op1('ScatterND', [byRow, routeTo, other.op1('GatherND', [byRow, routeFrom])])];
    },
  );
  const z = patched(zRun!, 'z'); // [b, q, head, d_head]
  let attn = g.op1('MatMul', [g.op1('Reshape', [z, g.constInt64([0, 0, H * Dh])]), g.weight('W_O', w.W_O.data, [H * Dh, D])]);
  if (config.oBias) attn = g.op1('Add', [attn, g.weight('b_O', w.b_O.data, [D])]);
  const attnOut = patched(attn, 'attn_out');
  const residMid = g.op1('Add', [resid, attnOut], {}, 'resid_mid');

  // --- gated MLP: down(silu(gate(x)) * up(x)) ----------------------------------------------
  const x2 = rmsNorm(g, residMid, g.weight('ln2_w', w.ln2.w.data, [D]), eps, 'ln2_scale');
  // gate and up as one product, x2 @ [d_model, 2 * d_mlp], split into the two hook points.
  const [gate, up] = g.op(
    'Split',
    [g.op1('MatMul', [x2, g.weight('W_gate_in', fusedColumns([w.W_gate!.data, w.W_in.data], D), [D, 2 * M])]), g.constInt64([M, M])],
    { axis: 2 },
    ['mlp_pre', 'mlp_pre_linear'],
  ) as [string, string];
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

/** The per-head attention paths shared by the rotary families' graphs (Llama family, Gemma). */
export interface LlamaAttentionInputs {
  /** [b, head, q, d_head] queries after RoPE */
  queries: string;
  /** [b, q, kv_head, d_head] keys after RoPE and values of the positions run */
  rotK: string;
  v: string;
  /** [P, kv_head, d_head] keys and values of the cached positions, shared by every variant */
  pastK: string;
  pastV: string;
  /** [q, T] additive mask ([q, K + 1] for prefix rows) */
  mask: string;
  /** [1]: K > 0 for packed rows attending to the first K rows of the call and to themselves */
  prefixRows: string;
  H: number;
  Hkv: number;
  Dh: number;
  /** q·k scores to the scores the mask is added to; default: times 1 / sqrt(d_head) (Gemma: its scale, then its soft-cap). */
  scoreTransform?: (g: GraphBuilder, scores: string) => string;
}

/**
 * [b, kv_head, a, c] (after `perm` of x) repeated per query head: query head h reads kv head
 * floor(h / group), as HF's repeat_kv lays them out; `merged` is the [b, head, a, c] shape.
 */
export function perQueryHead(g: GraphBuilder, x: string, perm: number[], merged: number[], group: number): string {
  const t = g.op1('Transpose', [x], { perm });
  if (group === 1) return t;
  const repeated = g.op1('Expand', [g.op1('Unsqueeze', [t, g.constInt64([2])]), g.constInt64([1, 1, group, 1, 1])]); // [b, kv_head, group, a, c]
  return g.op1('Reshape', [repeated, g.constInt64(merged)]);
}

/** Scaled scores plus the mask, softmaxed over the keys. */
function softmaxOf(g: GraphBuilder, scores: string, a: LlamaAttentionInputs): string {
  const scaled = a.scoreTransform ? a.scoreTransform(g, scores) : g.op1('Mul', [scores, g.constFloat([1 / Math.sqrt(a.Dh)], [])]);
  return g.op1('Softmax', [g.op1('Add', [scaled, a.mask])], { axis: -1 });
}

/**
 * Attention of the positions run over the cached ones (each variant reading the same past) and
 * themselves: pattern [b, head, q, P + q] and z [b, head, q, d_head].
 */
export function attention(g: GraphBuilder, a: LlamaAttentionInputs): string[] {
  const { H, Hkv, Dh } = a;
  /** [P, kv_head, d_head] cached rows before the run's [b, q, kv_head, d_head]: [b, T, kv_head, d_head]. */
  const withPast = (past: string, run: string): string => {
    const b = g.op1('Slice', [g.op1('Shape', [run]), g.constInt64([0]), g.constInt64([1])]);
    const perVariant = g.op1('Expand', [g.op1('Unsqueeze', [past, g.constInt64([0])]), g.op1('Concat', [b, g.constInt64([1, 1, 1])], { axis: 0 })]);
    return g.op1('Concat', [perVariant, run], { axis: 1 });
  };
  const keys = perQueryHead(g, withPast(a.pastK, a.rotK), [0, 2, 3, 1], [0, H, Dh, -1], H / Hkv); // [b, head, d_head, T]
  const values = perQueryHead(g, withPast(a.pastV, a.v), [0, 2, 1, 3], [0, H, -1, Dh], H / Hkv); // [b, head, T, d_head]
  const pattern = softmaxOf(g, g.op1('MatMul', [a.queries, keys]), a);
  return [pattern, g.op1('MatMul', [pattern, values])];
}

/**
 * Packed rows (b = 1, no past) that each attend to the first K rows of the call (the prompts a
 * packed run carries) and to themselves: scores [head, q, K] plus one dot product per row for its
 * own key, instead of a dense [head, q, q] product that the mask would mostly discard. Returns
 * pattern [1, head, q, K + 1] and z [1, head, q, d_head].
 */
export function prefixAttention(g: GraphBuilder, a: LlamaAttentionInputs): string[] {
  const { H, Hkv, Dh } = a;
  const start = g.constInt64([0]);
  const keys = perQueryHead(g, a.rotK, [0, 2, 1, 3], [0, H, -1, Dh], H / Hkv); // [1, head, q, d_head]
  const values = perQueryHead(g, a.v, [0, 2, 1, 3], [0, H, -1, Dh], H / Hkv); // [1, head, q, d_head]
  const kPrefix = g.op1('Slice', [keys, start, a.prefixRows, g.constInt64([2])]); // [1, head, K, d_head]
  const vPrefix = g.op1('Slice', [values, start, a.prefixRows, g.constInt64([2])]);
  const prefixScores = g.op1('MatMul', [a.queries, g.op1('Transpose', [kPrefix], { perm: [0, 1, 3, 2] })]); // [1, head, q, K]
  const ownScore = g.op1('ReduceSum', [g.op1('Mul', [a.queries, keys]), g.constInt64([-1])], { keepdims: 1 }); // [1, head, q, 1]
  const p = softmaxOf(g, g.op1('Concat', [prefixScores, ownScore], { axis: 3 }), a); // [1, head, q, K + 1]
  const axis3 = g.constInt64([3]);
  const pPrefix = g.op1('Slice', [p, start, a.prefixRows, axis3]);
  const pOwn = g.op1('Slice', [p, a.prefixRows, g.constInt64([Number.MAX_SAFE_INTEGER]), axis3]);
  return [p, g.op1('Add', [g.op1('MatMul', [pPrefix, vPrefix]), g.op1('Mul', [pOwn, values])])];
}

/**
 * RMSNorm over the last axis, in fp32 as HF computes it: x / sqrt(mean(x^2) + eps) * w, as ONNX
 * Runtime's SimplifiedLayerNormalization (one kernel). With `scaleOutput`, sqrt(mean(x^2) + eps) is
 * that graph output (TransformerLens's hook_scale), the reciprocal of the kernel's inv_std_var.
 */
export function rmsNorm(g: GraphBuilder, x: string, w: string, eps: number, scaleOutput?: string): string {
  const attrs = { axis: -1, epsilon: { float: eps } };
  if (scaleOutput === undefined) return g.op1('SimplifiedLayerNormalization', [x, w], attrs);
  const [y, invStd] = g.op('SimplifiedLayerNormalization', [x, w], attrs, 2);
  g.op1('Reciprocal', [invStd!], {}, scaleOutput);
  return y!;
}

/** The positions of the rows run, T - q .. T - 1 of the mask [q, T] (not packed rows: see the `positions` input), [q] int64. */
function maskPositions(g: GraphBuilder, mask: string): string {
  const shape = g.op1('Shape', [mask]);
  const dim = (i: number): string => g.op1('Gather', [shape, g.constInt64([i], [])], { axis: 0 });
  const T = dim(1);
  return g.op1('Range', [g.op1('Sub', [T, dim(0)]), T, g.constInt64([1], [])]);
}

/** cos and sin of RoPE's angles for the rows run (positions T - q .. T - 1 of the mask), [q, 1, d_head]. */
export function ropeTables(g: GraphBuilder, config: ModelConfig, mask: string): { cos: string; sin: string } {
  return ropeTablesAt(g, config, maskPositions(g, mask));
}

/** cos and sin of RoPE's angles at each row's position (`positions` [q] int64), [q, 1, d_head]. */
export function ropeTablesAt(g: GraphBuilder, config: ModelConfig, positions: string): { cos: string; sin: string } {
  const inv = Float32Array.from(ropeInverseFrequencies(config.rotary!, config.dHead));
  const at = g.op1('Cast', [positions], { to: 1 }); // [q] float
  const half = g.op1('Mul', [g.op1('Unsqueeze', [at, g.constInt64([1])]), g.constFloat([...inv], [inv.length])]); // [q, d_head / 2]
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

/** [d_model, n_i] matrices side by side as one [d_model, sum n_i] matrix (row-major). */
function fusedColumns(matrices: readonly Float32Array[], D: number): Float32Array {
  const widths = matrices.map((m) => m.length / D);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(D * total);
  for (let i = 0; i < D; i++) {
    let at = i * total;
    matrices.forEach((m, k) => {
      out.set(m.subarray(i * widths[k]!, (i + 1) * widths[k]!), at);
      at += widths[k]!;
    });
  }
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
