/**
 * A dictionary layer's feature activations at every position, as SAELens and circuit-tracer define
 * them:
 *
 *   x' = normalise(x)                     (SAELens's normalize_activations; see InputNormalization)
 *   x' = x' − b_dec                       when applyBDecToInput
 *   pre = x' · W_enc + b_enc              [pos, d_sae]
 *   act = ReLU(pre) | TopK(pre) | pre · [pre > threshold]
 *
 * TopK keeps the k largest pre-activations of a position and passes them through a ReLU (SAELens's
 * TopK), the rest 0. The product [pos, d_in] × [d_in, d_sae] (d_sae up to some 131k) runs on ONNX
 * Runtime (runtime/matmul-session.ts); the rest is one pass over [pos, d_sae].
 */
import { topKIndices } from '../analysis/top-k.js';
import { EngineError } from '../errors.js';
import type { MatmulSessions } from '../runtime/matmul-session.js';
import type { Tensor } from '../tensor.js';
import type { DictionaryLayer, FeatureActivationFunction, InputNormalization } from './dictionary.js';

export interface LayerEncoding {
  positions: number;
  dSae: number;
  /** The encoder's pre-activations x' · W_enc + b_enc, [pos, d_sae]. */
  pre: Float32Array;
  /** The feature activations, [pos, d_sae]. */
  acts: Float32Array;
  /**
   * What each position's input was multiplied by before encoding ([pos]; 1 without normalisation):
   * the reconstruction is divided by it (SAELens's run_time_activation_norm_fn_out).
   */
  inputScale: Float64Array;
}

/** The encoder's input of one layer: x normalised and, with applyBDecToInput, b_dec subtracted ([pos, d_in]), and the per-position scale used. */
export interface EncoderInput {
  /** [pos, d_in] */
  input: Float32Array;
  /** [pos] */
  inputScale: Float64Array;
}

/** Per position, the factor normalisation multiplies the input by: `inputScale`, sqrt(d_in) / ‖x‖, or 1. */
export function normalizationScales(x: Float32Array, positions: number, dIn: number, normalization: InputNormalization): Float64Array {
  const scales = new Float64Array(positions).fill(1);
  if (normalization.kind === 'expected_average_only_in') scales.fill(normalization.inputScale);
  else if (normalization.kind === 'constant_norm_rescale') {
    for (let p = 0; p < positions; p++) {
      let sum = 0;
      for (let i = 0; i < dIn; i++) sum += x[p * dIn + i]! ** 2;
      // A zero input stays zero whatever it is scaled by.
      scales[p] = sum > 0 ? Math.sqrt(dIn) / Math.sqrt(sum) : 1;
    }
  }
  return scales;
}

/** Checks that `x` is [pos, d_in] for `layer`. */
function checkInput(layer: DictionaryLayer, x: Tensor): number {
  if (x.shape.length !== 2 || x.shape[1] !== layer.dIn)
    throw new EngineError(
      'WRONG_SHAPE',
      `The dictionary layer ${layer.layer} reads ${layer.inputHook} as [pos, ${layer.dIn}], but got [${x.shape.join(', ')}].`,
      'The dictionary was made for a model of another width.',
    );
  return x.shape[0]!;
}

/** Normalisation, then b_dec subtracted when applyBDecToInput: what W_enc multiplies. */
export function encoderInput(layer: DictionaryLayer, x: Tensor): EncoderInput {
  const P = checkInput(layer, x);
  const D = layer.dIn;
  const inputScale = normalizationScales(x.data, P, D, layer.normalization);
  const bDec = layer.applyBDecToInput ? layer.b_dec[0]! : null;
  if (bDec && bDec.length !== D)
    throw new EngineError('WRONG_SHAPE', `apply_b_dec_to_input needs b_dec of ${D} (the input's width), but it has ${bDec.length} values.`);
  const input = new Float32Array(P * D);
  for (let p = 0; p < P; p++) {
    const s = inputScale[p]!;
    for (let i = 0; i < D; i++) input[p * D + i] = x.data[p * D + i]! * s - (bDec ? bDec[i]! : 0);
  }
  return { input, inputScale };
}

/** The activation function over pre-activations [pos, d_sae], into a new array. */
export function applyFeatureActivation(pre: Float32Array, positions: number, dSae: number, activation: FeatureActivationFunction): Float32Array {
  const acts = new Float32Array(positions * dSae);
  if (activation.kind === 'relu') {
    for (let i = 0; i < acts.length; i++) acts[i] = pre[i]! > 0 ? pre[i]! : 0;
  } else if (activation.kind === 'jumprelu') {
    const t = activation.threshold;
    if (t.length !== dSae) throw new EngineError('WRONG_SHAPE', `JumpReLU thresholds have ${t.length} values for ${dSae} features.`);
    for (let p = 0; p < positions; p++)
      for (let f = 0; f < dSae; f++) {
        const v = pre[p * dSae + f]!;
        acts[p * dSae + f] = v > t[f]! ? v : 0;
      }
  } else {
    const k = activation.k;
    if (!Number.isInteger(k) || k < 1) throw new EngineError('BAD_CONFIG', `TopK needs k of at least 1 (got ${k}).`);
    for (let p = 0; p < positions; p++) {
      const row = pre.subarray(p * dSae, (p + 1) * dSae);
      for (const f of topKIndices(row, k)) if (row[f]! > 0) acts[p * dSae + f] = row[f]!;
    }
  }
  return acts;
}

/** Encodes `x` ([pos, d_in], the layer's input hook) with `layer`: pre-activations and activations. */
export async function encodeLayer(matmul: MatmulSessions, layer: DictionaryLayer, x: Tensor): Promise<LayerEncoding> {
  const { input, inputScale } = encoderInput(layer, x);
  const P = inputScale.length;
  const { dIn, dSae } = layer;
  if (layer.W_enc.length !== dIn * dSae || layer.b_enc.length !== dSae)
    throw new EngineError('WRONG_SHAPE', `The dictionary layer ${layer.layer}'s encoder is not [${dIn}, ${dSae}] with a bias of ${dSae}.`);
  if (P === 0) return { positions: 0, dSae, pre: new Float32Array(0), acts: new Float32Array(0), inputScale };
  // [1, pos, d_in] × [1, d_in, d_sae]
  const pre = await matmul.batchedMatmul(input, layer.W_enc, 1, P, dIn, dSae);
  for (let p = 0; p < P; p++) for (let f = 0; f < dSae; f++) pre[p * dSae + f] = pre[p * dSae + f]! + layer.b_enc[f]!;
  return { positions: P, dSae, pre, acts: applyFeatureActivation(pre, P, dSae, layer.activation), inputScale };
}
