/**
 * ONNX block graph of a GPT-NeoX transformer (Pythia), built from the canonical weights: LayerNorm
 * with biases, partial rotary embeddings (rotate_half on the first rotaryDims dimensions of each
 * head, the rest passed through), exact GELU MLP, and the parallel residual (attention and MLP both
 * read resid_pre) or the sequential one. Every hook point of the model's graph family (`neox` or
 * `neox_sequential`) is a graph output. Primitive operators in fp32, so that each hook point is
 * exactly its definition (ONNX's LayerNormalization would not hand back hook_scale per norm, and the
 * Attention operator not the pre-RoPE queries and keys).
 *
 * Block graph I/O (b = batch, q = positions run, T = keys they see; plain forward: T = q):
 *   in   resid_pre   [b, q, d_model]
 *        past_k      [P, head, d_head]  keys (after RoPE) of earlier positions, shared by every variant (P may be 0)
 *        past_v      [P, head, d_head]
 *        attn_mask   [q, T]          additive causal mask, T = P + q; packed rows: [q, q] (dense) or [q, K + 1] (prefix rows)
 *        positions   [q] int64       each row's position in its prompt, for RoPE (packed rows are not in position order)
 *        prefix_rows [1] int64       K > 0: packed rows (b = 1, P = 0) that attend to the first K rows of the call
 *                                    and to themselves only, as in gpt2-graphs.ts
 *        z_route_from, z_route_to [r, 3] int64  packed runs: hook_z rows (0, row, head) that take the values of
 *                                    another row of the same call
 *        z_index [k, 3], z_patch [k, d_head]; attn_index [k, 2], attn_patch [k, d_model];
 *        mlp_index [k, 2], mlp_patch [k, d_model]   patch rows, as in gpt2-graphs.ts (empty lists: no patch);
 *                    every patchable block hook of the registry has its pair (hook_q/k/v are written before RoPE)
 *   out  the family's block hook points, [b, ...the hook's shape]
 *        k, v        [b, q, head * d_head]  keys (after RoPE) and values of the positions run, for caching
 * A patched hook_attn_out or hook_mlp_out is what the residual stream adds (and, sequential, what
 * resid_mid holds), as TransformerLens's hooks replace them.
 * The final graph is gpt2-graphs.ts's (LayerNorm with bias, then the unembedding).
 *
 * The packed forward of patching sweeps (runtime/packed-forward.ts) runs on the same graph, as
 * llama-graphs.ts's: rows of one sequence with their own positions, under a dense mask or as prefix
 * rows, hook_z rows routed.
 */
import { graphFamily, type ModelConfig } from '../model/config.js';
import { ropeInverseFrequencies } from '../model/rope.js';
import type { BlockWeights } from '../model/weights.js';
import type { Tensor } from '../tensor.js';
import { blockOutputOf, hasHook, HOOK_POINT_LIST, ROW_PATCH_POINTS, type HookDim } from '../hooks/registry.js';
import { GraphBuilder, type BuiltGraph, type Dim, type WeightMode } from './graph-builder.js';

export function buildNeoxBlockGraph(config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'initializers'): BuiltGraph {
  const g = new GraphBuilder(`block${layer}`, mode);
  const { nHeads: H, dModel: D, dHead: Dh, dMlp: M, eps } = config;
  const R = config.rotaryDims ?? Dh;
  const resid = g.input('resid_pre', 'float', ['b', 'q', D]);
  const pastK = g.input('past_k', 'float', ['P', H, Dh]);
  const pastV = g.input('past_v', 'float', ['P', H, Dh]);
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
  const written = new Set<string>();
  /** `x` with the rows of patchable hook `output` written (ScatterND), as graph output `output`; an unpatchable hook as it is. */
  const patched = (x: string, output: string): string => {
    const rows = patchRows.get(output);
    if (!rows) return g.op1('Identity', [x], {}, output);
    written.add(output);
    return g.op1('ScatterND', [x, ...rows], {}, output);
  };

  // --- attention ---------------------------------------------------------------------------
  const x1 = layerNorm(g, resid, w.ln1, D, eps, 'ln1', 'ln1_scale');
  /** x1 @ W (+ b), [b, q, head, d_head] as graph output `out`, with its patch rows (before RoPE) if the hook is patchable. */
  const project = (name: string, W: Tensor, b: Tensor, out: string): string => {
    let y = g.op1('MatMul', [x1, g.weight(name, headColumns(W, H, D, Dh), [D, H * Dh])]);
    if (config.qkvBias) y = g.op1('Add', [y, g.weight(`${name}_b`, b.data, [H * Dh])]);
    return patched(g.op1('Reshape', [y, g.constInt64([0, 0, H, Dh])]), out);
  };
  const q = project('W_Q', w.W_Q, w.b_Q, 'hook_q');
  const k = project('W_K', w.W_K, w.b_K, 'hook_k');
  const v = project('W_V', w.W_V, w.b_V, 'hook_v');
  const { cos, sin } = neoxRopeTablesAt(g, config, R, positions);
  const rotQ = rotatePartial(g, q, cos, sin, R, Dh, 'rot_q'); // [b, q, head, d_head]
  const rotK = rotatePartial(g, k, cos, sin, R, Dh, 'rot_k');
  g.op1('Reshape', [rotK, g.constInt64([0, 0, H * Dh])], {}, 'k');
  g.op1('Reshape', [v, g.constInt64([0, 0, H * Dh])], {}, 'v');
  const a: NeoxAttentionInputs = { rotK, v, pastK, pastV, mask, prefixRows, queries: g.op1('Transpose', [rotQ], { perm: [0, 2, 1, 3] }), Dh };
  const [, zHeads] = g.ifElse(
    g.op1('Greater', [prefixRows, g.constInt64([0])]),
    ['pattern', g.fresh('z')],
    (sub) => prefixAttention(sub, a),
    (sub) => attention(sub, a),
  );
  // [b, head, q, d_head] -> [b, q, head, d_head]; routed rows (packed runs) take the values of their
  // source rows of the same call, then the patch rows are written.
  const byRow = g.op1('Transpose', [zHeads!], { perm: [0, 2, 1, 3] });
  const z = patched(g.op1('ScatterND', [byRow, routeTo, g.op1('GatherND', [byRow, routeFrom])]), 'z');
  let attn = g.op1('MatMul', [g.op1('Reshape', [z, g.constInt64([0, 0, H * Dh])]), g.weight('W_O', w.W_O.data, [H * Dh, D])]);
  if (config.oBias) attn = g.op1('Add', [attn, g.weight('b_O', w.b_O.data, [D])]);
  const attnOut = patched(attn, 'attn_out');

  // --- MLP: W_out gelu(x W_in + b_in) + b_out, reading resid_pre (parallel) or resid_mid --------
  const mlpIn = config.parallelResidual === true ? resid : g.op1('Add', [resid, attnOut], {}, 'resid_mid');
  const x2 = layerNorm(g, mlpIn, w.ln2, D, eps, 'ln2', 'ln2_scale');
  const pre = g.op1('Add', [g.op1('MatMul', [x2, g.weight('W_in', w.W_in.data, [D, M])]), g.weight('b_in', w.b_in.data, [M])], {}, 'mlp_pre');
  // Exact GELU, 0.5 x (1 + erf(x / sqrt 2)) (HF's "gelu").
  const erf = g.op1('Erf', [g.op1('Mul', [pre, g.constFloat([Math.SQRT1_2], [])])]);
  const post = g.op1('Mul', [g.op1('Mul', [pre, g.constFloat([0.5], [])]), g.op1('Add', [erf, g.constFloat([1], [])])], {}, 'mlp_post');
  const mlpOut = patched(g.op1('Add', [g.op1('MatMul', [post, g.weight('W_out', w.W_out.data, [M, D])]), g.weight('b_out', w.b_out.data, [D])]), 'mlp_out');
  // HF adds mlp_out + attn_out + resid (parallel) or mlp_out + resid_mid.
  g.op1('Add', config.parallelResidual === true ? [g.op1('Add', [mlpOut, attnOut]), resid] : [mlpOut, mlpIn], {}, 'resid_post');

  const family = graphFamily(config);
  const dims: Partial<Record<HookDim, Dim>> = { pos: 'q', query_pos: 'q', key_pos: 'T', head: H, kv_head: H, d_head: Dh, d_model: D, d_mlp: M };
  for (const point of HOOK_POINT_LIST) {
    if ('output' in point.source && point.source.graph === 'block' && hasHook(point, family))
      g.output(point.source.output, 'float', ['b', ...graphDims(point.shape, dims)]);
  }
  g.output('k', 'float', ['b', 'q', H * Dh]);
  g.output('v', 'float', ['b', 'q', H * Dh]);
  // A patch input the graph never writes would drop that hook's patches silently.
  const unwritten = [...patchRows.keys()].filter((output) => !written.has(output));
  if (unwritten.length > 0) throw new Error(`neox block graph: patch rows of ${unwritten.join(', ')} are not written`);
  return g.build();
}

interface NeoxAttentionInputs {
  /** [b, head, q, d_head] queries after RoPE */
  queries: string;
  /** [b, q, head, d_head] keys after RoPE and values of the positions run */
  rotK: string;
  v: string;
  /** [P, head, d_head] keys and values of the cached positions, shared by every variant */
  pastK: string;
  pastV: string;
  /** [q, T] additive mask ([q, K + 1] for prefix rows) */
  mask: string;
  /** [1]: K > 0 for packed rows attending to the first K rows of the call and to themselves */
  prefixRows: string;
  Dh: number;
}

/** Scaled scores plus the mask, softmaxed over the keys. */
function softmaxOf(g: GraphBuilder, scores: string, a: NeoxAttentionInputs): string {
  return g.op1('Softmax', [g.op1('Add', [g.op1('Mul', [scores, g.constFloat([1 / Math.sqrt(a.Dh)], [])]), a.mask])], { axis: -1 });
}

/**
 * Attention of the positions run over the cached ones (each variant reading the same past) and
 * themselves: pattern [b, head, q, P + q] and z [b, head, q, d_head].
 */
function attention(g: GraphBuilder, a: NeoxAttentionInputs): string[] {
  /** [P, head, d_head] cached rows before the run's [b, q, head, d_head]: [b, T, head, d_head]. */
  const withPast = (past: string, run: string): string => {
    const b = g.op1('Slice', [g.op1('Shape', [run]), g.constInt64([0]), g.constInt64([1])]);
    const perVariant = g.op1('Expand', [g.op1('Unsqueeze', [past, g.constInt64([0])]), g.op1('Concat', [b, g.constInt64([1, 1, 1])], { axis: 0 })]);
    return g.op1('Concat', [perVariant, run], { axis: 1 });
  };
  const keys = g.op1('Transpose', [withPast(a.pastK, a.rotK)], { perm: [0, 2, 3, 1] }); // [b, head, d_head, T]
  const values = g.op1('Transpose', [withPast(a.pastV, a.v)], { perm: [0, 2, 1, 3] }); // [b, head, T, d_head]
  const pattern = softmaxOf(g, g.op1('MatMul', [a.queries, keys]), a);
  return [pattern, g.op1('MatMul', [pattern, values])];
}

/**
 * Packed rows (b = 1, no past) that each attend to the first K rows of the call (the prompts a
 * packed run carries) and to themselves: scores [head, q, K] plus one dot product per row for its
 * own key, instead of a dense [head, q, q] product that the mask would mostly discard. Returns
 * pattern [1, head, q, K + 1] and z [1, head, q, d_head].
 */
function prefixAttention(g: GraphBuilder, a: NeoxAttentionInputs): string[] {
  const start = g.constInt64([0]);
  const keys = g.op1('Transpose', [a.rotK], { perm: [0, 2, 1, 3] }); // [1, head, q, d_head]
  const values = g.op1('Transpose', [a.v], { perm: [0, 2, 1, 3] }); // [1, head, q, d_head]
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
 * LayerNorm over the last axis, as TransformerLens computes it: x - mean(x), divided by
 * sqrt(mean((x - mean)^2) + eps) (graph output `scaleOutput`, hook_scale), times w plus b.
 */
function layerNorm(g: GraphBuilder, x: string, ln: { w: Tensor; b: Tensor }, D: number, eps: number, name: string, scaleOutput: string): string {
  const axis = g.constInt64([-1]);
  const centred = g.op1('Sub', [x, g.op1('ReduceMean', [x, axis], { keepdims: 1 })]);
  const variance = g.op1('ReduceMean', [g.op1('Mul', [centred, centred]), axis], { keepdims: 1 });
  const scale = g.op1('Sqrt', [g.op1('Add', [variance, g.constFloat([eps], [])])], {}, scaleOutput);
  return g.op1('Add', [g.op1('Mul', [g.op1('Div', [centred, scale]), g.weight(`${name}_w`, ln.w.data, [D])]), g.weight(`${name}_b`, ln.b.data, [D])]);
}

/** cos and sin of RoPE's angles over the R rotary dimensions for the rows run (positions T - q .. T - 1 of the mask), [q, 1, R]. */
export function neoxRopeTables(g: GraphBuilder, config: ModelConfig, R: number, mask: string): { cos: string; sin: string } {
  const shape = g.op1('Shape', [mask]);
  const dim = (i: number): string => g.op1('Gather', [shape, g.constInt64([i], [])], { axis: 0 });
  const T = dim(1);
  return neoxRopeTablesAt(g, config, R, g.op1('Range', [g.op1('Sub', [T, dim(0)]), T, g.constInt64([1], [])]));
}

/** cos and sin of RoPE's angles over the R rotary dimensions at each row's position (`positions` [q] int64), [q, 1, R]. */
function neoxRopeTablesAt(g: GraphBuilder, config: ModelConfig, R: number, positions: string): { cos: string; sin: string } {
  // HF's GPTNeoXRotaryEmbedding(dim = rotary_ndims): inv_freq = theta^(-2j / rotary_ndims).
  const inv = Float32Array.from(ropeInverseFrequencies(config.rotary!, R));
  const at = g.op1('Cast', [positions], { to: 1 }); // [q] float
  const half = g.op1('Mul', [g.op1('Unsqueeze', [at, g.constInt64([1])]), g.constFloat([...inv], [inv.length])]); // [q, R / 2]
  const angles = g.op1('Unsqueeze', [g.op1('Concat', [half, half], { axis: 1 }), g.constInt64([1])]); // [q, 1, R]
  return { cos: g.op1('Cos', [angles]), sin: g.op1('Sin', [angles]) };
}

/** x_rot * cos + rotate_half(x_rot) * sin on the first R dims of the last axis, the other Dh - R passed through. */
export function rotatePartial(g: GraphBuilder, x: string, cos: string, sin: string, R: number, Dh: number, out: string): string {
  const axis = g.constInt64([-1]);
  const slice = (from: number, to: number): string => g.op1('Slice', [x, g.constInt64([from]), g.constInt64([to]), axis]);
  const x1 = slice(0, R / 2);
  const x2 = slice(R / 2, R);
  const rotated = g.op1('Concat', [g.op1('Neg', [x2]), x1], { axis: -1 });
  const xRot = R === Dh ? x : slice(0, R);
  const turned = g.op1('Add', [g.op1('Mul', [xRot, cos]), g.op1('Mul', [rotated, sin])]);
  return R === Dh ? g.op1('Identity', [turned], {}, out) : g.op1('Concat', [turned, slice(R, Dh)], { axis: -1 }, out);
}

/** TransformerLens's [head, d_model, d_head] as the [d_model, head * d_head] matrix x is multiplied by. */
function headColumns(W: Tensor, heads: number, D: number, Dh: number): Float32Array {
  const out = new Float32Array(D * heads * Dh);
  for (let h = 0; h < heads; h++) for (let i = 0; i < D; i++) out.set(W.data.subarray((h * D + i) * Dh, (h * D + i + 1) * Dh), i * heads * Dh + h * Dh);
  return out;
}

/** A hook's shape as graph dims. */
function graphDims(shape: readonly HookDim[], named: Partial<Record<HookDim, Dim>>): Dim[] {
  return shape.map((d) => {
    const dim = typeof d === 'number' ? d : named[d];
    if (dim === undefined) throw new Error(`graph dims: no size for hook dim "${String(d)}"`);
    return dim;
  });
}
