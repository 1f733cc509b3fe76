/**
 * A block's input norm (ln1: LayerNorm or RMSNorm) and every reader slot's q, k or v product in a
 * backward graph, as one tape node: its pullback gives resid_pre's gradient through one GEMM and, for
 * edge attribution, each slot's own input gradient (its own copy of resid_pre, as TransformerLens's
 * split q/k/v input), with one [slot, b, p, d_model] product and no norm backward over the copies.
 * Slots: each query head, then each key/value head's key, then its value (S = head + 2 kv_head).
 *
 * With s the norm's scale (an input of the node, so its own gradient comes out for ln1.hook_scale),
 * c = x − mean x (LayerNorm) or x (RMSNorm), x̂ = c / s, w and β the norm's weight and bias (β = 0 for
 * RMSNorm), and W_h a slot's [d_model, d_head] matrix, the slot's product is q_h = x̂ (diag(w) W_h) +
 * (β W_h + b_h). For the slot's gradient dq_h:
 *   through x at fixed s:  dq'_h V_h,  dq'_h = dq_h / s,  V_h = (diag(w) W_h)ᵀ, each row centred over
 *                          d_model for LayerNorm (the centring's Jacobian, linear in dq_h)
 *   through s:             ∂m/∂s = −Σ_h dq'_h · q̃_h,  q̃_h = x̂ (diag(w) W_h) = q_h − (β W_h + b_h)
 * and since ∂s/∂x = x̂ / d_model for both norms, each slot's own input gradient is
 *   dx_h = dq'_h V_h − x̂ (dq'_h · q̃_h) / d_model                   [S, b, p, d_model]
 * With the scale frozen (the linearised model) the second term is dropped.
 */
import type { Tape, TapeValue } from './autodiff.js';

/** Which gradients of the split inputs a backward graph gives: none, each batch row's, or their sum over the rows (EAP-IG's points). */
export type SplitInputs = 'none' | 'rows' | 'sum';

/** One group of reader slots (the query heads, the key heads or the value heads): [heads, d_model, d_head] and its bias [heads, d_head] (null: none). */
export interface SlotGroup {
  W: Float32Array;
  b: Float32Array | null;
  heads: number;
}

export interface NormedQkvOptions {
  norm: 'layer' | 'rms';
  /** The norm's weight [d_model] and bias (LayerNorm; null for RMSNorm). */
  normWeight: Float32Array;
  normBias: Float32Array | null;
  /** The slot groups in slot order; their arrays key the cache of the pullback's weights. */
  groups: readonly SlotGroup[];
  dModel: number;
  dHead: number;
  /** The products [S, b, p, d_head] as the forward computed them (a graph value fed to the backward), or null to compute them here. */
  saved: string | null;
  frozen: boolean;
  split: SplitInputs;
}

export interface NormedQkv {
  /** [S, b, p, d_head]: the slots' products, with the pullback above. */
  qkv: TapeValue;
  /** After Tape.backward: the slots' input gradients, [S, b, p, d_model] (split 'rows') or [S, 1, p, d_model] ('sum'). */
  splitInput(): string;
}

/** The node on `t` for resid_pre x [b, p, d_model] and its norm's scale s [b, p, 1] (both on the tape; s may be frozen). */
export function normedQkv(t: Tape, x: TapeValue, scale: TapeValue, o: NormedQkvOptions): NormedQkv {
  const g = t.g;
  const { dModel: D, dHead: Dh } = o;
  const S = o.groups.reduce((n, group) => n + group.heads, 0);
  const { rows, offset } = pullbackWeights(o);
  const lastAxis = g.constInt64([-1]);
  const centred = o.norm === 'layer' ? g.op1('Sub', [x.name, g.op1('ReduceMean', [x.name, lastAxis], { keepdims: 1 })]) : x.name; // [b, p, d_model]
  const inverseScale = g.op1('Reciprocal', [scale.name]); // [b, p, 1]
  const normalized = g.op1('Mul', [centred, inverseScale]); // x̂
  let value = o.saved;
  if (value === null) {
    const weighted = g.op1('Mul', [normalized, t.weight('ln1_w', o.normWeight, [D]).name]);
    const y = o.normBias ? g.op1('Add', [weighted, t.weight('ln1_b', o.normBias, [D]).name]) : weighted;
    const products = g.op1('MatMul', [g.op1('Unsqueeze', [y, g.constInt64([0])]), t.weight('W_slots', stackedSlots(o.groups, D, Dh), [S, 1, D, Dh]).name]);
    const bias = slotBiases(o.groups, Dh);
    value = bias ? g.op1('Add', [products, t.weight('b_slots', bias, [S, 1, 1, Dh]).name]) : products;
  }
  let split: string | null = null;
  const qkv = t.custom([x, scale], [{ name: value, shape: [S, 'b', 'p', Dh] }], ([grad]) => {
    if (grad === null || grad === undefined) return [null, null];
    const scaled = g.op1('Mul', [grad, inverseScale]); // dq' [S, b, p, d_head]
    // Σ_h dq'_h V_h: [b · p, S · d_head] times V [S · d_head, d_model].
    const flat = g.op1('Reshape', [g.op1('Transpose', [scaled], { perm: [1, 2, 0, 3] }), g.constInt64([-1, S * Dh])]);
    const throughX = g.op1('Reshape', [g.op1('Gemm', [flat, t.weight('qkv_rows', rows, [S * Dh, D]).name]), g.op1('Shape', [x.name])]);
    const headRows = t.weight('qkv_head_rows', rows, [S, 1, Dh, D]).name;
    // Σ_b dq'_h V_h for 'sum': the sum over the rows in head space, then one product.
    const throughHead = (): string =>
      g.op1('MatMul', [o.split === 'sum' ? g.op1('ReduceSum', [scaled, g.constInt64([1])], { keepdims: 1 }) : scaled, headRows]);
    const qTilde = g.op1('Sub', [value, t.weight('qkv_offset', offset, [S, 1, 1, Dh]).name]);
    const along = g.op1('Mul', [g.op1('ReduceSum', [g.op1('Mul', [scaled, qTilde]), lastAxis], { keepdims: 1 }), g.constFloat([1 / D], [])]); // [S, b, p, 1]
    // The scale's own gradient (ln1.hook_scale's), also when frozen: a frozen scale passes none on to x.
    const scaleGradient = g.op1('Mul', [g.op1('ReduceSum', [along, g.constInt64([0])], { keepdims: 0 }), g.constFloat([-D], [])]); // [b, p, 1]
    if (o.frozen) {
      if (o.split !== 'none') split = throughHead();
      return [throughX, scaleGradient];
    }
    if (o.split === 'rows') split = g.op1('Sub', [throughHead(), g.op1('Mul', [along, normalized])]);
    if (o.split === 'sum') {
      // Σ_b along_b x̂_b per position: [p, S, b] times [p, b, d_model], back to [S, 1, p, d_model].
      const alongByPosition = g.op1('Transpose', [g.op1('Squeeze', [along, g.constInt64([3])])], { perm: [2, 0, 1] });
      const normalizedByPosition = g.op1('Transpose', [normalized], { perm: [1, 0, 2] });
      const summed = g.op1('Transpose', [g.op1('MatMul', [alongByPosition, normalizedByPosition])], { perm: [1, 0, 2] });
      split = g.op1('Sub', [throughHead(), g.op1('Unsqueeze', [summed, g.constInt64([1])])]);
    }
    return [throughX, scaleGradient];
  })[0]!;
  return {
    qkv,
    splitInput: () => {
      if (split === null) throw new Error('normedQkv: no split input gradient (split off, or backward not run)');
      return split;
    },
  };
}

/**
 * Per block (keyed by its first slot group's matrix): V [S, d_head, d_model] (each slot's (diag(w) W_h)ᵀ,
 * rows centred over d_model for LayerNorm) and the constant of its product, β W_h + b_h [S, d_head], in float64.
 */
const pullbackWeightsOf = new WeakMap<Float32Array, { rows: Float32Array; offset: Float32Array }>();

function pullbackWeights(o: NormedQkvOptions): { rows: Float32Array; offset: Float32Array } {
  const key = o.groups[0]!.W;
  let made = pullbackWeightsOf.get(key);
  if (made !== undefined) return made;
  const { dModel: D, dHead: Dh, normWeight: lnW, normBias: lnB } = o;
  const S = o.groups.reduce((n, group) => n + group.heads, 0);
  const rows = new Float32Array(S * Dh * D);
  const offset = new Float32Array(S * Dh);
  const row = new Float64Array(D);
  let slot = 0;
  for (const { W, b, heads } of o.groups)
    for (let h = 0; h < heads; h++, slot++)
      for (let e = 0; e < Dh; e++) {
        let mean = 0,
          constant = b?.[h * Dh + e] ?? 0;
        for (let d = 0; d < D; d++) {
          const x = W[(h * D + d) * Dh + e]!;
          row[d] = x * lnW[d]!;
          mean += row[d]!;
          if (lnB) constant += lnB[d]! * x;
        }
        mean = o.norm === 'layer' ? mean / D : 0;
        const base = (slot * Dh + e) * D;
        for (let d = 0; d < D; d++) rows[base + d] = row[d]! - mean;
        offset[slot * Dh + e] = constant;
      }
  pullbackWeightsOf.set(key, (made = { rows, offset }));
  return made;
}

/** The slot groups' matrices stacked, [S, d_model, d_head], made once per block (keyed by the first group's matrix). */
const stackedSlotsOf = new WeakMap<Float32Array, Float32Array>();

export function stackedSlots(groups: readonly SlotGroup[], D: number, Dh: number): Float32Array {
  let stacked = stackedSlotsOf.get(groups[0]!.W);
  if (stacked === undefined) {
    stacked = new Float32Array(groups.reduce((n, group) => n + group.heads, 0) * D * Dh);
    let offset = 0;
    for (const { W } of groups) {
      stacked.set(W, offset);
      offset += W.length;
    }
    stackedSlotsOf.set(groups[0]!.W, stacked);
  }
  return stacked;
}

/** The slot groups' biases stacked, [S, d_head], or null when no group has one. */
function slotBiases(groups: readonly SlotGroup[], Dh: number): Float32Array | null {
  if (groups.every((group) => group.b === null)) return null;
  const out = new Float32Array(groups.reduce((n, group) => n + group.heads, 0) * Dh);
  let offset = 0;
  for (const { b, heads } of groups) {
    if (b) out.set(b, offset);
    offset += heads * Dh;
  }
  return out;
}
