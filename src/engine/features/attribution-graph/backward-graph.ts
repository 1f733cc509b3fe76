/**
 * One layer of the replacement model's linearised backward pass, as an ONNX graph built at load
 * time. Attention patterns and every normalisation scale are frozen at the clean run's values and
 * the MLP is cut (its output is held as feature, error and bias nodes), so the map from
 * residual-stream writes to later reads is linear and its transpose runs row-batched: each row of
 * the batch is one target node's gradient.
 *
 * For layer l, with g the gradient at resid_post[l] ([b, pos, d_model]):
 *
 *   feature_effects[b, j] = g[b, p_j] · write_j        (the decoder writes landing at this layer's output hook)
 *   error_effects[b, p]   = g[b, p] · error[p]
 *   g_in   = inject + g · W_skipᵀ                         (the encoder columns of this layer's targets; a skip transcoder's linear path)
 *   g_mid  = g + N2ᵀ(g_in)                               (parallel residual: no g_mid; N2ᵀ(g_in) joins g_pre directly)
 *   g_attn = g_mid ⊙ w_post / s_post                       (Gemma's frozen post-attention RMSNorm)
 *   g_pre  = g_mid + N1ᵀ(Σ_h Pᵀ_h (g_attn W_O[h]ᵀ) W_V[kv(h)]ᵀ)
 *
 * with Nᵀ(x) = centre?((x ⊙ w) / s): LayerNorm centres, RMSNorm does not; w is the norm's weight
 * (ones for ln2.hook_normalized, which is before the weight), s the frozen scale of each position.
 * Layer 0 also returns token_effects[b, p] = g_pre[b, p] · embed[p].
 */
import { GraphBuilder, type BuiltGraph } from '../../onnx/graph-builder.js';

/** How a layer's encoder input depends on the stream the MLP reads (resid_mid, or resid_pre with a parallel residual). */
export type EncoderInputMap =
  /** The stream itself (hook_resid_mid / hook_resid_pre), centred over d_model when the dictionary's model was (center_writing_weights). */
  | { kind: 'stream'; centre: boolean }
  /** The MLP's norm frozen at its scale: centred for LayerNorm, times `weight` when the hook is after it. */
  | { kind: 'norm'; weight: Float32Array | null; centre: boolean };

export interface LinearLayerSpec {
  layer: number;
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  dHead: number;
  /** LayerNorm centres; RMSNorm does not. */
  centre: boolean;
  /** ln1's weight, [d_model]. */
  ln1Weight: Float32Array;
  /** [head, d_head, d_model] */
  W_O: Float32Array;
  /** [kv_head, d_model, d_head] */
  W_V: Float32Array;
  /** Gemma's post-attention norm weight (1 + w as stored), [d_model]; null without post norms. */
  postAttentionWeight: Float32Array | null;
  parallelResidual: boolean;
  input: EncoderInputMap;
  /** A skip transcoder's W_skip, [d_in, d_out] (skip = x · W_skip), or null. */
  skip: Float32Array | null;
  /** Whether this graph also returns the token embeddings' effects (layer 0). */
  tokens: boolean;
}

/** The graph of one layer's backward step (see the file comment for its inputs and outputs). */
export function buildLinearLayerGraph(spec: LinearLayerSpec): BuiltGraph {
  const { dModel: D, nHeads: H, nKvHeads: KV, dHead: Dh } = spec;
  const g = new GraphBuilder(`attribution_layer_${spec.layer}`, 'initializers');
  const grad = g.input('grad', 'float', ['b', 'n', D]);
  const inject = g.input('inject', 'float', ['b', 'n', D]);
  const patternT = g.input('pattern_t', 'float', [H, 'n', 'n']); // [head, key, query]
  const invS1 = g.input('inv_s1', 'float', ['n', 1]);
  const errors = g.input('errors', 'float', ['n', D]);
  const decoder = g.input('decoder', 'float', ['n', D, 'm_pad']); // [pos, d_model, slot]: the writes at each position, zero-padded
  const decoderIndex = g.input('decoder_index', 'int64', ['m']); // pos * m_pad + slot of each write
  const axisLast = g.constInt64([-1]);

  // Writes at this layer's output hook: per position, g[:, p] against that position's writes.
  const byPos = g.op1('MatMul', [g.op1('Transpose', [grad], { perm: [1, 0, 2] }), decoder]); // [n, b, m_pad]
  const flat = g.op1('Reshape', [g.op1('Transpose', [byPos], { perm: [1, 0, 2] }), g.constInt64([0, -1])]); // [b, n * m_pad]
  g.op1('Gather', [flat, decoderIndex], { axis: 1 }, 'feature_effects'); // [b, m]
  g.op1('ReduceSum', [g.op1('Mul', [grad, errors]), axisLast], { keepdims: 0 }, 'error_effects'); // [b, n]

  /** Nᵀ(x): (x ⊙ w) / s, centred over d_model for LayerNorm. */
  const normTranspose = (x: string, weight: Float32Array | null, invScale: string, centre: boolean, name: string): string => {
    const weighted = weight ? g.op1('Mul', [x, g.weight(`${name}_w`, weight, [D])]) : x;
    const scaled = g.op1('Mul', [weighted, invScale]);
    return centre ? g.op1('Sub', [scaled, g.op1('ReduceMean', [scaled, axisLast], { keepdims: 1 })]) : scaled;
  };

  // The MLP's input: the targets' encoder columns and the skip path.
  let inputGrad = inject;
  if (spec.skip) {
    const skipT = g.op1('MatMul', [grad, transposed(g, 'W_skip', spec.skip, D, D)]); // [b, n, d_in]
    inputGrad = g.op1('Add', [inject, skipT]);
  }
  let intoStream = inputGrad;
  // Centring is its own transpose.
  if (spec.input.kind === 'stream' && spec.input.centre) intoStream = g.op1('Sub', [inputGrad, g.op1('ReduceMean', [inputGrad, axisLast], { keepdims: 1 })]);
  if (spec.input.kind === 'norm') {
    const invS2 = g.input('inv_s2', 'float', ['n', 1]);
    intoStream = normTranspose(inputGrad, spec.input.weight, invS2, spec.input.centre, 'ln2');
  }
  const mid = spec.parallelResidual ? grad : g.op1('Add', [grad, intoStream]);

  // Attention, patterns frozen: only the value path carries gradient.
  let attnGrad = mid;
  if (spec.postAttentionWeight) {
    const invPost = g.input('inv_s_post1', 'float', ['n', 1]);
    attnGrad = g.op1('Mul', [g.op1('Mul', [mid, g.weight('ln1_post_w', spec.postAttentionWeight, [D])]), invPost]);
  }
  const perHead = g.op1('MatMul', [attnGrad, transposed(g, 'W_O_T', spec.W_O, H * Dh, D)]); // [b, n, head * d_head]
  const headsFirst = g.op1('Transpose', [g.op1('Reshape', [perHead, g.constInt64([0, 0, H, Dh])])], { perm: [2, 1, 0, 3] }); // [head, q, b, d_head]
  const byKey = g.op1('MatMul', [patternT, g.op1('Reshape', [headsFirst, g.constInt64([0, 0, -1])])]); // [head, k, b * d_head]
  const back = g.op1('Transpose', [g.op1('Reshape', [byKey, g.constInt64([0, 0, -1, Dh])])], { perm: [2, 1, 0, 3] }); // [b, k, head, d_head]
  const valueGrad = g.op1('MatMul', [
    g.op1('Reshape', [back, g.constInt64([0, 0, H * Dh])]),
    g.weight('W_V_rows', valueRows(spec.W_V, H, KV, D, Dh), [H * Dh, D]),
  ]); // [b, n, d]
  const attnIn = normTranspose(valueGrad, spec.ln1Weight, invS1, spec.centre, 'ln1');
  const pre = spec.parallelResidual ? g.op1('Add', [g.op1('Add', [grad, intoStream]), attnIn]) : g.op1('Add', [mid, attnIn]);
  g.op1('Identity', [pre], {}, 'grad_pre');

  g.output('feature_effects', 'float', ['b', 'm']);
  g.output('error_effects', 'float', ['b', 'n']);
  g.output('grad_pre', 'float', ['b', 'n', D]);
  if (spec.tokens) {
    const embed = g.input('embed', 'float', ['n', D]);
    g.op1('ReduceSum', [g.op1('Mul', [pre, embed]), axisLast], { keepdims: 0 }, 'token_effects');
    g.output('token_effects', 'float', ['b', 'n']);
  }
  return g.build();
}

/** `m` ([rows, cols]) transposed into a new initializer, [cols, rows]. */
function transposed(g: GraphBuilder, name: string, m: Float32Array, rows: number, cols: number): string {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return g.weight(name, t, [cols, rows]);
}

/** W_V per query head as rows: [head * d_head, d_model], row h * d_head + j = W_V[kv(h), :, j] (kv(h) = h / (head / kv_head)). */
function valueRows(W_V: Float32Array, H: number, KV: number, D: number, Dh: number): Float32Array {
  const out = new Float32Array(H * Dh * D);
  const group = H / KV;
  for (let h = 0; h < H; h++) {
    const kv = Math.floor(h / group);
    for (let j = 0; j < Dh; j++) for (let i = 0; i < D; i++) out[(h * Dh + j) * D + i] = W_V[(kv * D + i) * Dh + j]!;
  }
  return out;
}
