/**
 * Whether a dictionary fits a loaded model: its d_model, each layer's widths, and every hook it reads
 * or writes a [pos, d_model] hook of this model (or a derived MLP-input hook). Typed errors name
 * what does not fit.
 */
import { EngineError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import { classifyDictionaryHook } from './dictionary-input.js';
import type { Dictionary, DictionaryLayer } from './dictionary.js';

export function checkDictionaryFits(dictionary: Dictionary, config: ModelConfig): void {
  const D = config.dModel;
  if (dictionary.dModel !== D)
    throw new EngineError(
      'WRONG_SHAPE',
      `The dictionary ${dictionary.id} expects d_model ${dictionary.dModel}, but the model's is ${D}.`,
      'Pick a dictionary trained on this model.',
    );
  for (const layer of dictionary.layers) {
    for (const [what, width] of [
      ['d_in', layer.dIn],
      ['d_out', layer.dOut],
    ] as const)
      if (width !== D) throw new EngineError('WRONG_SHAPE', `Dictionary layer ${layer.layer} has ${what} ${width}, but the model's d_model is ${D}.`);
    if (layer.outputHooks.length === 0) throw new EngineError('BAD_CONFIG', `Dictionary layer ${layer.layer} writes no hook.`);
    for (const hook of [layer.inputHook, ...layer.outputHooks]) classifyDictionaryHook(hook, config);
  }
}

/** The dictionary layer at model layer `layer`; a typed error when there is none. */
export function dictionaryLayerAt(dictionary: Dictionary, layer: number): DictionaryLayer {
  const found = dictionary.layers.find((l) => l.layer === layer);
  if (!found)
    throw new EngineError(
      'BAD_ARGUMENT',
      `The dictionary ${dictionary.id} has no layer ${layer}.`,
      `Its layers: ${dictionary.layers.map((l) => l.layer).join(', ') || 'none'}.`,
    );
  return found;
}
