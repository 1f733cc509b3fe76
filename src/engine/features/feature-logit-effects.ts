/**
 * A feature's direct logit effect, as Neuronpedia's "top logits": its decoder direction d [d_model]
 * times the unembedding, d · W_U [vocab], and the tokens it raises and lowers most. The final norm
 * (ln_final) is ignored, as Neuronpedia ignores it: its scale depends on the prompt, and without it
 * the effects are a property of the feature alone. The unembedding's bias is left out too (it is
 * the same for every feature). A feature that writes several hooks (a cross-layer transcoder's
 * outputs, each added to the residual stream) has the sum of its decoder rows as its direction.
 *
 * These stand in as the features' labels when the dictionary has no labels file.
 */
import { topKIndices } from '../analysis/top-k.js';
import { EngineError } from '../errors.js';
import type { MatmulSessions } from '../runtime/matmul-session.js';
import type { FeatureLogitEffects, TokenEffect } from '../../protocol/features.js';
import type { DictionaryLayer } from './dictionary.js';

/** Rows per ONNX Runtime call: [rows, vocab] floats at a time. */
const CHUNK = 32;

/** The features' directions in the residual stream: the sum of each one's decoder rows over its output hooks, [features, d_model]. */
export function featureDirections(layer: DictionaryLayer, features: readonly number[]): Float32Array {
  for (const f of features)
    if (!Number.isInteger(f) || f < 0 || f >= layer.dSae)
      throw new EngineError('BAD_ARGUMENT', `Feature ${f} is outside layer ${layer.layer}'s 0..${layer.dSae - 1}.`);
  const out = new Float32Array(features.length * layer.dOut);
  for (let o = 0; o < layer.outputHooks.length; o++) {
    const rows = layer.decoder(o).rows(features);
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + rows[i]!;
  }
  return out;
}

/**
 * Direct logit effects of `directions` ([n, d_model]) through the unembedding `W_U_T` ([vocab, d_model]
 * rows), with the `k` largest and `k` most negative tokens of each.
 */
export async function logitEffects(
  matmul: MatmulSessions,
  directions: Float32Array,
  n: number,
  unembed: { W_U_T: { data: Float32Array; shape: readonly number[] } },
  k: number,
  tokenText: (id: number) => string,
): Promise<Array<Omit<FeatureLogitEffects, 'feature'>>> {
  const [V, D] = unembed.W_U_T.shape as [number, number];
  if (directions.length !== n * D)
    throw new EngineError('WRONG_SHAPE', `Feature directions of ${directions.length / Math.max(1, n)} values for a model of width ${D}.`);
  const effects: Array<Omit<FeatureLogitEffects, 'feature'>> = [];
  for (let start = 0; start < n; start += CHUNK) {
    const m = Math.min(CHUNK, n - start);
    // [m, d_model] × [vocab, d_model]ᵀ: [m, vocab]
    const logits = await matmul.matmulTransposed(directions.subarray(start * D, (start + m) * D), unembed.W_U_T.data, m, V, D);
    for (let r = 0; r < m; r++) {
      const row = logits.subarray(r * V, (r + 1) * V);
      const entry = (t: number): TokenEffect => ({ tokenId: t, token: tokenText(t), effect: row[t]! });
      const negated = row.map((v) => -v);
      effects.push({ top: topKIndices(row, k).map(entry), bottom: topKIndices(negated, k).map(entry) });
    }
  }
  return effects;
}

/** The direct logit effects of features of one dictionary layer. */
export async function featureLogitEffects(
  matmul: MatmulSessions,
  layer: DictionaryLayer,
  features: readonly number[],
  unembed: { W_U_T: { data: Float32Array; shape: readonly number[] } },
  k: number,
  tokenText: (id: number) => string,
): Promise<FeatureLogitEffects[]> {
  if (features.length === 0) return [];
  const effects = await logitEffects(matmul, featureDirections(layer, features), features.length, unembed, k, tokenText);
  return effects.map((e, i) => ({ feature: features[i]!, ...e }));
}
