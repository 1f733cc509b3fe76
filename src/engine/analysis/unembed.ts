/**
 * The unembedding of already-normalised residual vectors: logits = x @ W_U + b_U, reading W_U as
 * its transpose W_U_T [vocab, d_model] (one contiguous row per token). Several vectors are
 * unembedded in one pass over W_U_T, which for GPT-2 is 150 MB and would otherwise be streamed
 * from memory once per vector.
 */
import type { AnalysisWeights } from '../model/weights.js';

/** Logits [vocab] (float64) of each normalised vector [d_model]. */
export function unembed(vectors: readonly Float64Array[], weights: Pick<AnalysisWeights, 'W_U_T' | 'b_U'>): Float64Array[] {
  const [vocab, dModel] = weights.W_U_T.shape;
  if (vocab === undefined || dModel === undefined) throw new Error('unembed: W_U_T must be [vocab, d_model]');
  for (const v of vectors) if (v.length !== dModel) throw new Error(`unembed: a vector of ${v.length} against d_model ${dModel}`);
  const W = weights.W_U_T.data;
  const b = weights.b_U.data;
  const out = vectors.map(() => new Float64Array(vocab));
  const d4 = dModel - (dModel % 4);
  for (let t = 0; t < vocab; t++) {
    const base = t * dModel;
    for (let p = 0; p < vectors.length; p++) {
      const x = vectors[p]!;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let d = 0; d < d4; d += 4) {
        s0 += x[d]! * W[base + d]!;
        s1 += x[d + 1]! * W[base + d + 1]!;
        s2 += x[d + 2]! * W[base + d + 2]!;
        s3 += x[d + 3]! * W[base + d + 3]!;
      }
      for (let d = d4; d < dModel; d++) s0 += x[d]! * W[base + d]!;
      out[p]![t] = s0 + s1 + s2 + s3 + (b[t] ?? 0);
    }
  }
  return out;
}
