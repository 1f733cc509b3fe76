/**
 * Which dictionaries an attribution graph can replace a model's MLPs with, checked before any work:
 * a transcoder (or cross-layer transcoder) with one layer per model layer, each reading the MLP's
 * input (hook_resid_mid, ln2.hook_normalized or mlp.hook_in of its layer; hook_resid_pre with a
 * parallel residual) and writing the MLP's output (hook_mlp_out of its layer, and of every later
 * layer for a cross-layer transcoder), d_model wide, with finite encoder weights.
 */
import { EngineError } from '../../errors.js';
import type { ModelConfig } from '../../model/config.js';
import { firstNonFiniteIndex } from '../../model/finite-check.js';
import type { Dictionary, DictionaryLayer, ModelProcessing } from '../dictionary.js';
import { centresStream, normalizedHasWeights } from '../dictionary-input.js';
import type { EncoderInputMap } from './backward-graph.js';

/** How one dictionary layer reads the MLP's input stream. */
export type InputHookKind = 'stream' | 'ln2.hook_normalized' | 'mlp.hook_in';

const INPUT_RE = /^blocks\.(\d+)\.(hook_resid_mid|hook_resid_pre|ln2\.hook_normalized|mlp\.hook_in)$/;
const OUTPUT_RE = /^blocks\.(\d+)\.hook_mlp_out$/;

/** The dictionary's layers by model layer, after checking each against the model (typed errors name the problem). */
export function checkReplacementDictionary(dictionary: Dictionary, config: ModelConfig): DictionaryLayer[] {
  const label = `The dictionary ${dictionary.id}`;
  if (dictionary.kind === 'sae')
    throw new EngineError(
      'BAD_ARGUMENT',
      `${label} is a sparse autoencoder; attribution graphs replace the MLPs with transcoders.`,
      'Load a transcoder or cross-layer transcoder (--transcoders).',
    );
  if (dictionary.dModel !== config.dModel)
    throw new EngineError(
      'WRONG_SHAPE',
      `${label} expects d_model ${dictionary.dModel}, but the model's is ${config.dModel}.`,
      'Load it with the model it was trained on.',
    );
  const byLayer: DictionaryLayer[] = [];
  for (const layer of dictionary.layers) {
    if (layer.layer < 0 || layer.layer >= config.nLayers)
      throw new EngineError('BAD_ARGUMENT', `${label} has a layer ${layer.layer}, but the model has ${config.nLayers} layers.`);
    if (byLayer[layer.layer]) throw new EngineError('BAD_ARGUMENT', `${label} has layer ${layer.layer} twice.`);
    byLayer[layer.layer] = layer;
  }
  for (let l = 0; l < config.nLayers; l++) {
    const layer = byLayer[l];
    if (!layer)
      throw new EngineError(
        'BAD_ARGUMENT',
        `${label} has no transcoder for layer ${l}; an attribution graph replaces every MLP.`,
        'Use a transcoder set covering every layer.',
      );
    checkLayer(layer, config, label);
  }
  return byLayer;
}

function checkLayer(layer: DictionaryLayer, config: ModelConfig, label: string): void {
  const l = layer.layer;
  inputHookKind(layer, config, label);
  const expectedOutputs = layer.outputHooks.length;
  if (expectedOutputs !== 1 && expectedOutputs !== config.nLayers - l)
    throw new EngineError(
      'BAD_ARGUMENT',
      `${label}: layer ${l} writes ${expectedOutputs} hooks; a transcoder writes 1 and a cross-layer transcoder ${config.nLayers - l}.`,
    );
  layer.outputHooks.forEach((hook, i) => {
    const m = OUTPUT_RE.exec(hook);
    if (!m || Number(m[1]) !== l + i)
      throw new EngineError(
        'BAD_ARGUMENT',
        `${label}: layer ${l} writes ${hook}, but an attribution graph needs the MLP outputs blocks.${l + i}.hook_mlp_out.`,
        'Transcoders read the MLP input and write its output (mlp.hook_out / hook_mlp_out).',
      );
  });
  if (layer.dIn !== config.dModel || layer.dOut !== config.dModel)
    throw new EngineError('WRONG_SHAPE', `${label}: layer ${l} is ${layer.dIn} → ${layer.dOut} wide, but the model's d_model is ${config.dModel}.`);
  if (layer.W_enc.length !== layer.dIn * layer.dSae || layer.b_enc.length !== layer.dSae)
    throw new EngineError('WRONG_SHAPE', `${label}: layer ${l}'s encoder is not [${layer.dIn}, ${layer.dSae}] with a bias of ${layer.dSae}.`);
  if (layer.W_skip && layer.W_skip.length !== layer.dIn * layer.dOut)
    throw new EngineError('WRONG_SHAPE', `${label}: layer ${l}'s W_skip is not [${layer.dIn}, ${layer.dOut}].`);
  if (layer.b_dec.length !== layer.outputHooks.length || layer.b_dec.some((b) => b.length !== layer.dOut))
    throw new EngineError('WRONG_SHAPE', `${label}: layer ${l} needs one b_dec of ${layer.dOut} per output hook.`);
  const arrays: Array<[string, Float32Array | null]> = [
    ['W_enc', layer.W_enc],
    ['b_enc', layer.b_enc],
    ['W_skip', layer.W_skip],
    ...layer.b_dec.map((b, i): [string, Float32Array] => [`b_dec[${i}]`, b]),
    ...(layer.activation.kind === 'jumprelu' ? [['threshold', layer.activation.threshold] as [string, Float32Array]] : []),
  ];
  for (const [name, data] of arrays) {
    if (!data) continue;
    const bad = firstNonFiniteIndex(data);
    if (bad >= 0)
      throw new EngineError('NON_FINITE', `${label}: layer ${l}'s ${name} has a non-finite value at index ${bad}.`, 'The dictionary file is damaged.');
  }
}

/** How `layer` reads the MLP input; BAD_ARGUMENT for any other hook. */
export function inputHookKind(layer: DictionaryLayer, config: ModelConfig, label = `The dictionary`): InputHookKind {
  const m = INPUT_RE.exec(layer.inputHook);
  const parallel = config.parallelResidual === true;
  const streamHook = parallel ? 'hook_resid_pre' : 'hook_resid_mid';
  if (!m || Number(m[1]) !== layer.layer || ((m[2] === 'hook_resid_mid' || m[2] === 'hook_resid_pre') && m[2] !== streamHook))
    throw new EngineError(
      'BAD_ARGUMENT',
      `${label}: layer ${layer.layer} reads ${layer.inputHook}, which is not the MLP input of layer ${layer.layer}.`,
      `An attribution graph's transcoders read blocks.${layer.layer}.${streamHook}, ln2.hook_normalized or mlp.hook_in.`,
    );
  return m[2] === 'ln2.hook_normalized' || m[2] === 'mlp.hook_in' ? m[2] : 'stream';
}

/**
 * The linear map from the MLP's input stream to the encoder's input, with the MLP's norm frozen, as
 * dictionaryInput reads the hook under `processing`: a centred stream, and ln2.hook_normalized after
 * LayerNorm's weight without fold_ln (its bias is a constant of the linear model).
 */
export function encoderInputMap(kind: InputHookKind, config: ModelConfig, ln2Weight: Float32Array, processing: ModelProcessing): EncoderInputMap {
  if (kind === 'stream') return { kind: 'stream', centre: centresStream(processing, config) };
  const weighted = kind === 'mlp.hook_in' || normalizedHasWeights(processing, config);
  return { kind: 'norm', weight: weighted ? ln2Weight : null, centre: config.norm !== 'rmsnorm' };
}
