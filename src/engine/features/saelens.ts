/**
 * SAELens's format: a folder with `cfg.json` and `sae_weights.safetensors` holding W_enc [d_in, d_sae],
 * b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in] and, for JumpReLU, threshold [d_sae].
 *
 * cfg.json keys read (both SAELens 6's and the earlier names): d_in, d_sae, hook_name (or
 * hook_point, or metadata.hook_name), hook_layer, hook_head_index, architecture (standard, topk,
 * jumprelu; gated is refused), activation_fn_str / activation_fn with activation_fn_kwargs.k (or k),
 * apply_b_dec_to_input, normalize_activations (none, expected_average_only_in with
 * norm_scaling_factor, constant_norm_rescale), finetuning_scaling_factor, model_name.
 *
 * SAELens's transcoders (architecture transcoder, skip_transcoder, jumprelu_transcoder) are read
 * too: hook_name_out and d_out name the decoder's hook, W_dec is [d_sae, d_out], b_dec [d_out], a
 * skip transcoder's W_skip [d_out, d_in] is added as x · W_skipᵀ, and the input is encoded raw.
 *
 * SAELens trains on a TransformerLens HookedTransformer loaded with
 * `from_pretrained(model_name, **model_from_pretrained_kwargs)`, so the hooks hold the processed
 * model's values: TransformerLens's defaults are fold_ln and center_writing_weights on, and
 * cfg.json's model_from_pretrained_kwargs (top level or in metadata) overrides them. Later SAELens
 * versions write {"center_writing_weights": false} there; older releases (e.g. jbloom's GPT-2 small
 * residual SAEs) have none, so their model was centred. A model_class_name other than
 * HookedTransformer (AutoModelForCausalLM) is the unprocessed Hugging Face model.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from '../errors.js';
import { openSafetensors } from '../model/safetensors.js';
import { SafetensorsDecoderRows } from './decoder-rows.js';
import { PositionedFile } from './positioned-file.js';
import { UNPROCESSED_MODEL, type DictionaryLayer, type FeatureActivationFunction, type InputNormalization, type ModelProcessing } from './dictionary.js';
import { assertModelWidth, resolveDictionaryHook, type DictionaryModelConfig } from './dictionary-hooks.js';
import type { LoadDictionaryOptions } from './dictionary-options.js';
import { isObject, optionalBoolean, optionalNumber, optionalString, parseJsonObject, positiveInt, type ConfigObject } from './json-fields.js';
import { assertTensorShape, readCheckedTensor, transpose } from './stored-tensors.js';

export const SAELENS_CONFIG = 'cfg.json';
export const SAELENS_WEIGHTS = 'sae_weights.safetensors';

export interface LoadedLayer {
  layer: DictionaryLayer;
  modelName: string | null;
  /** A SAELens transcoder (its dictionary's kind is then 'transcoder'). */
  transcoder?: boolean;
  /** Closes the layer's decoder files. */
  close(): void;
}

/** A key of cfg.json, or of its `metadata` object (where SAELens 6 moved model_name and hook_name). */
function field(cfg: ConfigObject, key: string): unknown {
  if (cfg[key] !== undefined) return cfg[key];
  const metadata = cfg['metadata'];
  return isObject(metadata) ? metadata[key] : undefined;
}

/** SAELens's transcoder architectures (sae_lens/saes/transcoder.py): encoder on hook_name, decoder to hook_name_out. */
const TRANSCODER_ARCHITECTURES: Readonly<Record<string, 'relu' | 'jumprelu'>> = {
  transcoder: 'relu',
  skip_transcoder: 'relu',
  jumprelu_transcoder: 'jumprelu',
};

function activationOf(cfg: ConfigObject, label: string): 'relu' | 'topk' | 'jumprelu' {
  const architecture = optionalString(cfg, 'architecture', label) ?? 'standard';
  if (architecture === 'gated') {
    throw new EngineError(
      'UNSUPPORTED_ARCHITECTURE',
      `${label}: the SAE's architecture is "gated", which Circuit Trace does not support.`,
      'Use a standard (ReLU), TopK or JumpReLU SAE.',
    );
  }
  const transcoder = TRANSCODER_ARCHITECTURES[architecture];
  if (transcoder) return transcoder;
  if (architecture === 'jumprelu') return 'jumprelu';
  if (architecture === 'topk') return 'topk';
  if (architecture !== 'standard') {
    throw new EngineError(
      'UNSUPPORTED_ARCHITECTURE',
      `${label}: the SAE's architecture is "${architecture}", which Circuit Trace does not support.`,
      'Use a standard (ReLU), TopK or JumpReLU SAE, or a SAELens transcoder.',
    );
  }
  const fn = optionalString(cfg, 'activation_fn_str', label) ?? optionalString(cfg, 'activation_fn', label) ?? 'relu';
  if (fn === 'relu') return 'relu';
  if (fn === 'topk') return 'topk';
  throw new EngineError(
    'UNSUPPORTED_ARCHITECTURE',
    `${label}: the SAE's activation function is "${fn}", which Circuit Trace does not support.`,
    'Use relu, topk or jumprelu.',
  );
}

function topK(cfg: ConfigObject, dSae: number, label: string): number {
  const kwargs = cfg['activation_fn_kwargs'];
  const k = isObject(kwargs) && kwargs['k'] !== undefined ? kwargs['k'] : cfg['k'];
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > dSae) {
    throw new EngineError('BAD_CONFIG', `${label}: a TopK SAE needs k (activation_fn_kwargs.k or k) between 1 and d_sae = ${dSae} (got ${JSON.stringify(k)}).`);
  }
  return k;
}

function normalizationOf(cfg: ConfigObject, options: LoadDictionaryOptions, label: string): InputNormalization {
  const raw = cfg['normalize_activations'];
  const kind = raw === undefined || raw === null || raw === false ? 'none' : raw === true ? 'expected_average_only_in' : raw;
  if (kind === 'none') return { kind: 'none' };
  if (kind === 'constant_norm_rescale') return { kind: 'constant_norm_rescale' };
  if (kind === 'expected_average_only_in') {
    const scale = options.normScalingFactor ?? optionalNumber(cfg, 'norm_scaling_factor', label);
    if (scale === null || !(scale > 0)) {
      throw new EngineError(
        'BAD_CONFIG',
        `${label}: normalize_activations is "expected_average_only_in" but no norm scaling factor is given.`,
        'Add "norm_scaling_factor" to cfg.json (SAELens keeps it in its release list), or pass normScalingFactor.',
      );
    }
    return { kind: 'expected_average_only_in', inputScale: scale };
  }
  throw new EngineError(
    'BAD_CONFIG',
    `${label}: normalize_activations "${String(kind)}" is not supported.`,
    'Supported: none, expected_average_only_in, constant_norm_rescale.',
  );
}

/**
 * The processing of the model the SAE was trained on: TransformerLens's defaults, overridden by
 * model_from_pretrained_kwargs; none for SAELens's other model classes (model_class_name
 * AutoModelForCausalLM loads the Hugging Face model itself).
 */
function processingOf(cfg: ConfigObject, label: string): ModelProcessing {
  const modelClass = field(cfg, 'model_class_name');
  if (typeof modelClass === 'string' && modelClass !== 'HookedTransformer' && modelClass !== 'HookedSAETransformer') return UNPROCESSED_MODEL;
  const kwargs = field(cfg, 'model_from_pretrained_kwargs');
  if (kwargs !== undefined && kwargs !== null && !isObject(kwargs))
    throw new EngineError('BAD_CONFIG', `${label}: model_from_pretrained_kwargs is ${JSON.stringify(kwargs)}, not an object.`);
  const flags = isObject(kwargs) ? kwargs : {};
  return {
    centerWritingWeights: optionalBoolean(flags, 'center_writing_weights', true, `${label} (model_from_pretrained_kwargs)`),
    foldLn: optionalBoolean(flags, 'fold_ln', true, `${label} (model_from_pretrained_kwargs)`),
  };
}

/** Loads the SAE in `folder` (cfg.json + sae_weights.safetensors) for a model of shape `model`. */
export function loadSaelensFolder(folder: string, model: DictionaryModelConfig, options: LoadDictionaryOptions): LoadedLayer {
  const cfgPath = join(folder, SAELENS_CONFIG);
  const cfg = parseJsonObject(readFileSync(cfgPath, 'utf8'), cfgPath);
  const label = cfgPath;
  const dIn = positiveInt(cfg, 'd_in', label);
  const dSae = positiveInt(cfg, 'd_sae', label);
  const hookName = field(cfg, 'hook_name') ?? field(cfg, 'hook_point');
  if (typeof hookName !== 'string') throw new EngineError('BAD_CONFIG', `${label} has no "hook_name".`);
  if (field(cfg, 'hook_head_index') !== undefined && field(cfg, 'hook_head_index') !== null) {
    throw new EngineError('BAD_CONFIG', `${label}: SAEs of one attention head (hook_head_index) are not supported.`);
  }
  if (optionalBoolean(cfg, 'finetuning_scaling_factor', false, label)) {
    throw new EngineError(
      'BAD_CONFIG',
      `${label}: SAEs with a finetuning scaling factor are not supported.`,
      'Fold the scaling factor into W_dec before loading.',
    );
  }
  if (optionalBoolean(cfg, 'rescale_acts_by_decoder_norm', false, label)) {
    throw new EngineError(
      'BAD_CONFIG',
      `${label}: TopK SAEs that rescale activations by decoder norms are not supported.`,
      'Fold the decoder norms into W_enc and W_dec before loading.',
    );
  }
  const kind = activationOf(cfg, label);
  const architecture = optionalString(cfg, 'architecture', label) ?? 'standard';
  const isTranscoder = TRANSCODER_ARCHITECTURES[architecture] !== undefined;
  const hook = resolveDictionaryHook(hookName, model, label);
  const hookLayer = field(cfg, 'hook_layer') ?? field(cfg, 'hook_point_layer');
  if (typeof hookLayer === 'number' && hookLayer !== hook.layer) {
    throw new EngineError('BAD_CONFIG', `${label}: hook_layer ${hookLayer} does not match hook_name "${hookName}" (layer ${hook.layer}).`);
  }
  assertModelWidth(dIn, model, 'd_in', label);
  let output = hook;
  let dOut = dIn;
  if (isTranscoder) {
    const outName = field(cfg, 'hook_name_out');
    if (typeof outName !== 'string') throw new EngineError('BAD_CONFIG', `${label}: a SAELens transcoder needs "hook_name_out".`);
    output = resolveDictionaryHook(outName, model, `${label} (hook_name_out)`);
    dOut = positiveInt(cfg, 'd_out', label);
    assertModelWidth(dOut, model, 'd_out', label);
  }
  const normalization = normalizationOf(cfg, options, label);
  const processing = processingOf(cfg, label);
  if (isTranscoder && normalization.kind !== 'none') {
    throw new EngineError(
      'BAD_CONFIG',
      `${label}: a transcoder with normalize_activations "${normalization.kind}" is not supported (SAELens does not rescale its output).`,
    );
  }
  // A SAELens transcoder encodes its raw input: its b_dec belongs to the output hook.
  const applyBDecToInput = !isTranscoder && optionalBoolean(cfg, 'apply_b_dec_to_input', true, label);

  const weightsPath = join(folder, SAELENS_WEIGHTS);
  if (!existsSync(weightsPath))
    throw new EngineError('MODEL_FILE_MISSING', `${folder} has ${SAELENS_CONFIG} but no ${SAELENS_WEIGHTS}.`, 'Download the SAE again.');
  const file = openSafetensors(weightsPath);
  const W_enc = readCheckedTensor(file, 'W_enc', [dIn, dSae], weightsPath);
  const b_enc = readCheckedTensor(file, 'b_enc', [dSae], weightsPath);
  const b_dec = readCheckedTensor(file, 'b_dec', [dOut], weightsPath);
  const decoderTensor = file.get('W_dec');
  assertTensorShape(decoderTensor, [dSae, dOut], weightsPath);
  // skip_transcoder: W_skip [d_out, d_in], added as x · W_skipᵀ.
  const W_skip = architecture === 'skip_transcoder' ? transpose(readCheckedTensor(file, 'W_skip', [dOut, dIn], weightsPath), dOut, dIn) : null;
  let activation: FeatureActivationFunction;
  if (kind === 'jumprelu') {
    const log = file.tensors.get('log_threshold');
    activation = {
      kind: 'jumprelu',
      threshold:
        log && !file.tensors.has('threshold')
          ? readCheckedTensor(file, 'log_threshold', [dSae], weightsPath).map(Math.exp)
          : readCheckedTensor(file, 'threshold', [dSae], weightsPath),
    };
  } else if (kind === 'topk') {
    activation = { kind: 'topk', k: topK(cfg, dSae, label) };
  } else {
    activation = { kind: 'relu' };
  }
  const decoder = new SafetensorsDecoderRows(
    new PositionedFile(weightsPath),
    decoderTensor,
    dSae,
    dOut,
    { kind: 'rows', nOut: 1, output: 0 },
    options.decoderCacheRows,
  );
  const modelName = field(cfg, 'model_name');
  const layer: DictionaryLayer = {
    layer: hook.layer,
    inputHook: hook.name,
    outputHooks: [output.name],
    dIn,
    dSae,
    dOut,
    W_enc,
    b_enc,
    b_dec: [b_dec],
    activation,
    applyBDecToInput,
    normalization,
    W_skip,
    processing,
    decoder: (i) => {
      if (i !== 0) throw new EngineError('BAD_ARGUMENT', `An SAE has one decoder (output 0), not output ${i}.`);
      return decoder;
    },
  };
  return { layer, modelName: typeof modelName === 'string' ? modelName : null, close: () => decoder.close(), transcoder: isTranscoder };
}
