/**
 * AtP*'s QK fix (Kramár et al. 2024, section 3.1.1): a query's or key's effect on the metric goes
 * through the attention softmax, whose linearisation fails where attention saturates. Instead of
 * the gradient with respect to the query or key, the pattern is recomputed exactly with the clean
 * query (or key) in place of the corrupted one, and the change of the pattern is multiplied by the
 * metric's gradient with respect to the pattern on the corrupted run:
 *   query i:  Σ_j (A'_ij − A_ij) · ∂m/∂A_ij,  A'_i = softmax_j(q_clean_i · k_j · scale)
 *   key j:    Σ_{i sees j} Σ_j' (A'_ij' − A_ij') · ∂m/∂A_ij',  A'_i with score (i, j) = q_i · k_clean_j · scale
 * with every other query and key at its corrupted value. In float64.
 */

export interface QkFixInputs {
  /** Clean and corrupted queries [pos, head, d_head] and keys [pos, kv_head, d_head] of one layer, as the scores read them (after RoPE, if any). */
  qClean: Float32Array;
  kClean: Float32Array;
  qCorrupt: Float32Array;
  kCorrupt: Float32Array;
  /** ∂m/∂pattern on the corrupted run, [head, query, key]. */
  gradPattern: Float32Array;
  positions: number;
  heads: number;
  /** Key heads under grouped-query attention (query head h reads key head floor(h / (heads / kvHeads))); absent: heads. */
  kvHeads?: number;
  dHead: number;
  /** What q · k is multiplied by before the softmax. */
  scale: number;
  /** Gemma 2's attention soft-cap: the scaled score s becomes cap · tanh(s / cap); absent or null: none. */
  softcap?: number | null;
  /** GPT-Neo's local window (key j visible from query i when i − window < j ≤ i), or null. */
  window: number | null;
}

/**
 * Per head and position: the query and the key contributions, [head, pos] each. Under grouped-query
 * attention a key is shared by its group's query heads; head h's key contribution is the change
 * through head h's pattern.
 */
export function qkFixContributions(x: QkFixInputs): { query: Float64Array; key: Float64Array } {
  const { positions: P, heads: H, dHead: Dh, scale, window } = x;
  const Hkv = x.kvHeads ?? H;
  const query = new Float64Array(H * P);
  const key = new Float64Array(H * P);
  /** Query i of head h against key j of its key head. */
  const dot = (q: Float32Array, i: number, k: Float32Array, j: number, h: number): number => {
    const kh = Math.floor(h / (H / Hkv));
    let s = 0;
    for (let e = 0; e < Dh; e++) s += q[(i * H + h) * Dh + e]! * k[(j * Hkv + kh) * Dh + e]!;
    return x.softcap ? x.softcap * Math.tanh((s * scale) / x.softcap) : s * scale;
  };
  const first = (i: number): number => (window === null ? 0 : Math.max(0, i - window + 1));
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < P; i++) {
      const j0 = first(i);
      const n = i - j0 + 1;
      const grad = (j: number): number => x.gradPattern[(h * P + i) * P + j]!;
      const scores = new Float64Array(n);
      for (let j = j0; j <= i; j++) scores[j - j0] = dot(x.qCorrupt, i, x.kCorrupt, j, h);
      const base = softmax(scores);
      /** Σ_j (softmax(s) − A)_j · ∂m/∂A_ij over row i. */
      const effect = (s: Float64Array): number => {
        const a = softmax(s);
        let total = 0;
        for (let j = j0; j <= i; j++) total += (a[j - j0]! - base[j - j0]!) * grad(j);
        return total;
      };
      const withCleanQuery = new Float64Array(n);
      for (let j = j0; j <= i; j++) withCleanQuery[j - j0] = dot(x.qClean, i, x.kCorrupt, j, h);
      query[h * P + i] = effect(withCleanQuery);
      for (let j = j0; j <= i; j++) {
        const withCleanKey = Float64Array.from(scores);
        withCleanKey[j - j0] = dot(x.qCorrupt, i, x.kClean, j, h);
        key[h * P + j]! += effect(withCleanKey);
      }
    }
  }
  return { query, key };
}

function softmax(s: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of s) max = Math.max(max, v);
  const out = new Float64Array(s.length);
  let total = 0;
  for (let i = 0; i < s.length; i++) total += out[i] = Math.exp(s[i]! - max);
  for (let i = 0; i < s.length; i++) out[i]! /= total;
  return out;
}
