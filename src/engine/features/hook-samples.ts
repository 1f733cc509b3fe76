/**
 * Samples of a dictionary's input hook on a model, to calibrate random dictionaries
 * (random-dictionary.ts): one forward pass over seeded random token ids. The two MLP-input hooks
 * are no graph outputs, so they are computed here from the stream the MLP reads (resid_mid, or
 * resid_pre with a parallel residual) by the block's norm: `ln2.hook_normalized` is the normalised
 * value before the norm's weight, `mlp.hook_in` applies the weight and bias.
 */
import { mulberry32, randomInt } from '../analysis/seeded-random.js';
import type { HookName } from '../hooks/registry.js';
import type { ForwardRunner } from '../runtime/types.js';
import { fullHookName } from './dictionary-hooks.js';
import type { HookSamples } from './random-dictionary.js';

/** Positions sampled per dictionary layer. */
const SAMPLE_TOKENS = 64;

/** Normalises each [d] row of `rows` in place as the model's ln2 does before its weight. */
function normalizeRows(rows: Float32Array, d: number, rms: boolean, eps: number): void {
  for (let start = 0; start < rows.length; start += d) {
    let mean = 0;
    if (!rms) {
      for (let c = 0; c < d; c++) mean += rows[start + c]!;
      mean /= d;
    }
    let square = 0;
    for (let c = 0; c < d; c++) square += (rows[start + c]! - mean) ** 2;
    const inv = 1 / Math.sqrt(square / d + eps);
    for (let c = 0; c < d; c++) rows[start + c] = (rows[start + c]! - mean) * inv;
  }
}

/** The input hook `inputHook` (short, per layer) of each of `layers`, [pos, d_model], on random ids from `seed`. */
export async function sampleHookInputs(runner: ForwardRunner, layers: readonly number[], inputHook: string, seed: number): Promise<HookSamples> {
  const config = runner.config;
  const random = mulberry32(seed ^ 0x5eed);
  const ids = Array.from({ length: Math.min(SAMPLE_TOKENS, config.nCtx) }, () => randomInt(random, 0, config.dVocab));
  const derived = inputHook === 'ln2.hook_normalized' || inputHook === 'mlp.hook_in';
  const source = (layer: number): HookName =>
    (derived ? `blocks.${layer}.${config.parallelResidual === true ? 'hook_resid_pre' : 'hook_resid_mid'}` : fullHookName(inputHook, layer)) as HookName;
  const result = await runner.forward(ids, { hooks: layers.map(source) });
  const samples = new Map<number, Float32Array>();
  for (const layer of layers) {
    const values = result.cache.get(source(layer));
    if (!values) continue;
    const rows = Float32Array.from(values.data);
    if (derived) {
      normalizeRows(rows, config.dModel, config.norm === 'rmsnorm', config.eps);
      if (inputHook === 'mlp.hook_in') {
        const { w, b } = runner.weights.blocks[layer]!.ln2;
        for (let i = 0; i < rows.length; i++) rows[i] = rows[i]! * w.data[i % config.dModel]! + b.data[i % config.dModel]!;
      }
    }
    samples.set(layer, rows);
  }
  return samples;
}
