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
 *   in   resid_pre   [b, q, d_model]
 *        past_k      [P, head, d_head]        keys of earlier positions, shared by every variant (P may be 0)
 *        past_v      [P, head, d_head]
 *        attn_mask   [q, P + q]               additive causal mask (0 or -1e9)
 *        plain       [] bool                  true when the call has no past, no routed rows and no
 *                                             prefix rows (the caller knows; working it out in the
 *                                             graph took eight small nodes a block)
 *        prefix_rows [1] int64                K > 0: packed rows (b = 1) that attend to the first K
 *                                             rows of the call and to themselves only; the mask is
 *                                             then [q, K + 1], the last column a row's own key
 *        z_index     [k, 3] int64             (variant, query row, head) of hook_z rows to replace
 *        z_patch     [k, d_head]              their values
 *        z_route_from, z_route_to [r, 3] int64  packed runs: hook_z rows (0, row, head) that take the
 *                                             unpatched values of another row of the same call
 *        attn_index  [k, 2] int64             (variant, query row) of hook_attn_out rows to replace
 *        attn_patch  [k, d_model]             their values
 *        mlp_index   [k, 2] int64, mlp_patch [k, d_model]   the same for hook_mlp_out
 *        q_index, k_index, v_index [k, 3] int64, q_patch, k_patch, v_patch [k, d_head]
 *                                             the same per head for hook_q / hook_k / hook_v
 *   out  hook_q, hook_k, hook_v  [b, q, head, d_head]   (patched)
 *        pattern     [b, head, q, P + q]      hook_pattern
 *        z           [b, q, head, d_head]     hook_z (TransformerLens layout)
 *        attn_out, resid_mid, mlp_out, resid_post  [b, q, d_model]
 *        k, v        [b, q, head * d_head]    keys and values of the positions run (for caching):
 *                                             [b, q, head, d_head] in memory, hook_k's layout
 * Patches are lists of rows written by ScatterND: a run that patches nothing feeds empty lists
 * ([0, 3] and [0, d_head], say), and each costs it one copy of the tensor rather than a select over
 * every element against a broadcast mask.
 *
 * Final graph:
 *   in   resid        [b, p, d_model]
 *        logit_pos    [n] int64               positions whose logits are wanted
 *        score        [] bool                 whether to score every row of `logits` (not for a plain forward)
 *        score_tokens [t] int64               tokens to score them on
 *   out  scale        [b, p, 1]               ln_final.hook_scale = sqrt(var + eps)
 *        logits       [b * n, vocab]          variant-major rows
 *        token_logits [b * n, t] or [0, t]    logits[:, score_tokens]
 *        token_probs  [b * n, t] or [0, t]    softmax(logits)[:, score_tokens]
 * The scores let activation patching read two numbers per variant instead of copying out (and
 * softmaxing in a second session) a whole vocabulary row each. They sit in an If so that a plain
 * forward skips the softmax, and so that scoring reads the logits in place (selecting rows with
 * a Gather would copy them: 29 MB for a 144-head sweep).
 */
import { attentionScoreScale, type ModelConfig } from '../model/config.js';
import type { BlockWeights, ModelWeights } from '../model/weights.js';
import { blockOutputOf, hasHook, HOOK_POINT_LIST, hookOutputs, ROW_PATCH_POINTS, type HookDim } from '../hooks/registry.js';
import { GraphBuilder, type BuiltGraph, type Dim, type WeightMode } from './graph-builder.js';

/** Block outputs that are not hook points: each position's keys and values, for caching. */
export const KEYS_VALUES_OUTPUTS = ['k', 'v'] as const;
/** Every block output: the registry's hook points the block produces, then the keys and values. */
export const BLOCK_OUTPUTS: readonly string[] = [...hookOutputs('block'), ...KEYS_VALUES_OUTPUTS];
/** Final-graph outputs that are not hook points: the scored tokens' logits and probabilities. */
export const TOKEN_SCORE_OUTPUTS = ['token_logits', 'token_probs'] as const;
/** Every final-graph output. */
export const FINAL_OUTPUTS: readonly string[] = [...hookOutputs('final'), ...TOKEN_SCORE_OUTPUTS];

/** Masked attention scores: large enough that exp() underflows to exactly 0 in float32. */
export const MASKED = -1e9;

/** Slice's "to the end" bound. */
const TO_END = Number.MAX_SAFE_INTEGER;

export function buildBlockGraph(config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'initializers'): BuiltGraph {
  const g = new GraphBuilder(`block${layer}`, mode);
  const { nHeads: H, dModel: D, dHead: Dh, dMlp: M } = config;

  const resid = g.input('resid_pre', 'float', ['b', 'q', D]);
  const pastK = g.input('past_k', 'float', ['P', H, Dh]);
  const pastV = g.input('past_v', 'float', ['P', H, Dh]);
  const mask = g.input('attn_mask', 'float', ['q', 'T']);
  const plain = g.input('plain', 'bool', []);
  const prefixRows = g.input('prefix_rows', 'int64', [1]);
  // Per patchable hook (registry): its index rows [k, 3] (variant, query row, head) or [k, 2]
  // (variant, query row), and their values [k, d_head] or [k, d_model].
  const patchRows = new Map<string, [index: string, values: string]>();
  for (const point of ROW_PATCH_POINTS) {
    const { index, values, perHead } = point.patch;
    const k = `${index}_rows`;
    patchRows.set(blockOutputOf(point)!, [g.input(index, 'int64', [k, perHead ? 3 : 2]), g.input(values, 'float', [k, perHead ? Dh : D])]);
  }
  /** Writes the patch rows of the hook whose output is `output` into `x`, as that output. */
  const patched = (x: string, output: string): string => g.op1('ScatterND', [x, ...patchRows.get(output)!], {}, output);
  const routeFrom = g.input('z_route_from', 'int64', ['rk', 3]);
  const routeTo = g.input('z_route_to', 'int64', ['rk', 3]);

  // Runtime dims [b, q], for reshapes.
  const bq = g.op1('Slice', [g.op1('Shape', [resid]), g.constInt64([0]), g.constInt64([2])]);
  // The stream's matrix products run on [b * q, d] rows: 2-D, so that bias additions fuse into Gemm.
  const asRows = (x: string, width: number): string => g.op1('Reshape', [x, g.constInt64([-1, width])]);
  const streamShape = g.op1('Concat', [bq, g.constInt64([D])], { axis: 0 });
  const asStream = (x: string): string => g.op1('Reshape', [x, streamShape]);

  // --- attention -------------------------------------------------------------------------
  const x1 = asRows(layerNorm(g, resid, w.ln1.w.data, w.ln1.b.data, D, config.eps, 'ln1'), D);
  // One GEMM for Q, K and V of every head: x [b*q, d] @ W_QKV [d, 3 * head * d_head]. Far better
  // shaped than per-head products, above all for the one-position passes of activation patching.
  const qkvFlat = g.op1('Gemm', [
    x1,
    g.weight('W_QKV', w.W_QKV?.data ?? fuseQkv(w, H, D, Dh), [D, 3 * H * Dh]),
    g.weight('b_QKV', fuseQkvBias(w, H, Dh), [3 * H * Dh]),
  ]);
  // [b*q, 3*head*d_head] -> [b, q, 3*head*d_head] (a free reshape) -> Q, K, V [b, q, head*d_head],
  // the layout ONNX's Attention operator reads and writes.
  const qkv = g.op1('Reshape', [qkvFlat, g.op1('Concat', [bq, g.constInt64([3 * H * Dh])], { axis: 0 })]);
  const split = g.op('Split', [qkv, g.constInt64([H * Dh, H * Dh, H * Dh])], { axis: 2 }, 3);
  // hook_q / hook_k / hook_v [b, q, head, d_head] with their patch rows written, then back to
  // [b, q, head * d_head] rows for attention; the cached keys and values (outputs k, v) are the patched ones.
  const headsShape = g.op1('Concat', [bq, g.constInt64([H, Dh])], { axis: 0 });
  const rowsShape = g.op1('Concat', [bq, g.constInt64([H * Dh])], { axis: 0 });
  const hookRows = (part: string, hook: string, output?: string): string =>
    g.op1('Reshape', [patched(g.op1('Reshape', [part, headsShape]), hook), rowsShape], {}, output);
  const q = hookRows(split[0]!, 'hook_q');
  const kNew = hookRows(split[1]!, 'hook_k', 'k');
  const vNew = hookRows(split[2]!, 'hook_v', 'v');
  const zFlat = attention(g, plain, {
    q,
    k: kNew,
    v: vNew,
    pastK,
    pastV,
    mask,
    prefixRows,
    routeFrom,
    routeTo,
    bq,
    H,
    Dh,
    scale: attentionScoreScale(config, layer),
  });
  const byHead = g.op1('Reshape', [zFlat, g.op1('Concat', [bq, g.constInt64([H, Dh])], { axis: 0 })]);
  const z = patched(byHead, 'z'); // [b, q, head, d_head]
  const attnRaw = g.op1('Gemm', [asRows(z, H * Dh), g.weight('W_O', w.W_O.data, [H * Dh, D]), g.weight('b_O', w.b_O.data, [D])]);
  const attnOut = patched(asStream(attnRaw), 'attn_out');
  const residMid = g.op1('Add', [resid, attnOut], {}, 'resid_mid');

  // --- MLP -------------------------------------------------------------------------------
  const x2 = asRows(layerNorm(g, residMid, w.ln2.w.data, w.ln2.b.data, D, config.eps, 'ln2'), D);
  const pre = g.op1('MatMul', [x2, g.weight('W_in', w.W_in.data, [D, M])]); // bias added with the activation
  const post = activation(g, pre, g.weight('b_in', w.b_in.data, [M]), config.actFn);
  const mlpRaw = g.op1('Gemm', [post, g.weight('W_out', w.W_out.data, [M, D]), g.weight('b_out', w.b_out.data, [D])]);
  const mlpOut = patched(asStream(mlpRaw), 'mlp_out');
  g.op1('Add', [residMid, mlpOut], {}, 'resid_post');

  // The hook points' outputs, from the registry: [b, ...the hook's shape], positions run as q and
  // the keys a query sees as T.
  const blockDims: Partial<Record<HookDim, Dim>> = { pos: 'q', query_pos: 'q', key_pos: 'T', head: H, kv_head: H, d_head: Dh, d_model: D };
  for (const point of HOOK_POINT_LIST) {
    if ('output' in point.source && point.source.graph === 'block' && hasHook(point, 'gpt2'))
      g.output(point.source.output, 'float', ['b', ...graphDims(point.shape, blockDims)]);
  }
  g.output('k', 'float', ['b', 'q', H * Dh]);
  g.output('v', 'float', ['b', 'q', H * Dh]);
  return g.build();
}

interface AttentionInputs {
  /** [b, q, head * d_head] queries, keys and values of the positions run */
  q: string;
  k: string;
  v: string;
  /** [P, head, d_head] keys and values of the cached positions, shared by every variant */
  pastK: string;
  pastV: string;
  /** [q, P + q] additive causal mask ([q, K + 1] for packed rows) */
  mask: string;
  /** [1]: K > 0 for packed rows attending to the first K rows of the call and to themselves */
  prefixRows: string;
  /** [r, 3]: packed runs' hook_z rows (0, row, head) routed from other rows of the call */
  routeFrom: string;
  routeTo: string;
  /** [b, q] as an int64 tensor */
  bq: string;
  H: number;
  Dh: number;
  /** What q . k is multiplied by before the softmax: 1 / sqrt(d_head), or as the config's flags say */
  scale: number;
}

/**
 * Attention of the positions run over the cached ones and themselves: returns the graph output
 * `pattern` [b, head, q, P + q] and z as [b, q, head * d_head]. Of its branches one runs: a plain
 * forward (no past, nothing routed) is ONNX's Attention operator, which also hands back the pattern
 * (its softmax output) and takes and gives [b, q, head * d_head] rows, so that neither Q, K, V nor
 * z is transposed. The others work per head: with a past, scores are one product per head,
 * [head, b*q, d_head] @ [head, d_head, P], so the past is never copied per variant, and when one
 * position is run (the incremental passes of patching), its scores against itself are a dot
 * product per head rather than thousands of 1 x 1 matrix products; packed rows attend to the
 * call's first rows and to themselves (prefix_rows > 0, prefixAttention) or under a dense mask;
 * and z rows routed within a packed call are copied there.
 */
function attention(g: GraphBuilder, plain: string, a: AttentionInputs): string {
  const { H, Dh, scale } = a;
  // The plain forward's branch sits at the top level: every If level costs ONNX Runtime a copy of
  // the pattern and z it returns, and the forward is the path that runs most.
  const [, z] = g.ifElse(
    plain,
    ['pattern', g.fresh('z')],
    (sub) => {
      const [zRows, , , p] = sub.op(
        'Attention',
        [a.q, a.k, a.v, a.mask],
        { q_num_heads: H, kv_num_heads: H, scale: { float: scale }, qk_matmul_output_mode: 3 },
        [sub.fresh('z'), '', '', sub.fresh('pattern')],
      );
      return [p!, zRows!];
    },
    (other) => {
      const zero = other.constInt64([0]);
      const prefix = other.op1('Greater', [a.prefixRows, zero]);
      // Cached positions P, as a [1] tensor (an explicit size for reshapes, not -1, because P may be 0).
      const P = other.op1('Slice', [other.op1('Shape', [a.pastK]), zero, other.constInt64([1])]);
      const noPast = other.op1('Equal', [P, zero]);
      const scaleConst = other.constFloat([scale], []);
      const softmax = (sub: GraphBuilder, scores: string): string => sub.op1('Softmax', [sub.op1('Add', [scores, a.mask])], { axis: -1 });
      // The other branches work per head: [b, q, head * d_head] -> [b, head, q, d_head] and back.
      const byHeadShape = other.op1('Concat', [a.bq, other.constInt64([H, Dh])], { axis: 0 });
      const headsOf = (x: string): string => other.op1('Transpose', [other.op1('Reshape', [x, byHeadShape])], { perm: [0, 2, 1, 3] });
      const h: HeadsInputs = { q: headsOf(a.q), k: headsOf(a.k), v: headsOf(a.v) };
      const [p, zHeads] = other.ifElse(
        prefix,
        [other.fresh('pattern'), other.fresh('z')],
        (pk) => prefixAttention(pk, a, h, scaleConst, softmax),
        (rest) =>
          rest.ifElse(
            noPast,
            [rest.fresh('pattern'), rest.fresh('z')],
            (dense) => {
              // Packed rows under a dense mask [q, q]: masked attention over every row of the call.
              const pDense = softmax(dense, dense.op1('Mul', [dense.op1('MatMul', [h.q, dense.op1('Transpose', [h.k], { perm: [0, 1, 3, 2] })]), scaleConst]));
              return [pDense, dense.op1('MatMul', [pDense, h.v])];
            },
            (past) => pastAttention(past, a, P, h, scaleConst, softmax),
          ),
      );
      // Routed rows (packed runs) take the unpatched values of their source rows, in the
      // [b, row, head, d_head] layout of the indices; then back to [b, q, head * d_head].
      const byRow = other.op1('Transpose', [zHeads!], { perm: [0, 2, 1, 3] });
      const routed = other.op1('ScatterND', [byRow, a.routeTo, other.op1('GatherND', [byRow, a.routeFrom])]);
      return [p!, other.op1('Reshape', [routed, other.op1('Concat', [a.bq, other.constInt64([H * Dh])], { axis: 0 })])];
    },
  );
  return z!;
}

/** Queries, keys and values of the positions run, [b, head, q, d_head]. */
interface HeadsInputs {
  q: string;
  k: string;
  v: string;
}

/**
 * Attention over cached positions and the positions run: pattern [b, head, q, P + q] and z
 * [b, head, q, d_head].
 */
function pastAttention(
  past: GraphBuilder,
  a: AttentionInputs,
  P: string,
  h: HeadsInputs,
  scale: string,
  softmax: (sub: GraphBuilder, scores: string) => string,
): string[] {
  const { H, Dh } = a;
  const rows = past.op1('ReduceProd', [a.bq], { keepdims: 1 });
  // [b, head, ...] <-> [head, b*q, last]; allowzero: a 0 in these shapes means 0, not "as before".
  const headsFirst = (b: GraphBuilder, x: string, last: string): string =>
    b.op1('Reshape', [b.op1('Transpose', [x], { perm: [1, 0, 2, 3] }), b.op1('Concat', [b.constInt64([H]), rows, last], { axis: 0 })], { allowzero: 1 });
  const headsBack = (b: GraphBuilder, x: string, last: string): string =>
    b.op1('Transpose', [b.op1('Reshape', [x, b.op1('Concat', [b.constInt64([H]), a.bq, last], { axis: 0 })], { allowzero: 1 })], { perm: [1, 0, 2, 3] });
  // The cache [P, head, d_head] as keys [head, d_head, P] and values [head, P, d_head].
  const pastKeys = past.op1('Transpose', [a.pastK], { perm: [1, 2, 0] });
  const pastValues = past.op1('Transpose', [a.pastV], { perm: [1, 0, 2] });
  const pastScores = headsBack(past, past.op1('Mul', [past.op1('MatMul', [headsFirst(past, h.q, past.constInt64([Dh])), pastKeys]), scale]), P);
  const axis3 = past.constInt64([3]);
  // Softmax over [past, self] scores; z = pattern_past @ V_past (one product per head) + self part.
  const withPast = (b: GraphBuilder, self: string, selfZ: (pSelf: string) => string): string[] => {
    const p = softmax(b, b.op1('Concat', [pastScores, self], { axis: 3 }));
    const pPast = b.op1('Slice', [p, b.constInt64([0]), P, axis3]); // [b, head, q, P]
    const pSelf = b.op1('Slice', [p, P, b.constInt64([TO_END]), axis3]); // [b, head, q, q]
    const zPast = headsBack(b, b.op1('MatMul', [headsFirst(b, pPast, P), pastValues]), b.constInt64([Dh]));
    return [p, b.op1('Add', [zPast, selfZ(pSelf)])];
  };
  const oneQuery = past.op1('Equal', [past.op1('Slice', [a.bq, past.constInt64([1]), past.constInt64([2])]), past.constInt64([1])]);
  return past.ifElse(
    oneQuery,
    [past.fresh('pattern'), past.fresh('z')],
    // q = 1: the score of a position against itself is a dot product per (variant, head).
    (one) =>
      withPast(one, one.op1('Mul', [one.op1('ReduceSum', [one.op1('Mul', [h.q, h.k]), one.constInt64([-1])], { keepdims: 1 }), scale]), (pSelf) =>
        one.op1('Mul', [pSelf, h.v]),
      ),
    (many) =>
      withPast(many, many.op1('Mul', [many.op1('MatMul', [h.q, many.op1('Transpose', [h.k], { perm: [0, 1, 3, 2] })]), scale]), (pSelf) =>
        many.op1('MatMul', [pSelf, h.v]),
      ),
  );
}

/**
 * Packed rows (b = 1) that each attend to the first K rows of the call (the prompts a packed run
 * carries) and to themselves: scores [head, q, K] plus one dot product per row for its own key,
 * instead of a dense [head, q, q] product that the mask would mostly discard. Returns pattern
 * [1, head, q, K + 1] and z [1, head, q, d_head].
 */
function prefixAttention(g: GraphBuilder, a: AttentionInputs, h: HeadsInputs, scale: string, softmax: (sub: GraphBuilder, scores: string) => string): string[] {
  const axis2 = g.constInt64([2]),
    axis3 = g.constInt64([3]),
    start = g.constInt64([0]);
  const kPrefix = g.op1('Slice', [h.k, start, a.prefixRows, axis2]); // [1, head, K, d_head]
  const vPrefix = g.op1('Slice', [h.v, start, a.prefixRows, axis2]);
  const prefixScores = g.op1('Mul', [g.op1('MatMul', [h.q, g.op1('Transpose', [kPrefix], { perm: [0, 1, 3, 2] })]), scale]);
  const ownScore = g.op1('Mul', [g.op1('ReduceSum', [g.op1('Mul', [h.q, h.k]), g.constInt64([-1])], { keepdims: 1 }), scale]);
  const p = softmax(g, g.op1('Concat', [prefixScores, ownScore], { axis: 3 })); // [1, head, q, K + 1]
  const pPrefix = g.op1('Slice', [p, start, a.prefixRows, axis3]);
  const pOwn = g.op1('Slice', [p, a.prefixRows, g.constInt64([TO_END]), axis3]);
  return [p, g.op1('Add', [g.op1('MatMul', [pPrefix, vPrefix]), g.op1('Mul', [pOwn, h.v])])];
}

export function buildFinalGraph(config: ModelConfig, weights: Pick<ModelWeights, 'ln_final' | 'W_U_T' | 'b_U'>, mode: WeightMode = 'initializers'): BuiltGraph {
  const g = new GraphBuilder('final', mode);
  const { dModel: D, dVocab: V } = config;
  const resid = g.input('resid', 'float', ['b', 'p', D]);
  const positions = g.input('logit_pos', 'int64', ['n']);
  const [y, , invStd] = g.op(
    'LayerNormalization',
    [resid, g.weight('ln_final_w', weights.ln_final.w.data, [D]), g.weight('ln_final_b', weights.ln_final.b.data, [D])],
    { axis: -1, epsilon: { float: config.eps } },
    3,
  );
  g.op1('Reciprocal', [invStd!], {}, 'scale');
  const picked = g.op1('Gather', [y!, positions], { axis: 1 }); // [b, n, d]
  const flat = g.op1('Reshape', [picked, g.constInt64([-1, D])]); // [b*n, d]
  // logits = flat @ W_U_T^T, straight into the output (a reshape of a graph output is a copy).
  // GPT-2 has no unembedding bias: skip adding 50 257 zeros to every row.
  const bias = weights.b_U.data.some((x) => x !== 0) ? [g.weight('b_U', weights.b_U.data, [V])] : [];
  const logits = g.op1('Gemm', [flat, g.weight('W_U_T', weights.W_U_T.data, [V, D]), ...bias], { transB: 1 }, 'logits');
  const tokens = g.input('score_tokens', 'int64', ['t']);
  g.ifElse(
    g.input('score', 'bool', []),
    ['token_logits', 'token_probs'],
    (sub) => [sub.op1('Gather', [logits, tokens], { axis: 1 }), sub.op1('Gather', [sub.op1('Softmax', [logits], { axis: -1 }), tokens], { axis: 1 })],
    (sub) => {
      // No rows: [0, t] for both, from an empty slice of the logits.
      const none = sub.op1('Slice', [logits, sub.constInt64([0]), sub.constInt64([0]), sub.constInt64([0])]);
      return [sub.op1('Gather', [none, tokens], { axis: 1 }), sub.op1('Gather', [none, tokens], { axis: 1 })];
    },
  );
  // The hook points' outputs, from the registry: [b, ...the hook's shape], except logits, whose rows
  // are the chosen positions of every variant, variant-major ([b * n, vocab]).
  for (const point of HOOK_POINT_LIST) {
    if (!('output' in point.source) || point.source.graph !== 'final' || !hasHook(point, 'gpt2')) continue;
    const rows = point.source.output === 'logits' ? ['bn', ...graphDims(point.shape.slice(1), { d_vocab: V })] : ['b', ...graphDims(point.shape, { pos: 'p' })];
    g.output(point.source.output, 'float', rows);
  }
  g.output('token_logits', 'float', ['m', 't']);
  g.output('token_probs', 'float', ['m', 't']);
  return g.build();
}

/** A hook's shape as graph dims: named dims by `named`, fixed sizes as they are. */
function graphDims(shape: readonly HookDim[], named: Partial<Record<HookDim, Dim>>): Dim[] {
  return shape.map((d) => {
    const dim = typeof d === 'number' ? d : named[d];
    if (dim === undefined) throw new Error(`graph dims: no size for hook dim "${String(d)}"`);
    return dim;
  });
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

export function layerNorm(g: GraphBuilder, x: string, w: Float32Array, b: Float32Array, D: number, eps: number, name: string): string {
  return g.op1('LayerNormalization', [x, g.weight(`${name}_w`, w, [D]), g.weight(`${name}_b`, b, [D])], { axis: -1, epsilon: { float: eps } });
}

/** The MLP's activation of pre + bias, as one fused kernel where ONNX Runtime has one. */
export function activation(g: GraphBuilder, pre: string, bias: string, fn: ModelConfig['actFn']): string {
  // gelu_new (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), which is FastGelu's formula.
  if (fn === 'gelu_new') return g.contrib1('FastGelu', [pre, bias]);
  // exact GELU, 0.5 x (1 + erf(x / sqrt 2)), with the bias added in the same pass.
  if (fn === 'gelu') return g.contrib1('BiasGelu', [pre, bias]);
  return g.op1('Relu', [g.op1('Add', [pre, bias])]);
}
