/**
 * The organism's residual stream, split into named subspaces.
 *
 * The organism is designed in a "logical" basis of d_model − 1 coordinates, each subspace a run of
 * axis-aligned coordinates (below). Every vector that is written to or read from the residual
 * stream is then mapped into the model's d_model-dimensional "physical" basis by one fixed
 * Householder reflection H that sends the last logical axis to the all-ones direction. So every
 * residual vector the model ever holds is orthogonal to (1, …, 1): LayerNorm's mean subtraction
 * is then exactly a no-op, and LayerNorm reduces to a division by the residual's norm, which the
 * design controls. H is orthogonal, so inner products between logical vectors are kept.
 *
 * Each logical coordinate maps to one physical dimension plus a small uniform correction, so the
 * subspaces stay visible as blocks of dimensions in the physical residual stream.
 */
export const D_MODEL = 256;
export const N_HEADS = 4;
export const D_HEAD = D_MODEL / N_HEADS; // 64
export const N_LAYERS = 2;
export const D_MLP = 4 * D_MODEL; // GPT-2's MLP width
export const N_CTX = 1024;

/** Frequencies of the positional code: π / 2^k for k = 0 … 9 (see positional-code.ts). */
export const POS_FREQUENCIES = Math.log2(N_CTX); // 10
/** cos for the first frequency (its sine is always 0), a (cos, sin) pair for each other one. */
export const POS_DIMS = 2 * POS_FREQUENCIES - 1; // 19

/**
 * Dimensions of a token's identity code. A head copies a token from one subspace to another
 * through its OV circuit, whose rank is at most d_head; the induction head's QK also needs one
 * query/key dimension for its attention sink. So: d_head − 1.
 */
export const CODE_DIMS = D_HEAD - 1; // 63

/**
 * The part of the code the duplicate-token head compares: its QK needs the code, the positional
 * code (to keep off its own position) and the sink dimension in d_head dimensions.
 */
export const DUP_CODE_DIMS = D_HEAD - POS_DIMS - 1; // 44

/** A run of logical coordinates [start, start + size). */
export interface Subspace {
  readonly start: number;
  readonly size: number;
}

function layout(): Record<'ballast' | 'sink' | 'seen' | 'pos' | 'out' | 'cur' | 'prev', Subspace> {
  let next = 0;
  const take = (size: number): Subspace => {
    const s = { start: next, size };
    next += size;
    return s;
  };
  const spaces = {
    /** A large constant at every position, like GPT-2's "massive activation" dimensions: it keeps every LayerNorm's scale nearly constant. */
    ballast: take(1),
    /** Nonzero only at position 0, the attention sink. */
    sink: take(1),
    /** Written by the duplicate-token head: 1 when the current token occurred before. */
    seen: take(1),
    /** The positional code (positional-code.ts). */
    pos: take(POS_DIMS),
    /** The output subspace: the only one the unembedding reads besides `cur`; heads and MLPs vote here. */
    out: take(CODE_DIMS),
    /** The current token's identity, written by the embedding and never changed. */
    cur: take(CODE_DIMS),
    /** The previous token's identity, written by the previous-token head. */
    prev: take(CODE_DIMS),
  };
  if (next > D_MODEL - 1) throw new Error(`organism layout needs ${next} logical dimensions, d_model − 1 = ${D_MODEL - 1}`);
  return spaces;
}

export const SPACE = layout();

/** Coordinate i of a subspace. */
export function coord(space: Subspace, i: number): number {
  if (!Number.isInteger(i) || i < 0 || i >= space.size) throw new RangeError(`coordinate ${i} outside a subspace of ${space.size}`);
  return space.start + i;
}

/**
 * The Householder vector v = (e_last − 1/√d) / |e_last − 1/√d|: H = I − 2 v vᵀ maps e_last to
 * 1/√d (the all-ones direction) and the other axes into its orthogonal complement.
 */
const HOUSEHOLDER: Float64Array = (() => {
  const d = D_MODEL;
  const v = new Float64Array(d).fill(-1 / Math.sqrt(d));
  v[d - 1] = v[d - 1]! + 1;
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  for (let i = 0; i < d; i++) v[i] = v[i]! / norm;
  return v;
})();

/**
 * For a logical vector x (last coordinate 0), H x = x + (Σ x) · SUM_CORRECTION, because
 * v · x = v_0 Σ x (v is constant on the other coordinates); SUM_CORRECTION is therefore constant on
 * every coordinate but the last. A fast path for the 50k embedding rows.
 */
export const SUM_CORRECTION: Float64Array = (() => {
  const v = HOUSEHOLDER;
  return v.map((vi) => -2 * v[0]! * vi);
})();

/**
 * Maps logical vectors to physical ones in place, along the d_model axis of a [outer, d_model, inner]
 * array (inner = 1 for row vectors such as embedding rows).
 */
export function toPhysical(data: Float64Array, outer: number, inner: number): void {
  const d = D_MODEL;
  if (data.length !== outer * d * inner) throw new Error(`toPhysical: ${data.length} values are not [${outer}, ${d}, ${inner}]`);
  const v = HOUSEHOLDER;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < inner; c++) {
      const base = o * d * inner + c;
      let dot = 0;
      for (let i = 0; i < d; i++) dot += data[base + i * inner]! * v[i]!;
      if (dot === 0) continue;
      const k = 2 * dot;
      for (let i = 0; i < d; i++) data[base + i * inner] = data[base + i * inner]! - k * v[i]!;
    }
  }
}
