/**
 * How the logit lens turns residual-stream vectors into logits: ln_final (LayerNorm, or RMSNorm
 * for the Llama family and Gemma) with its statistics recomputed from each vector, then W_U + b_U,
 * then the model's final logit soft-cap if it has one (Gemma 2), as its own final block applies it,
 * so the last depth's probabilities are the model's. Two implementations of the same map:
 *
 * - `jsLensUnembed`: float64 JavaScript (applyModelNorm + unembed). Exact but slow for a real
 *   vocabulary (~40 M multiply-adds per vector for GPT-2 small: tens of ms each).
 * - `runnerLensUnembed`: the model's own final block on its runtime, by an intervention that
 *   starts at layer n_layers from the given vectors, so that only ln_final and the unembedding run.
 *   That block is position-wise, so vectors from different depths and positions can be stacked as
 *   the "positions" of one run (at most n_ctx per run; more are split into several runs). Dummy
 *   token ids (0) stand in for the prompt because no embedding is computed.
 */
import { EngineError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import type { AnalysisWeights } from '../model/weights.js';
import type { ForwardRunner } from '../runtime/types.js';
import { tensor } from '../tensor.js';
import { applyModelNorm } from './model-norm.js';
import { unembed } from './unembed.js';

/** Logits [vocab] of each of the `count` vectors in `rows` ([count, d_model], row-major). */
export type LensUnembed = (rows: Float32Array, count: number, signal?: AbortSignal) => Promise<ArrayLike<number>[]>;

export function jsLensUnembed(config: ModelConfig, weights: AnalysisWeights): LensUnembed {
  const { dModel } = config;
  return async (rows, count) => {
    const normalised: Float64Array[] = [];
    for (let i = 0; i < count; i++) normalised.push(applyModelNorm(rows.subarray(i * dModel, (i + 1) * dModel), weights.ln_final, config));
    const logits = unembed(normalised, weights);
    const cap = config.finalSoftcap ?? null;
    if (cap !== null) for (const row of logits) for (let t = 0; t < row.length; t++) row[t] = cap * Math.tanh(row[t]! / cap);
    return logits;
  };
}

export function runnerLensUnembed(runner: Pick<ForwardRunner, 'config' | 'intervene'>): LensUnembed {
  const { dModel, nLayers, nCtx, dVocab } = runner.config;
  return async (rows, count, signal) => {
    const out: Float32Array[] = [];
    for (let start = 0; start < count; start += nCtx) {
      const m = Math.min(nCtx, count - start);
      const [result] = await runner.intervene({
        ids: new Array<number>(m).fill(0),
        variants: [{ startLayer: nLayers, startResid: tensor(rows.subarray(start * dModel, (start + m) * dModel), [m, dModel]) }],
        hooks: ['logits'],
        ...(signal ? { signal } : {}),
      });
      const logits = result?.cache.get('logits');
      if (!logits || logits.data.length !== m * dVocab) throw new EngineError('INTERNAL', 'The lens unembedding did not return logits for every vector.');
      for (let i = 0; i < m; i++) out.push(logits.data.subarray(i * dVocab, (i + 1) * dVocab));
    }
    return out;
  };
}
