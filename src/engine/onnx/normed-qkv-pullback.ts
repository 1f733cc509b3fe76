/**
 * ln1 and every head's q, k and v product in a GPT-2-family backward graph, as one tape node: its
 * value is the forward's saved q, k, v, and its pullback gives resid_pre's gradient through one GEMM
 * and, for edge attribution, each head's q, k and v input gradient (its own copy of resid_pre, as
 * TransformerLens's split q/k/v input), with one [3·head, b, p, d_model] product and no LayerNorm
 * backward over those copies.
 *
 * With x̂ = (x − mean x) / σ the normalised stream, w and β ln1's weight and bias, and W_h one head's
 * [d_model, d_head] matrix (of q, k or v), the head's product is q_h = x̂ (diag(w) W_h) + (β W_h + b_h).
 * LayerNorm's vector-Jacobian product for an output gradient gy is
 *     dx = (gw − mean(gw) − x̂ · mean(gw ⊙ x̂)) / σ,   gw = w ⊙ gy,
 * and for gy = W_h dq_h (dq_h the head's gradient, [d_head]) both of its first two terms are linear in dq_h:
 *     gw − mean(gw) = dq_h V_h,   V_h = (diag(w) W_h)ᵀ with each row centred over d_model,
 *     mean(gw ⊙ x̂) = (dq_h · q̃_h) / d_model,   q̃_h = x̂ (diag(w) W_h) = q_h − (β W_h + b_h).
 * So with dq'_h = dq_h / σ (per row and position):
 *     head input h:  dx_h = dq'_h V_h − x̂ (dq'_h · q̃_h) / d_model            [3·head, b, p, d_model]
 *     resid_pre:     Σ_h dx_h = dq' V − x̂ Σ_h (dq'_h · q̃_h) / d_model        one GEMM with V [3·head·d_head, d_model]
 * Frozen (σ a constant of the backward pass) drops the x̂ terms.
 */
import type { BlockWeights } from '../model/weights.js';
import type { Tape, TapeValue } from './autodiff.js';

export interface NormedQkvOptions {
  /** The saved products q, k, v of every head, [3·head, b, p, d_head] (q heads, then k, then v). */
  saved: string;
  heads: number;
  dModel: number;
  dHead: number;
  eps: number;
  frozen: boolean;
  /** The heads' own input gradients (splitInput()): none, per batch row, or summed over the rows. */
  split: SplitInputs;
}

/** Which gradients of the split inputs a backward graph gives: none, each batch row's, or their sum over the rows (EAP-IG's points). */
export type SplitInputs = 'none' | 'rows' | 'sum';

export interface NormedQkv {
  /** [3·head, b, p, d_head]: the saved products, with the pullback above. */
  qkv: TapeValue;
  /** After Tape.backward: the graph value of the heads' input gradients, [3·head, b, p, d_model] (split 'rows') or [3·head, 1, p, d_model] ('sum'). */
  splitInput(): string;
}

/** The node on `t` for resid_pre [b, p, d_model] (differentiable) and block `w`'s ln1 and q/k/v weights. */
export function normedQkv(t: Tape, residPre: TapeValue, w: BlockWeights, o: NormedQkvOptions): NormedQkv {
  const g = t.g;
  const { heads: H, dModel: D, dHead: Dh } = o;
  const S = 3 * H;
  const { rows, offset } = qkvPullbackWeights(w, H, D, Dh);
  const lastAxis = g.constInt64([-1]);
  let split: string | null = null;
  const qkv = t.custom([residPre], [{ name: o.saved, shape: [S, 'b', 'p', Dh] }], ([grad]) => {
    if (grad === null || grad === undefined) return [null];
    const x = residPre.name;
    const centred = g.op1('Sub', [x, g.op1('ReduceMean', [x, lastAxis], { keepdims: 1 })]); // [b, p, d_model]
    const variance = g.op1('ReduceMean', [g.op1('Mul', [centred, centred]), lastAxis], { keepdims: 1 });
    const inverseScale = g.op1('Reciprocal', [g.op1('Sqrt', [g.op1('Add', [variance, g.constFloat([o.eps], [])])])]); // [b, p, 1]
    const scaled = g.op1('Mul', [grad, inverseScale]); // dq' [3·head, b, p, d_head]
    // Σ_h dq'_h V_h: [b · p, 3·head · d_head] times V [3·head · d_head, d_model].
    const flat = g.op1('Reshape', [g.op1('Transpose', [scaled], { perm: [1, 2, 0, 3] }), g.constInt64([-1, S * Dh])]);
    const throughHeads = g.op1('Reshape', [g.op1('Gemm', [flat, t.weight('qkv_rows', rows, [S * Dh, D]).name]), g.op1('Shape', [x])]);
    const headRows = t.weight('qkv_head_rows', rows, [S, 1, Dh, D]).name;
    // Σ_b dq'_h V_h for 'sum': the sum over the rows in head space, then one product.
    const throughHead = (): string =>
      g.op1('MatMul', [o.split === 'sum' ? g.op1('ReduceSum', [scaled, g.constInt64([1])], { keepdims: 1 }) : scaled, headRows]);
    if (o.frozen) {
      if (o.split !== 'none') split = throughHead();
      return [throughHeads];
    }
    const normalized = g.op1('Mul', [centred, inverseScale]); // x̂ [b, p, d_model]
    const qTilde = g.op1('Sub', [o.saved, t.weight('qkv_offset', offset, [S, 1, 1, Dh]).name]);
    const along = g.op1('Mul', [g.op1('ReduceSum', [g.op1('Mul', [scaled, qTilde]), lastAxis], { keepdims: 1 }), g.constFloat([1 / D], [])]); // [3·head, b, p, 1]
    if (o.split === 'rows') split = g.op1('Sub', [throughHead(), g.op1('Mul', [along, normalized])]);
    if (o.split === 'sum') {
      // Σ_b along_b x̂_b per position: [p, 3·head, b] times [p, b, d_model], back to [3·head, 1, p, d_model].
      const alongByPosition = g.op1('Transpose', [g.op1('Squeeze', [along, g.constInt64([3])])], { perm: [2, 0, 1] });
      const normalizedByPosition = g.op1('Transpose', [normalized], { perm: [1, 0, 2] });
      const summed = g.op1('Transpose', [g.op1('MatMul', [alongByPosition, normalizedByPosition])], { perm: [1, 0, 2] });
      split = g.op1('Sub', [throughHead(), g.op1('Unsqueeze', [summed, g.constInt64([1])])]);
    }
    const alongAll = g.op1('ReduceSum', [along, g.constInt64([0])], { keepdims: 0 }); // [b, p, 1]
    return [g.op1('Sub', [throughHeads, g.op1('Mul', [normalized, alongAll])])];
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
 * Per block: V [3·head, d_head, d_model] (each head's (diag(w) W_h)ᵀ, rows centred over d_model) and
 * the constant of its saved product, β W_h + b_h [3·head, d_head], computed in float64.
 */
const pullbackWeightsOf = new WeakMap<BlockWeights, { rows: Float32Array; offset: Float32Array }>();

function qkvPullbackWeights(w: BlockWeights, H: number, D: number, Dh: number): { rows: Float32Array; offset: Float32Array } {
  let made = pullbackWeightsOf.get(w);
  if (made !== undefined) return made;
  const lnW = w.ln1.w.data,
    lnB = w.ln1.b.data;
  const rows = new Float32Array(3 * H * Dh * D);
  const offset = new Float32Array(3 * H * Dh);
  const row = new Float64Array(D);
  [w.W_Q, w.W_K, w.W_V].forEach((matrix, s) => {
    const W = matrix.data; // [head, d_model, d_head]
    const bias = [w.b_Q, w.b_K, w.b_V][s]!.data; // [head, d_head]
    for (let h = 0; h < H; h++)
      for (let e = 0; e < Dh; e++) {
        let mean = 0,
          constant = bias[h * Dh + e]!;
        for (let d = 0; d < D; d++) {
          const x = W[(h * D + d) * Dh + e]!;
          row[d] = x * lnW[d]!;
          mean += row[d]!;
          constant += lnB[d]! * x;
        }
        mean /= D;
        const base = ((s * H + h) * Dh + e) * D;
        for (let d = 0; d < D; d++) rows[base + d] = row[d]! - mean;
        offset[(s * H + h) * Dh + e] = constant;
      }
  });
  pullbackWeightsOf.set(w, (made = { rows, offset }));
  return made;
}
