/**
 * Samples of a dictionary's input hook on a model, to calibrate random dictionaries
 * (random-dictionary.ts): one forward pass over seeded random token ids, each layer's hook read as
 * the loaded dictionary reads it (dictionary-input.ts, under the model processing of its format).
 */
import { mulberry32, randomInt } from '../analysis/seeded-random.js';
import type { HookName } from '../hooks/registry.js';
import type { ForwardRunner } from '../runtime/types.js';
import type { ModelProcessing } from './dictionary.js';
import { fullHookName } from './dictionary-hooks.js';
import { dictionaryHookSources, dictionaryInput } from './dictionary-input.js';
import type { HookSamples } from './random-dictionary.js';

/** Positions sampled per dictionary layer. */
const SAMPLE_TOKENS = 64;

/** The input hook `inputHook` (short, per layer) of each of `layers`, [pos, d_model], on random ids from `seed`, as a dictionary trained under `processing` reads it. */
export async function sampleHookInputs(
  runner: ForwardRunner,
  layers: readonly number[],
  inputHook: string,
  seed: number,
  processing: ModelProcessing,
): Promise<HookSamples> {
  const config = runner.config;
  const random = mulberry32(seed ^ 0x5eed);
  const ids = Array.from({ length: Math.min(SAMPLE_TOKENS, config.nCtx) }, () => randomInt(random, 0, config.dVocab));
  const hooks = new Set<HookName>();
  for (const layer of layers) for (const h of dictionaryHookSources(fullHookName(inputHook, layer), config)) hooks.add(h);
  const result = await runner.forward(ids, { hooks: [...hooks] });
  const samples = new Map<number, Float32Array>();
  for (const layer of layers) samples.set(layer, dictionaryInput(fullHookName(inputHook, layer), result.cache, config, runner.weights, processing).data);
  return samples;
}
