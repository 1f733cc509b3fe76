/**
 * Seeded random dictionaries (SAEs, per-layer and cross-layer transcoders) for the random models and
 * the organism: the same seed gives the same weights. random-dictionary-writer.ts writes them in
 * each format's own layout.
 *
 * Weights, per dictionary layer l (shapes as the Dictionary interface holds them):
 * - W_enc [d_in, d_sae]: column f is a random unit direction u_f;
 * - decoder rows [d_sae, d_out] per output: random unit directions (SAELens's unit-norm decoder rows);
 * - b_dec [d_out]: N(0, 0.01²); a skip transcoder's W_skip [d_in, d_out]: N(0, (0.1 / √d_in)²).
 *
 * Sparsity: feature f fires (relu, topk) where u_f · x > q_f, q_f the (1 − rate) quantile of u_f · x
 * over a sample of the hook's activations on the model (b_enc_f = −q_f). JumpReLU gets
 * b_enc_f = −q_f + δ_f and threshold δ_f = 0.1 σ_f (σ_f the spread of u_f · x), which fires at the
 * same inputs. Without a sample, x is taken to be N(0, 1) per coordinate. A rate of 4% keeps
 * the active features within the 1–10% of the width wanted for the random models' prompts.
 */
import { EngineError } from '../errors.js';
import { seededNormalTensor } from '../model/random-gpt2.js';

export const RANDOM_DICTIONARY_FORMATS = ['saelens', 'transcoder', 'clt', 'gemma-scope-npz'] as const;
export type RandomDictionaryFormat = (typeof RANDOM_DICTIONARY_FORMATS)[number];
export type RandomActivation = 'relu' | 'topk' | 'jumprelu';

/** The fraction of sampled positions at which each feature fires. */
export const DEFAULT_FIRING_RATE = 0.04;

export interface RandomDictionarySpec {
  format: RandomDictionaryFormat;
  /** Model layers with a dictionary (a cross-layer transcoder has every layer). */
  layers: readonly number[];
  /** d_sae */
  width: number;
  activation: RandomActivation;
  /** TopK's k (default: rate × width, at least 1). */
  k?: number;
  seed: number;
  /** A W_skip for each per-layer transcoder. */
  skip?: boolean;
  firingRate?: number;
}

export interface RandomDictionaryLayer {
  layer: number;
  /** [d_in, d_sae] */
  W_enc: Float32Array;
  /** [d_sae] */
  b_enc: Float32Array;
  /** Per output (one, or n_layers − layer for a cross-layer transcoder): [d_sae, d_out]. */
  W_dec: Float32Array[];
  /** Per output: [d_out]. A cross-layer transcoder's b_dec of output layer m is that of source layer m, zeros elsewhere. */
  b_dec: Float32Array[];
  /** JumpReLU's [d_sae], else null. */
  threshold: Float32Array | null;
  /** [d_in, d_out] or null. */
  W_skip: Float32Array | null;
}

export interface RandomDictionary {
  spec: Omit<RandomDictionarySpec, 'k'> & { k: number | null };
  dModel: number;
  layers: RandomDictionaryLayer[];
}

/** Samples of each dictionary layer's input hook, [n, d_model] row-major, by layer. */
export type HookSamples = ReadonlyMap<number, Float32Array>;

function unitRows(seed: number, name: string, rows: number, cols: number): Float32Array {
  const data = seededNormalTensor(seed, name, [rows, cols], 0, 1).data as Float32Array;
  for (let r = 0; r < rows; r++) {
    let norm = 0;
    for (let c = 0; c < cols; c++) norm += data[r * cols + c]! ** 2;
    const inv = 1 / Math.sqrt(norm || 1);
    for (let c = 0; c < cols; c++) data[r * cols + c]! *= inv;
  }
  return data;
}

/** The value below which a fraction `p` of `values` lie (sorted copy, linear interpolation). */
function quantile(values: Float64Array, p: number): number {
  const sorted = Float64Array.from(values).sort();
  const at = p * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** Per feature: the (1 − rate) quantile of u_f · x over the samples, and the spread of u_f · x. */
function projections(
  W_enc: Float32Array,
  dModel: number,
  dSae: number,
  samples: Float32Array | undefined,
  rate: number,
): { q: Float64Array; spread: Float64Array } {
  const q = new Float64Array(dSae);
  const spread = new Float64Array(dSae);
  if (!samples || samples.length === 0) {
    // u_f · x ~ N(0, 1) for x ~ N(0, I) and a unit u_f: the normal quantile.
    const z = normalQuantile(1 - rate);
    q.fill(z);
    spread.fill(1);
    return { q, spread };
  }
  const n = samples.length / dModel;
  // dots [n, d_sae] = samples [n, d_model] · W_enc [d_model, d_sae], the inner loop running along a row of each.
  const dots = new Float64Array(n * dSae);
  for (let i = 0; i < n; i++) {
    const out = dots.subarray(i * dSae, (i + 1) * dSae);
    const x = samples.subarray(i * dModel, (i + 1) * dModel);
    let c = 0;
    // Four encoder rows per pass over out: a quarter of the loads and stores of out.
    for (; c + 4 <= dModel; c += 4) {
      const [x0, x1, x2, x3] = [x[c]!, x[c + 1]!, x[c + 2]!, x[c + 3]!];
      const b0 = c * dSae;
      for (let f = 0; f < dSae; f++)
        out[f] = out[f]! + x0 * W_enc[b0 + f]! + x1 * W_enc[b0 + dSae + f]! + x2 * W_enc[b0 + 2 * dSae + f]! + x3 * W_enc[b0 + 3 * dSae + f]!;
    }
    for (; c < dModel; c++) for (let f = 0; f < dSae; f++) out[f] = out[f]! + x[c]! * W_enc[c * dSae + f]!;
  }
  const column = new Float64Array(n);
  for (let f = 0; f < dSae; f++) {
    let mean = 0;
    for (let i = 0; i < n; i++) {
      column[i] = dots[i * dSae + f]!;
      mean += column[i]!;
    }
    mean /= n;
    let variance = 0;
    for (let i = 0; i < n; i++) variance += (column[i]! - mean) ** 2;
    q[f] = quantile(column, 1 - rate);
    spread[f] = Math.sqrt(variance / n) || 1;
  }
  return { q, spread };
}

/** The standard normal's quantile function (Acklam's rational approximation, relative error below 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155211399];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (x: number): number =>
    (((((c[0]! * x + c[1]!) * x + c[2]!) * x + c[3]!) * x + c[4]!) * x + c[5]!) / ((((d[0]! * x + d[1]!) * x + d[2]!) * x + d[3]!) * x + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const r = p - 0.5;
  const s = r * r;
  return (
    ((((((a[0]! * s + a[1]!) * s + a[2]!) * s + a[3]!) * s + a[4]!) * s + a[5]!) * r) / (((((b[0]! * s + b[1]!) * s + b[2]!) * s + b[3]!) * s + b[4]!) * s + 1)
  );
}

/**
 * A random dictionary of `spec` for a model of `nLayers` layers and width `dModel`, calibrated on
 * `samples` of each layer's input hook when given.
 */
export function generateRandomDictionary(spec: RandomDictionarySpec, model: { nLayers: number; dModel: number }, samples?: HookSamples): RandomDictionary {
  const { width: dSae, seed } = spec;
  const dModel = model.dModel;
  if (!Number.isSafeInteger(dSae) || dSae < 1) throw new EngineError('BAD_ARGUMENT', `The dictionary width must be a positive integer (got ${dSae}).`);
  const layers = spec.format === 'clt' ? Array.from({ length: model.nLayers }, (_, l) => l) : [...new Set(spec.layers)].sort((a, b) => a - b);
  if (spec.format === 'clt' && spec.layers.length > 0 && (spec.layers.length !== model.nLayers || spec.layers.some((l, i) => l !== i))) {
    throw new EngineError('BAD_ARGUMENT', `A cross-layer transcoder covers every layer (0–${model.nLayers - 1}); leave --layers out or list them all.`);
  }
  if (layers.length === 0) throw new EngineError('BAD_ARGUMENT', 'Give at least one layer for the dictionary.');
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 0 || l >= model.nLayers)
      throw new EngineError('BAD_ARGUMENT', `Layer ${l} does not exist: the model has ${model.nLayers} layers.`);
  }
  const rate = spec.firingRate ?? DEFAULT_FIRING_RATE;
  const k = spec.activation === 'topk' ? (spec.k ?? Math.max(1, Math.round(rate * dSae))) : null;
  if (k !== null && (!Number.isInteger(k) || k < 1 || k > dSae)) throw new EngineError('BAD_ARGUMENT', `k must be between 1 and the width ${dSae} (got ${k}).`);
  const out: RandomDictionaryLayer[] = layers.map((layer) => {
    const W_enc = unitRows(seed, `layer${layer}.W_enc`, dSae, dModel);
    // unitRows gives [d_sae, d_model]; the interface's W_enc is [d_model, d_sae].
    const encoder = new Float32Array(dModel * dSae);
    for (let f = 0; f < dSae; f++) for (let c = 0; c < dModel; c++) encoder[c * dSae + f] = W_enc[f * dModel + c]!;
    const { q, spread } = projections(encoder, dModel, dSae, samples?.get(layer), rate);
    const b_enc = new Float32Array(dSae);
    let threshold: Float32Array | null = null;
    if (spec.activation === 'jumprelu') {
      threshold = new Float32Array(dSae);
      for (let f = 0; f < dSae; f++) {
        threshold[f] = 0.1 * spread[f]!;
        b_enc[f] = -q[f]! + threshold[f]!;
      }
    } else {
      for (let f = 0; f < dSae; f++) b_enc[f] = -q[f]!;
    }
    const nOut = spec.format === 'clt' ? model.nLayers - layer : 1;
    const W_dec = Array.from({ length: nOut }, (_, j) => unitRows(seed, `layer${layer}.W_dec.${j}`, dSae, dModel));
    const b_dec = Array.from({ length: nOut }, (_, j) =>
      j === 0 ? (seededNormalTensor(seed, `layer${layer}.b_dec`, [dModel], 0, 0.01).data as Float32Array) : new Float32Array(dModel),
    );
    const W_skip =
      spec.skip && spec.format === 'transcoder'
        ? (seededNormalTensor(seed, `layer${layer}.W_skip`, [dModel, dModel], 0, 0.1 / Math.sqrt(dModel)).data as Float32Array)
        : null;
    return { layer, W_enc: encoder, b_enc, W_dec, b_dec, threshold, W_skip };
  });
  return { spec: { ...spec, layers, k }, dModel, layers: out };
}
