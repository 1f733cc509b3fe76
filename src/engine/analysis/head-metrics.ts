/**
 * Per-head descriptive metrics of one prompt's attention: how spread out each head's attention is
 * (entropy), how peaked (concentration), how much it writes (its output norm), and which
 * (query, key) pairs it attends to most.
 *
 * Patterns are `[head, query, key]` (one layer's `attn.hook_pattern`), causal: row q has weight
 * only on keys 0..q.
 */
import type { Tensor } from '../tensor.js';

export interface AttentionStats {
  /** Mean over all queries of −Σ p log p, in nats. Query 0 (a single key) contributes 0. */
  entropy: number;
  /**
   * Mean over queries q ≥ 1 of entropy / log(q + 1), in [0, 1]. Query 0 is left out because it
   * has one key and its maximum entropy log 1 = 0 leaves the ratio undefined; a one-token prompt
   * gives 0.
   */
  entropyNormalized: number;
  /**
   * Mean over queries q ≥ 1 of the largest attention weight. Query 0 is left out: it has one key,
   * so its largest weight is always 1 whatever the head does; a one-token prompt gives 1.
   */
  concentration: number;
}

function checkPattern(pattern: Tensor, head: number): { nHeads: number; n: number } {
  const [nHeads, nq, nk] = pattern.shape;
  if (pattern.shape.length !== 3 || nHeads === undefined || nq === undefined || nk === undefined || nq !== nk) {
    throw new Error(`expected an attention pattern [head, query, key], got [${pattern.shape.join(', ')}]`);
  }
  if (!Number.isInteger(head) || head < 0 || head >= nHeads) throw new RangeError(`head ${head} outside 0..${nHeads - 1}`);
  return { nHeads, n: nq };
}

/** Entropy, normalised entropy and concentration of one head's attention. */
export function attentionStats(pattern: Tensor /* [head, query, key] */, head: number): AttentionStats {
  const { n } = checkPattern(pattern, head);
  const base = head * n * n;
  const d = pattern.data;
  let entropySum = 0;
  let normalizedSum = 0;
  let maxSum = 0;
  for (let q = 0; q < n; q++) {
    const rowStart = base + q * n;
    let h = 0;
    let max = 0;
    for (let k = 0; k <= q; k++) {
      const p = d[rowStart + k]!;
      if (p > 0) h -= p * Math.log(p);
      if (p > max) max = p;
    }
    entropySum += h;
    if (q >= 1) {
      maxSum += max;
      normalizedSum += h / Math.log(q + 1);
    }
  }
  return {
    entropy: entropySum / n,
    entropyNormalized: n > 1 ? normalizedSum / (n - 1) : 0,
    concentration: n > 1 ? maxSum / (n - 1) : 1,
  };
}

/**
 * Gram matrices G[h] = W_O[h] W_O[h]^T ([head, d_head, d_head], float64), so that
 * ‖z @ W_O[h]‖² = z^T G[h] z costs d_head² per position instead of d_head · d_model. Computed once
 * per weight tensor (the weights of a loaded model never change) and kept while the tensor lives.
 * With `postWeight` w (Gemma's post-attention norm, [d_model]): G[h] = W_O[h] diag(w²) W_O[h]^T, so
 * that z^T G[h] z = ‖z @ W_O[h] ⊙ w‖², kept per w.
 */
const gramCache = new WeakMap<Tensor, Float64Array>();
const postGramCache = new WeakMap<Tensor, Float64Array>();

export function outputGram(W_O: Tensor /* [head, d_head, d_model] */, postWeight?: Tensor /* [d_model] */): Float64Array {
  const cached = postWeight ? postGramCache.get(postWeight) : gramCache.get(W_O);
  if (cached) return cached;
  const [nHeads, dHead, dModel] = W_O.shape;
  if (nHeads === undefined || dHead === undefined || dModel === undefined)
    throw new Error(`outputGram: W_O must be [head, d_head, d_model], got [${W_O.shape.join(', ')}]`);
  const W = W_O.data;
  const w2 = postWeight ? Float64Array.from(postWeight.data, (x) => x * x) : null;
  const gram = new Float64Array(nHeads * dHead * dHead);
  for (let h = 0; h < nHeads; h++) {
    for (let a = 0; a < dHead; a++) {
      const rowA = (h * dHead + a) * dModel;
      for (let b = a; b < dHead; b++) {
        const rowB = (h * dHead + b) * dModel;
        let s = 0;
        if (w2) for (let m = 0; m < dModel; m++) s += W[rowA + m]! * W[rowB + m]! * w2[m]!;
        else for (let m = 0; m < dModel; m++) s += W[rowA + m]! * W[rowB + m]!;
        gram[(h * dHead + a) * dHead + b] = s;
        gram[(h * dHead + b) * dHead + a] = s;
      }
    }
  }
  if (postWeight) postGramCache.set(postWeight, gram);
  else gramCache.set(W_O, gram);
  return gram;
}

/**
 * Each head's output norm: the mean over positions of ‖z[pos, head] @ W_O[head]‖, for every head
 * of a layer; how strongly each head writes into the residual stream (its bias b_O is shared by
 * all heads and left out). With `post` (Gemma: the post-attention RMSNorm's weight w and its cached
 * scale s [pos], `ln1_post.hook_scale`), what the head adds to the stream at that frozen scale:
 * ‖z[pos, head] @ W_O[head] ⊙ w‖ / s[pos]. Returns [head].
 */
export function headOutputNorms(
  z: Tensor /* [pos, head, d_head] */,
  W_O: Tensor /* [head, d_head, d_model] */,
  post?: { w: Tensor /* [d_model] */; scale: Tensor /* [pos, 1] */ },
): Float64Array {
  const [nPos, nHeads, dHead] = z.shape;
  const [wHeads, wDHead, dModel] = W_O.shape;
  if (nPos === undefined || nHeads === undefined || dHead === undefined || wHeads !== nHeads || wDHead !== dHead || dModel === undefined) {
    throw new Error(`headOutputNorms: z [${z.shape.join(', ')}] does not match W_O [${W_O.shape.join(', ')}]`);
  }
  const gram = outputGram(W_O, post?.w);
  const zData = z.data;
  const out = new Float64Array(nHeads);
  const row = new Float64Array(dHead);
  for (let h = 0; h < nHeads; h++) {
    let normSum = 0;
    const gHead = h * dHead * dHead;
    for (let p = 0; p < nPos; p++) {
      const zBase = (p * nHeads + h) * dHead;
      for (let a = 0; a < dHead; a++) row[a] = zData[zBase + a]!;
      // |z W_O|^2 = z G z^T with G = W_O W_O^T symmetric: the diagonal once, each pair a < b twice.
      let sq = 0;
      for (let a = 0; a < dHead; a++) {
        const za = row[a]!;
        if (za === 0) continue;
        const gRow = gHead + a * dHead;
        let s = 0.5 * gram[gRow + a]! * za;
        for (let b = a + 1; b < dHead; b++) s += gram[gRow + b]! * row[b]!;
        sq += 2 * za * s;
      }
      // Rounding can leave a tiny negative for a zero output.
      normSum += Math.sqrt(Math.max(0, sq)) / (post ? post.scale.data[p]! : 1);
    }
    out[h] = nPos > 0 ? normSum / nPos : 0;
  }
  return out;
}

export interface AttentionPair {
  query: number;
  key: number;
  weight: number;
}

/** The k strongest (query, key) attention weights of one head, strongest first (ties: earlier query, then earlier key). */
export function topAttentionPairs(pattern: Tensor /* [head, query, key] */, head: number, k: number): AttentionPair[] {
  const { n } = checkPattern(pattern, head);
  const want = Math.max(0, Math.floor(k));
  const pairs: AttentionPair[] = [];
  const base = head * n * n;
  for (let q = 0; q < n; q++) for (let key = 0; key <= q; key++) pairs.push({ query: q, key, weight: pattern.data[base + q * n + key]! });
  pairs.sort((a, b) => b.weight - a.weight || a.query - b.query || a.key - b.key);
  return pairs.slice(0, want);
}
