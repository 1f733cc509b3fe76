/**
 * The organism's positional code: sinusoids at the "binary" frequencies ω_k = π / 2^k,
 * k = 0 … K−1, scaled to unit norm:
 *
 *   p(n) = (cos πn, cos ω_1 n, sin ω_1 n, …, cos ω_{K−1} n, sin ω_{K−1} n) / √K     [POS_DIMS]
 *
 * (sin πn is always 0, so the first frequency has one coordinate.) Its kernel
 *
 *   κ(Δ) = K · ⟨p(n + Δ), p(n)⟩ = Σ_k cos(π Δ / 2^k)
 *
 * depends on the offset Δ only, equals K at Δ = 0, and is at most K − 2 for every other |Δ| < 2^K:
 * write Δ = 2^m · odd; the term k = m is cos(π · odd) = −1 and no term exceeds 1. With 2^K = n_ctx
 * that separates every pair of positions by a fixed margin, which is what lets a head attend to
 * exactly one relative position:
 *
 *   - the previous-token head compares R p(i) with p(j), where R rotates each pair by −ω_k so that
 *     R p(i) = p(i − 1): its scores peak at j = i − 1;
 *   - the duplicate-token head subtracts γ κ(i − j) to keep off its own position j = i.
 */
import { POS_DIMS, POS_FREQUENCIES } from './residual-layout.js';

/** Angle π n / 2^k, reduced exactly (n mod 2^{k+1}) so that large positions lose no precision. */
function angle(n: number, k: number): number {
  const period = 2 ** (k + 1);
  return (Math.PI * (((n % period) + period) % period)) / 2 ** k;
}

/** p(n) [POS_DIMS]. */
export function positionalCode(n: number): Float64Array {
  const K = POS_FREQUENCIES;
  const scale = 1 / Math.sqrt(K);
  const out = new Float64Array(POS_DIMS);
  out[0] = (n % 2 === 0 ? 1 : -1) * scale; // cos πn
  for (let k = 1; k < K; k++) {
    const a = angle(n, k);
    out[2 * k - 1] = Math.cos(a) * scale;
    out[2 * k] = Math.sin(a) * scale;
  }
  return out;
}

/** κ(Δ) = Σ_k cos(π Δ / 2^k): the positional kernel, K times the inner product of codes Δ apart. */
export function positionalKernel(delta: number): number {
  let s = 0;
  for (let k = 0; k < POS_FREQUENCIES; k++) s += Math.cos(angle(delta, k));
  return s;
}

/**
 * The matrix R [POS_DIMS, POS_DIMS] with R p(n) = p(n − 1) for every n: −1 on the first coordinate
 * (cos π(n−1) = −cos πn), and a rotation by −ω_k on each (cos, sin) pair. Row-major, R[r * POS_DIMS + c].
 */
export function previousPositionRotation(): Float64Array {
  const P = POS_DIMS;
  const R = new Float64Array(P * P);
  R[0] = -1;
  for (let k = 1; k < POS_FREQUENCIES; k++) {
    const w = Math.PI / 2 ** k;
    const c = 2 * k - 1;
    const s = 2 * k;
    // (cos(x − w), sin(x − w)) = (cos x cos w + sin x sin w, sin x cos w − cos x sin w)
    R[c * P + c] = Math.cos(w);
    R[c * P + s] = Math.sin(w);
    R[s * P + c] = -Math.sin(w);
    R[s * P + s] = Math.cos(w);
  }
  return R;
}
