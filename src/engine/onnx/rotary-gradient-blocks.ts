/**
 * The Tape pieces shared by the rotary families' block gradient graphs (llama-gradient-graphs.ts for the
 * Llama family and Gemma, neox-gradient-graphs.ts for GPT-NeoX): the block's inputs, the attention with
 * RoPE from the normalised reader slots, how a hook point's value and gradient come out in its hook layout,
 * and the block's forward and backward graphs with their outputs.
 *
 * Attention: q/k/v per reader slot, [S, b, p, d_head] (S = head + 2 kv_head: each query head, then each kv
 * head's key, then its value; in a backward graph each slot reads its own copy of the stream through
 * normed-qkv-pullback.ts's node, never materialised), optional per-head q/k norms, RoPE on the first rotaryDims dims of each head
 * (the rest passed through), grouped-query attention (query head h reads kv head floor(h / group)), scores
 * scaled (attentionScoreScale) and optionally soft-capped before the additive mask, softmax, z and W_O.
 */
import { attentionScoreScale, type ModelConfig } from '../model/config.js';
import type { BlockWeights } from '../model/weights.js';
import { Tape, type TapeValue } from './autodiff.js';
import type { GradientGraphOptions } from './gpt2-gradient-graphs.js';
import type { BuiltGraph, Dim, WeightMode } from './graph-builder.js';
import { addEdgeGraphOutputs } from './edge-products.js';
import { normedQkv, stackedSlots, type NormedQkv, type SlotGroup, type SplitInputs } from './normed-qkv-pullback.js';

/**
 * A hook point's value on the tape and how its hook layout comes from it: the value itself, a
 * transpose of a head-major value (whose gradient is then the transposed gradient, the transpose
 * being read by nothing), or a norm's scale over the reader slots [S, b, p, 1] (the hook's value is
 * any slot's, all being equal; its gradient the sum over the slots).
 */
export type PointValue = { value: TapeValue } | { headMajor: TapeValue; perm: number[] } | { slots: TapeValue };

/** A gradient point: its graph output name and its shape after the batch. */
export interface GradientPoint {
  output: string;
  shape: ReadonlyArray<string | number>;
}

/** A point's value in its hook layout [b, ...], for the forward graph (the slots' norm scale from its one shared copy, [1, b, p, 1]). */
export function pointValue(t: Tape, point: PointValue): string {
  if ('value' in point) return point.value.name;
  if ('perm' in point) return t.g.op1('Transpose', [point.headMajor.name], { perm: point.perm });
  return t.g.op1('Squeeze', [point.slots.name, t.g.constInt64([0])]);
}

/** A point's gradient in its hook layout [b, ...], after the tape's backward. */
export function pointGradient(t: Tape, point: PointValue): string {
  if ('value' in point) return t.gradient(point.value);
  if ('perm' in point) return t.g.op1('Transpose', [t.gradient(point.headMajor)], { perm: point.perm });
  return t.g.op1('ReduceSum', [t.gradient(point.slots), t.g.constInt64([0])], { keepdims: 0 });
}

/** RoPE on the last axis: x cos + rotate_half(x) sin, the tables [p, width] broadcast over [heads, b, p, width]. */
export function rotary(t: Tape, x: TapeValue, cos: TapeValue, sin: TapeValue): TapeValue {
  return t.add(t.mul(x, cos), t.mul(t.rotateHalf(x), sin));
}

/** cap · tanh(x / cap): Gemma's soft-capping of attention scores and final logits. */
export function softcap(t: Tape, x: TapeValue, cap: number): TapeValue {
  return t.scale(t.tanh(t.scale(x, 1 / cap)), cap);
}

/** The inputs of a rotary block graph and the gate of its residual writes (GradDrop's; none in the forward graph). */
export function rotaryBlockInputs(t: Tape, config: ModelConfig, gate: TapeValue | null) {
  const { dModel: D } = config;
  const R = config.rotaryDims ?? config.dHead;
  const residPre = t.input('resid_pre', ['b', 'p', D], true);
  const mask = t.input('attn_mask', ['p', 'p'], false);
  const cos = t.input('rope_cos', ['p', R], false);
  const sin = t.input('rope_sin', ['p', R], false);
  const gated = (x: TapeValue): TapeValue => (gate ? t.gradientGate(x, gate) : x);
  return { residPre, mask, cos, sin, gated };
}

/** A block's q, k and v heads as reader slot groups (normed-qkv-pullback.ts), biases where the config has them. */
export function slotGroups(config: ModelConfig, w: BlockWeights): SlotGroup[] {
  const H = config.nHeads;
  const Hkv = config.nKvHeads ?? H;
  return [
    { W: w.W_Q.data, b: config.qkvBias ? w.b_Q.data : null, heads: H },
    { W: w.W_K.data, b: config.qkvBias ? w.b_K.data : null, heads: Hkv },
    { W: w.W_V.data, b: config.qkvBias ? w.b_V.data : null, heads: Hkv },
  ];
}

/**
 * The reader slots' products [S, b, p, d_head] from ln1: in a forward graph (`split` null) from ln1's
 * output on one shared copy of the stream; in a backward graph from normedQkv's node, whose pullback
 * gives the slots' own input gradients (`normed.splitInput()`). ln1's scale is the hook point
 * ln1.hook_scale: [1, b, p, 1] forward ({ slots }), [b, p, 1] backward ({ value }).
 */
export function rotarySlots(
  t: Tape,
  config: ModelConfig,
  w: BlockWeights,
  residPre: TapeValue,
  ln1: { norm: 'layer' | 'rms'; weight: Float32Array; bias: Float32Array | null },
  split: SplitInputs | null,
  frozen: boolean,
): { qkv: TapeValue; scale: PointValue; normed: NormedQkv | null } {
  const { dModel: D, dHead: Dh, eps } = config;
  const groups = slotGroups(config, w);
  const S = groups.reduce((n, group) => n + group.heads, 0);
  const x = split === null ? t.unsqueeze(residPre, 0) : residPre;
  const centred = ln1.norm === 'layer' ? t.sub(x, t.reduceMean(x, [-1])) : x;
  const computed = t.sqrt(t.add(t.reduceMean(t.mul(centred, centred), [-1]), t.constant([eps])));
  const scale = frozen ? t.freeze(computed) : computed;
  if (split !== null) {
    const normed = normedQkv(t, residPre, scale, {
      norm: ln1.norm,
      normWeight: ln1.weight,
      normBias: ln1.bias,
      groups,
      dModel: D,
      dHead: Dh,
      saved: null,
      frozen,
      split,
    });
    return { qkv: normed.qkv, scale: { value: scale }, normed };
  }
  const weighted = t.mul(t.div(centred, scale), t.weight('ln1_w', ln1.weight, [D]));
  const y = ln1.bias ? t.add(weighted, t.weight('ln1_b', ln1.bias, [D])) : weighted;
  let qkv = t.matmul(y, t.weight('W_slots', stackedSlots(groups, D, Dh), [S, 1, D, Dh])); // [S, b, p, d_head]
  if (config.qkvBias) qkv = t.add(qkv, t.weight('b_slots', concat([w.b_Q.data, w.b_K.data, w.b_V.data]), [S, 1, 1, Dh]));
  return { qkv, scale: { slots: scale }, normed: null };
}

/** What rotaryAttention reads besides the weights. */
export interface RotaryAttentionInputs {
  /** The reader slots' products [S, b, p, d_head] (rotarySlots). */
  qkv: TapeValue;
  mask: TapeValue;
  cos: TapeValue;
  sin: TapeValue;
  frozen: boolean;
  /** Per-head q/k norms before RoPE (Qwen3, Gemma 3). */
  qkNorm?: (x: TapeValue, which: 'q' | 'k') => TapeValue;
}

/** The rotary attention of a block (see the header), from the normalised reader slots to the output projection. */
export function rotaryAttention(t: Tape, config: ModelConfig, w: BlockWeights, layer: number, inputs: RotaryAttentionInputs) {
  const { nHeads: H, dModel: D, dHead: Dh } = config;
  const Hkv = config.nKvHeads ?? H;
  const R = config.rotaryDims ?? Dh;
  const { cos, sin } = inputs;
  const [q, k, v] = t.split(inputs.qkv, 0, [H, Hkv, Hkv]) as [TapeValue, TapeValue, TapeValue]; // [heads, b, p, d_head]
  /** RoPE on the first R dimensions of each head, the others passed through. */
  const rope = (x: TapeValue): TapeValue => {
    if (R === Dh) return rotary(t, x, cos, sin);
    const [turned, kept] = t.split(x, 3, [R, Dh - R]) as [TapeValue, TapeValue];
    return t.concat([rotary(t, turned, cos, sin), kept], 3);
  };
  const qNormed = inputs.qkNorm ? inputs.qkNorm(q, 'q') : q;
  const kNormed = inputs.qkNorm ? inputs.qkNorm(k, 'k') : k;
  const rotQ = rope(qNormed); // [head, b, p, d_head]
  const rotK = rope(kNormed); // [kv_head, b, p, d_head]

  const keys = perQueryHead(t, rotK, H, Hkv, Dh); // [head, b, p, d_head]
  const values = perQueryHead(t, v, H, Hkv, Dh);
  const scaled = t.scale(t.matmul(rotQ, t.transpose(keys, [0, 1, 3, 2])), attentionScoreScale(config, layer)); // [head, b, query, key]
  const scores = t.add(config.attnSoftcap ? softcap(t, scaled, config.attnSoftcap) : scaled, inputs.mask);
  const softmaxed = t.softmax(scores);
  const pattern = inputs.frozen ? t.freeze(softmaxed) : softmaxed;
  const z = t.transpose(t.matmul(pattern, values), [1, 2, 0, 3]); // [b, p, head, d_head]
  let attn = t.matmul(t.reshape(z, ['b', 'p', H * Dh]), t.weight('W_O', w.W_O.data, [H * Dh, D]));
  if (config.oBias) attn = t.add(attn, t.weight('b_O', w.b_O.data, [D]));
  const byPos = [1, 2, 0, 3]; // [heads, b, p, d_head] -> [b, p, heads, d_head]
  const points = {
    q: { headMajor: q, perm: byPos },
    k: { headMajor: k, perm: byPos },
    v: { headMajor: v, perm: byPos },
    rot_q: { headMajor: rotQ, perm: byPos },
    rot_k: { headMajor: rotK, perm: byPos },
    pattern: { headMajor: pattern, perm: [1, 0, 2, 3] }, // [b, head, query, key]
    z: { value: z },
  } satisfies Record<string, PointValue>;
  return { attn, points };
}

/** A block defined on the tape: its points, the reader slots' products' node (backward graphs), the MLP's input and the block's output. */
export interface DefinedBlock {
  points: Partial<Record<string, PointValue>>;
  residPre: TapeValue;
  normed: NormedQkv | null;
  mlpIn: TapeValue;
  residPost: TapeValue;
}

/**
 * Defines a block on the tape: `split` null for a forward graph, else which split-input gradients the
 * backward gives (each reader slot's and the MLP's own input copy); `gate` gates its residual writes (GradDrop).
 */
export type BlockDefinition = (t: Tape, split: SplitInputs | null, frozen: boolean, gate: TapeValue | null) => DefinedBlock;

/** A block's forward graph: every point of `list` but resid_pre as an output, in its hook layout [b, ...]. */
export function buildBlockForwardGraph(
  config: ModelConfig,
  layer: number,
  list: readonly GradientPoint[],
  define: BlockDefinition,
  mode: WeightMode,
): BuiltGraph {
  const t = new Tape(`fwd${layer}`, mode);
  const { points } = define(t, null, false, null);
  for (const { output, shape } of list) {
    if (output === 'resid_pre') continue;
    t.g.output(t.g.op1('Identity', [pointValue(t, points[output]!)], {}, output), 'float', ['b', ...graphDims(shape, config)]);
  }
  return t.g.build();
}

/**
 * A block's backward graph, for a batch of gradients of its output (grad_resid_post [b, p, d_model], grad_gate
 * [b, 1, 1]): `grad_<output>` of every point of `list` but resid_post and, unless options.splitInputs is false,
 * the reader slots' inputs grad_qkv_in [S, b, p, d_model] and the MLP's grad_mlp_in [b, p, d_model].
 */
export function buildBlockBackwardGraph(
  config: ModelConfig,
  layer: number,
  list: readonly GradientPoint[],
  define: BlockDefinition,
  options: GradientGraphOptions,
  mode: WeightMode,
): BuiltGraph {
  const t = new Tape(`bwd${layer}`, mode);
  const { dModel: D } = config;
  const S = slotCount(config);
  const split = options.splitInputs ?? true;
  const gradOut = t.g.input('grad_resid_post', 'float', ['b', 'p', D]);
  const gate = t.input('grad_gate', ['b', 1, 1], false);
  const block = define(t, split ? 'rows' : 'none', options.frozen, gate);
  t.backward([[block.residPost, gradOut]]);
  for (const { output, shape } of list) {
    if (output === 'resid_post') continue;
    t.g.output(t.g.op1('Identity', [pointGradient(t, block.points[output]!)], {}, `grad_${output}`), 'float', ['b', ...graphDims(shape, config)]);
  }
  if (split) {
    t.g.output(t.g.op1('Identity', [block.normed!.splitInput()], {}, 'grad_qkv_in'), 'float', [S, 'b', 'p', D]);
    t.g.output(t.g.op1('Identity', [t.gradient(block.mlpIn)], {}, 'grad_mlp_in'), 'float', ['b', 'p', D]);
  }
  return t.g.build();
}

/** A block's edge graph (edge-products.ts): resid_pre's gradient and the upstream rows' products with its split inputs' gradients summed over the rows. */
export function buildBlockEdgeGraph(config: ModelConfig, layer: number, define: BlockDefinition, mode: WeightMode): BuiltGraph {
  const t = new Tape(`edges${layer}`, mode);
  const { dModel: D } = config;
  const gradOut = t.g.input('grad_resid_post', 'float', ['b', 'p', D]);
  const gate = t.input('grad_gate', ['b', 1, 1], false);
  const block = define(t, 'sum', false, gate);
  t.backward([[block.residPost, gradOut]]);
  addEdgeGraphOutputs(t, {
    slots: slotCount(config),
    dModel: D,
    slotInputs: block.normed!.splitInput(),
    mlpInput: t.gradient(block.mlpIn),
    residPre: t.gradient(block.residPre),
  });
  return t.g.build();
}

/** A rotary family's block on the tape for one block's weights (llama-gradient-graphs.ts's, neox-gradient-graphs.ts's defineBlock). */
export type FamilyBlock = (
  t: Tape,
  config: ModelConfig,
  w: BlockWeights,
  layer: number,
  split: SplitInputs | null,
  frozen: boolean,
  gate: TapeValue | null,
) => DefinedBlock;

/** A rotary family's block graphs (forward, backward, edges), from its gradient points and its block definition. */
export function rotaryBlockGraphs(points: (config: ModelConfig) => readonly GradientPoint[], define: FamilyBlock) {
  const bound =
    (config: ModelConfig, w: BlockWeights, layer: number): BlockDefinition =>
    (t, split, frozen, gate) =>
      define(t, config, w, layer, split, frozen, gate);
  return {
    forward: (config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'inputs'): BuiltGraph =>
      buildBlockForwardGraph(config, layer, points(config), bound(config, w, layer), mode),
    backward: (config: ModelConfig, w: BlockWeights, layer: number, options: GradientGraphOptions, mode: WeightMode = 'inputs'): BuiltGraph =>
      buildBlockBackwardGraph(config, layer, points(config), bound(config, w, layer), options, mode),
    edges: (config: ModelConfig, w: BlockWeights, layer: number, mode: WeightMode = 'inputs'): BuiltGraph =>
      buildBlockEdgeGraph(config, layer, bound(config, w, layer), mode),
  };
}

/** Reader slots: each query head, then each key/value head's key, then its value. */
function slotCount(config: ModelConfig): number {
  return config.nHeads + 2 * (config.nKvHeads ?? config.nHeads);
}

/** [kv_head, b, p, d_head] repeated per query head, [head, b, p, d_head]: query head h reads kv head floor(h / group) (HF's repeat_kv). */
function perQueryHead(t: Tape, x: TapeValue, H: number, Hkv: number, Dh: number): TapeValue {
  if (H === Hkv) return x;
  const repeated = t.expand(t.unsqueeze(x, 1), [Hkv, H / Hkv, 'b', 'p', Dh]); // [kv_head, group, b, p, d_head]
  return t.reshape(repeated, [H, 'b', 'p', Dh]);
}

/** Arrays end to end (per-head weights stacked as [sum of heads, ...]). */
export function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** A gradient point's shape as graph dims. */
export function graphDims(shape: ReadonlyArray<string | number>, config: ModelConfig): Dim[] {
  const sizes: Record<string, Dim> = {
    pos: 'p',
    head: config.nHeads,
    kv_head: config.nKvHeads ?? config.nHeads,
    d_head: config.dHead,
    d_model: config.dModel,
    d_mlp: config.dMlp,
  };
  return shape.map((d) => (typeof d === 'number' ? d : sizes[d]!));
}
