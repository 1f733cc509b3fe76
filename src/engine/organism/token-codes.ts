/**
 * Token identity codes: for every token id a unit vector of CODE_DIMS random signs,
 * ±1/√CODE_DIMS, drawn from a seeded mulberry32 stream (two 32-bit draws per token, token by
 * token), so the same seed gives the same codes on every machine.
 *
 * Random sign codes are nearly orthogonal: the overlap of two different codes is a sum of
 * CODE_DIMS independent ±1/CODE_DIMS terms (standard deviation 1/√63 ≈ 0.13, and bounded by 1),
 * while a code's overlap with itself is exactly 1. Every code has exactly unit norm, and so has its
 * first DUP_CODE_DIMS coordinates exactly the norm √(44/63): matches score the same for every token.
 */
import { mulberry32 } from '../analysis/seeded-random.js';
import { CODE_DIMS } from './residual-layout.js';

/** Signs [vocab, CODE_DIMS], each +1 or −1. The code of token t is signs[t] / √CODE_DIMS. */
export function tokenCodeSigns(vocab: number, seed: number): Int8Array {
  const dims = CODE_DIMS;
  if (dims > 64) throw new Error('token codes take at most 64 signs from two 32-bit draws');
  const random = mulberry32(seed);
  const signs = new Int8Array(vocab * dims);
  for (let t = 0; t < vocab; t++) {
    // mulberry32 returns a 32-bit integer divided by 2^32, so this recovers its bits exactly.
    const lo = random() * 4294967296;
    const hi = random() * 4294967296;
    for (let i = 0; i < dims; i++) {
      const bit = i < 32 ? (lo >>> i) & 1 : (hi >>> (i - 32)) & 1;
      signs[t * dims + i] = bit === 1 ? 1 : -1;
    }
  }
  return signs;
}

/** ⟨code(a), code(b)⟩ over the first `dims` coordinates (unnormalised: a sum of ±1 / CODE_DIMS). */
export function codeOverlap(signs: Int8Array, a: number, b: number, dims: number = CODE_DIMS): number {
  let s = 0;
  for (let i = 0; i < dims; i++) s += signs[a * CODE_DIMS + i]! * signs[b * CODE_DIMS + i]!;
  return s / CODE_DIMS;
}
