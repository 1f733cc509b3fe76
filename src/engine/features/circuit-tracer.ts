/**
 * circuit-tracer's transcoders, loaded from files already on disk (load-dictionary.ts resolves
 * hf:// references and fetches hub files first).
 *
 * A per-layer transcoder file holds W_enc [d_sae, d_model], b_enc [d_sae], b_dec [d_model],
 * W_dec as [d_sae, d_model] or, in the first release's relu files, [d_model, d_sae], an optional
 * W_skip [d_model, d_model] (applied as x · W_skipᵀ), and for JumpReLU `activation_function.threshold`
 * (or `threshold`) [d_sae]; a TopK file may hold `k`.
 *
 * A cross-layer transcoder is n_layers pairs of files: W_enc_{l}.safetensors with W_enc_{l}
 * [d_sae, d_model], b_enc_{l} [d_sae], b_dec_{l} [d_model] (the bias of output layer l) and
 * threshold_{l} [d_sae] for JumpReLU; W_dec_{l}.safetensors with W_dec_{l} [d_sae, n_layers - l, d_model].
 * Output layer m's bias b_dec_m belongs to the reconstruction of layer m once, so here it is the
 * first b_dec entry of source layer m and every other source layer's entry for output m is zeros:
 * summing every layer's decoders and biases into an output gives circuit-tracer's reconstruction.
 */
import { EngineError } from '../errors.js';
import { openSafetensors, type SafetensorsFile } from '../model/safetensors.js';
import type { CircuitTracerConfig } from './circuit-tracer-config.js';
import { SafetensorsDecoderRows, type DecoderLayout } from './decoder-rows.js';
import { PositionedFile } from './positioned-file.js';
import { UNPROCESSED_MODEL, type DictionaryLayer, type FeatureActivationFunction } from './dictionary.js';
import { assertModelWidth, fullHookName, resolveDictionaryHook, type DictionaryModelConfig } from './dictionary-hooks.js';
import type { LoadDictionaryOptions } from './dictionary-options.js';
import type { LoadedLayer } from './saelens.js';
import { assertTensorShape, firstTensor, readCheckedTensor, transpose } from './stored-tensors.js';

const THRESHOLD_NAMES = ['activation_function.threshold', 'threshold'];

function vectorLength(file: SafetensorsFile, name: string, label: string): number {
  const tensor = file.get(name);
  const dims = tensor.shape.filter((d) => d !== 1);
  if (dims.length !== 1 && !(dims.length === 0 && tensor.shape.length > 0)) {
    throw new EngineError('WRONG_SHAPE', `${label}: "${name}" is [${tensor.shape.join(', ')}], not a vector.`);
  }
  return tensor.shape.reduce((a, b) => a * b, 1);
}

/** The integer stored in a scalar tensor (circuit-tracer saves a TopK transcoder's k as one). */
function storedInteger(file: SafetensorsFile, name: string, label: string): number {
  const tensor = file.get(name);
  const bytes = tensor.bytes();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const value =
    tensor.dtype === 'I64' && bytes.byteLength === 8
      ? Number(view.getBigInt64(0, true))
      : tensor.dtype === 'I32' && bytes.byteLength === 4
        ? view.getInt32(0, true)
        : tensor.float32().length === 1
          ? tensor.float32()[0]!
          : NaN;
  if (!Number.isInteger(value) || value < 1) throw new EngineError('BAD_CONFIG', `${label}: "${name}" is not a positive integer.`);
  return value;
}

function activationFor(
  config: Pick<CircuitTracerConfig, 'activation' | 'k'>,
  file: SafetensorsFile,
  thresholdNames: readonly string[],
  dSae: number,
  label: string,
): FeatureActivationFunction {
  const threshold = firstTensor(file, thresholdNames);
  const kind = config.activation ?? (threshold ? 'jump_relu' : file.tensors.has('k') ? 'topk' : 'relu');
  if (kind === 'relu') return { kind: 'relu' };
  if (kind === 'topk') {
    const k = config.k ?? (file.tensors.has('k') ? storedInteger(file, 'k', label) : null);
    if (k === null) throw new EngineError('BAD_CONFIG', `${label}: a TopK transcoder needs k, in its config or as a "k" tensor.`);
    if (k > dSae) throw new EngineError('BAD_CONFIG', `${label}: k = ${k} is more than the ${dSae} features.`);
    return { kind: 'topk', k };
  }
  if (!threshold) {
    throw new EngineError(
      'MISSING_TENSOR',
      `${label} has no JumpReLU threshold (${thresholdNames.join(' or ')}).`,
      'A jump_relu transcoder stores one threshold per feature.',
    );
  }
  return { kind: 'jumprelu', threshold: readCheckedTensor(file, threshold.name, [dSae], label) };
}

/** One per-layer transcoder file for model layer `layer`. */
export function loadTranscoderFile(
  path: string,
  layer: number,
  config: CircuitTracerConfig,
  model: DictionaryModelConfig,
  options: LoadDictionaryOptions,
): LoadedLayer {
  const label = path;
  const file = openSafetensors(path);
  const dSae = vectorLength(file, 'b_enc', label);
  const dModel = vectorLength(file, 'b_dec', label);
  assertModelWidth(dModel, model, 'd_model (the length of b_dec)', label);
  const input = resolveDictionaryHook(fullHookName(config.inputHook, layer), model, `${label} (feature_input_hook)`);
  const output = resolveDictionaryHook(fullHookName(config.outputHook, layer), model, `${label} (feature_output_hook)`);
  const W_enc = transpose(readCheckedTensor(file, 'W_enc', [dSae, dModel], label), dSae, dModel);
  const b_enc = readCheckedTensor(file, 'b_enc', [dSae], label);
  const b_dec = readCheckedTensor(file, 'b_dec', [dModel], label);
  const decoderTensor = file.get('W_dec');
  const [rows, cols] = decoderTensor.shape;
  // [d_model, d_sae] is the first release's layout; a square decoder is told apart by the config's form.
  const columns = decoderTensor.shape.length === 2 && rows === dModel && cols === dSae && (dModel !== dSae || config.transposedDecoders);
  assertTensorShape(decoderTensor, columns ? [dModel, dSae] : [dSae, dModel], label);
  const layout: DecoderLayout = columns ? { kind: 'columns' } : { kind: 'rows', nOut: 1, output: 0 };
  const W_skip = file.tensors.has('W_skip') ? transpose(readCheckedTensor(file, 'W_skip', [dModel, dModel], label), dModel, dModel) : null;
  const activation = activationFor(config, file, THRESHOLD_NAMES, dSae, label);
  const decoder = new SafetensorsDecoderRows(new PositionedFile(path, label), decoderTensor, dSae, dModel, layout, options.decoderCacheRows);
  const loaded: DictionaryLayer = {
    layer,
    inputHook: input.name,
    outputHooks: [output.name],
    dIn: dModel,
    dSae,
    dOut: dModel,
    W_enc,
    b_enc,
    b_dec: [b_dec],
    activation,
    applyBDecToInput: false,
    normalization: { kind: 'none' },
    W_skip,
    // circuit-tracer's ReplacementModel loads its model with fold_ln, center_writing_weights and center_unembed off.
    processing: UNPROCESSED_MODEL,
    decoder: (i) => {
      if (i !== 0) throw new EngineError('BAD_ARGUMENT', `A per-layer transcoder has one decoder (output 0), not output ${i}.`);
      return decoder;
    },
  };
  return { layer: loaded, modelName: config.modelName, close: () => decoder.close() };
}

export interface CltLayerFiles {
  encoder: string;
  decoder: string;
}

/** A cross-layer transcoder from its per-layer encoder and decoder files (index = source layer). */
export function loadCrossLayerTranscoder(
  files: readonly CltLayerFiles[],
  config: CircuitTracerConfig,
  model: DictionaryModelConfig,
  options: LoadDictionaryOptions,
): LoadedLayer[] {
  const nLayers = files.length;
  if (nLayers !== model.nLayers) {
    throw new EngineError(
      'WRONG_SHAPE',
      `The cross-layer transcoder has ${nLayers} layers (W_enc_0..W_enc_${nLayers - 1}) but the model has ${model.nLayers}.`,
      'Load the dictionary with the model it was trained on.',
    );
  }
  const loaded: LoadedLayer[] = [];
  try {
    let dSae = -1;
    for (let l = 0; l < nLayers; l++) {
      const { encoder: encPath, decoder: decPath } = files[l]!;
      const enc = openSafetensors(encPath);
      const layerSae = vectorLength(enc, `b_enc_${l}`, encPath);
      if (dSae >= 0 && layerSae !== dSae) throw new EngineError('WRONG_SHAPE', `${encPath}: b_enc_${l} has ${layerSae} features but layer 0 has ${dSae}.`);
      dSae = layerSae;
      const dModel = vectorLength(enc, `b_dec_${l}`, encPath);
      assertModelWidth(dModel, model, `d_model (the length of b_dec_${l})`, encPath);
      const input = resolveDictionaryHook(fullHookName(config.inputHook, l), model, `${encPath} (feature_input_hook)`);
      const outputs = Array.from(
        { length: nLayers - l },
        (_, j) => resolveDictionaryHook(fullHookName(config.outputHook, l + j), model, `${encPath} (feature_output_hook)`).name,
      );
      const W_enc = transpose(readCheckedTensor(enc, `W_enc_${l}`, [dSae, dModel], encPath), dSae, dModel);
      const b_enc = readCheckedTensor(enc, `b_enc_${l}`, [dSae], encPath);
      const ownBias = readCheckedTensor(enc, `b_dec_${l}`, [dModel], encPath);
      const activation = activationFor(config, enc, [`threshold_${l}`], dSae, encPath);
      const dec = openSafetensors(decPath);
      const decoderTensor = dec.get(`W_dec_${l}`);
      assertTensorShape(decoderTensor, [dSae, nLayers - l, dModel], decPath);
      // One open file for the n_layers − l decoders it holds.
      const decoderFile = new PositionedFile(decPath);
      const decoders = outputs.map(
        (_, j) =>
          new SafetensorsDecoderRows(decoderFile, decoderTensor, dSae, dModel, { kind: 'rows', nOut: nLayers - l, output: j }, options.decoderCacheRows),
      );
      const layer: DictionaryLayer = {
        layer: l,
        inputHook: input.name,
        outputHooks: outputs,
        dIn: dModel,
        dSae,
        dOut: dModel,
        W_enc,
        b_enc,
        b_dec: outputs.map((_, j) => (j === 0 ? ownBias : new Float32Array(dModel))),
        activation,
        applyBDecToInput: false,
        normalization: { kind: 'none' },
        W_skip: null,
        processing: UNPROCESSED_MODEL,
        decoder: (i) => {
          const d = decoders[i];
          if (!d) throw new EngineError('BAD_ARGUMENT', `Layer ${l} of the cross-layer transcoder has decoders 0..${decoders.length - 1}, not ${i}.`);
          return d;
        },
      };
      loaded.push({ layer, modelName: config.modelName, close: () => decoders.forEach((d) => d.close()) });
    }
  } catch (error) {
    for (const l of loaded) l.close();
    throw error;
  }
  return loaded;
}
