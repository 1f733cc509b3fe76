/**
 * A dictionary's reconstruction of the hooks it writes, from its layers' encodings:
 *
 *   recon(H) = Σ_l (act_l · W_dec[l → H]) / c_l  +  (b_dec of H) / c  +  x · W_skip
 *
 * summed over the dictionary layers l that write hook H (one for SAEs and transcoders; every
 * earlier feature layer of a cross-layer transcoder), c_l the normalisation factor of layer l's
 * input (SAELens divides the decoder's output by it). H's bias b_dec (and the skip path, applied
 * to the raw input as circuit-tracer does) belong to the layer whose first output H is: a
 * cross-layer transcoder holds one bias per output layer, not one per pair of layers.
 *
 * Only the rows of active features are read from the (lazily loaded) decoders.
 */
import { EngineError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { DecoderRows, DictionaryLayer } from './dictionary.js';
import type { LayerEncoding } from './encode.js';

/** A dictionary layer with its encoding of one prompt and the raw input it read, [pos, d_in]. */
export interface EncodedLayer {
  layer: DictionaryLayer;
  encoding: LayerEncoding;
  input: Tensor;
}

/** One weighted decoder row to add: feature `feature`'s row times `weight`, at `position`. */
export interface FeatureWrite {
  position: number;
  feature: number;
  weight: number;
}

/** Adds Σ weight · W_dec[feature] at each write's position to `target` ([pos, d_out], float64), reading each row once. */
export function addDecoderRows(target: Float64Array, decoder: DecoderRows, writes: readonly FeatureWrite[]): void {
  const D = decoder.dOut;
  const features = [...new Set(writes.filter((w) => w.weight !== 0).map((w) => w.feature))].sort((a, b) => a - b);
  if (features.length === 0) return;
  for (const f of features)
    if (!Number.isInteger(f) || f < 0 || f >= decoder.dSae)
      throw new EngineError('BAD_ARGUMENT', `Feature ${f} is outside the dictionary's 0..${decoder.dSae - 1}.`);
  const rows = decoder.rows(features); // [features, d_out]
  const rowOf = new Map(features.map((f, i) => [f, i]));
  for (const w of writes) {
    if (w.weight === 0) continue;
    const r = rowOf.get(w.feature)! * D;
    const t = w.position * D;
    for (let i = 0; i < D; i++) target[t + i] = target[t + i]! + w.weight * rows[r + i]!;
  }
}

/** The active features of an encoding as writes with weight act / c (the normalisation undone). */
function activeWrites(encoding: LayerEncoding): FeatureWrite[] {
  const { positions: P, dSae: F, acts, inputScale } = encoding;
  const writes: FeatureWrite[] = [];
  for (let p = 0; p < P; p++)
    for (let f = 0; f < F; f++) {
      const a = acts[p * F + f]!;
      if (a !== 0) writes.push({ position: p, feature: f, weight: a / inputScale[p]! });
    }
  return writes;
}

/** The reconstruction of hook `hook` ([pos, d_out], float64) from every encoded layer that writes it; null when none does. */
export function reconstructHook(hook: string, encoded: readonly EncodedLayer[]): Float64Array | null {
  const writers = encoded.filter((e) => e.layer.outputHooks.includes(hook as never));
  if (writers.length === 0) return null;
  const P = writers[0]!.encoding.positions;
  const D = writers[0]!.layer.dOut;
  const out = new Float64Array(P * D);
  for (const { layer, encoding, input } of writers) {
    const o = layer.outputHooks.indexOf(hook as never);
    addDecoderRows(out, layer.decoder(o), activeWrites(encoding));
    if (o !== 0) continue;
    const bias = layer.b_dec[0]!;
    for (let p = 0; p < P; p++) {
      const c = encoding.inputScale[p]!;
      for (let i = 0; i < D; i++) out[p * D + i] = out[p * D + i]! + bias[i]! / c;
    }
    const skip = layer.W_skip; // [d_in, d_out]
    if (!skip) continue;
    const dIn = layer.dIn;
    for (let p = 0; p < P; p++)
      for (let k = 0; k < dIn; k++) {
        const x = input.data[p * dIn + k]!;
        if (x === 0) continue;
        for (let i = 0; i < D; i++) out[p * D + i] = out[p * D + i]! + x * skip[k * D + i]!;
      }
  }
  return out;
}

/** Per position: ‖true − recon‖ and ‖true‖ over rows of width `d`. */
export function reconstructionErrors(
  truth: ArrayLike<number>,
  recon: ArrayLike<number>,
  positions: number,
  d: number,
): { error: Float32Array; norm: Float32Array } {
  const error = new Float32Array(positions);
  const norm = new Float32Array(positions);
  for (let p = 0; p < positions; p++) {
    let e = 0,
      n = 0;
    for (let i = 0; i < d; i++) {
      const t = truth[p * d + i]!;
      e += (t - recon[p * d + i]!) ** 2;
      n += t * t;
    }
    error[p] = Math.sqrt(e);
    norm[p] = Math.sqrt(n);
  }
  return { error, norm };
}
