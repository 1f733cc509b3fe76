/**
 * Seeded random GPT-2 checkpoints for tests and benchmarks: the real GPT-2 architecture and file
 * layout (see hf-gpt2-layout.ts) with GPT-2-style random weights, so every loader, runtime and
 * analysis path can run without downloading a model.
 *
 * Weights are N(0, 0.02) as in GPT-2's initialisation (output projections scaled by
 * 1/sqrt(2 * n_layers), position embeddings N(0, 0.01) as in OpenAI's code), LayerNorm gains 1 + 0.1 N and all biases 0.02 N, so that tests notice a
 * bias or gain that is dropped or misplaced. Each tensor draws from its own stream, seeded by the
 * seed and the tensor's name: the same seed gives the same bytes, and changing the number of
 * layers does not change the layers that remain.
 */
import { EngineError } from '../errors.js';
import { tensor, type Tensor } from '../tensor.js';
import type { ModelConfig } from './config.js';
import { gpt2HfConfig, gpt2HfTensorsFromCanonical, type Gpt2Dims, type Gpt2HfConfig, type HfTensor } from './hf-gpt2-layout.js';
import type { BlockWeights, ModelWeights } from './weights.js';

export const GPT2_PRESETS = {
  /** A 2-layer model with the real vocabulary, so the real GPT-2 tokenizer works with it. */
  tiny: { nLayers: 2, nHeads: 4, dModel: 64, dMlp: 256, nCtx: 128, dVocab: 50257 },
  /** The shape of GPT-2 small (124M parameters). */
  small: { nLayers: 12, nHeads: 12, dModel: 768, dMlp: 3072, nCtx: 1024, dVocab: 50257 },
} as const satisfies Record<string, Gpt2Dims>;

/** GPT-2 config flags that change the attention's maths (HF's defaults when absent). */
export type Gpt2AttentionFlags = Pick<ModelConfig, 'useAttnScale' | 'scaleAttnByInverseLayerIdx'>;

/**
 * A preset or explicit shape, and optionally attention flags to write into config.json. The flags
 * do not change the weights: the same seed with and without them gives the same tensors.
 */
export type RandomGpt2Options = ({ preset: keyof typeof GPT2_PRESETS } | { shape: Gpt2Dims }) & { flags?: Gpt2AttentionFlags };

export interface RandomGpt2 {
  /** config.json content. */
  config: Gpt2HfConfig;
  /** The checkpoint's tensors in HF GPT-2 layout (model.safetensors content), state-dict order. */
  tensors: HfTensor[];
  /** The same model in canonical form: the answer a loader must reproduce. */
  modelConfig: ModelConfig;
  /** Shares memory with `tensors` wherever the layouts agree. */
  weights: ModelWeights;
}

const INIT_STD = 0.02;
const GPT2_END_OF_TEXT_ID = 50256;

/** 32-bit FNV-1a hash of a string, to give every tensor name its own stream. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** murmur3's finaliser: spreads the bits of a 32-bit value. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Fills `out` with mean + std * N(0, 1) from the mulberry32 generator seeded with `streamSeed`,
 * by Marsaglia's polar form of the Box-Muller transform (two normals per accepted pair of
 * uniforms, no cos/sin: twice as fast as the basic form, which matters for 124M weights).
 * V8's Math.log and Math.sqrt are deterministic, so the values are the same on every platform.
 */
function fillNormal(out: Float32Array, streamSeed: number, mean: number, std: number): void {
  let state = streamSeed >>> 0;
  const n = out.length;
  let i = 0;
  while (i < n) {
    // Two mulberry32 steps, inlined (a closure call per number costs a third of the time).
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const u = ((t ^ (t >>> 14)) >>> 0) / 2147483648 - 1; // [-1, 1)
    state = (state + 0x6d2b79f5) | 0;
    t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const v = ((t ^ (t >>> 14)) >>> 0) / 2147483648 - 1;
    const s = u * u + v * v;
    if (s >= 1 || s === 0) continue; // outside the unit disc: draw again
    const scale = std * Math.sqrt((-2 * Math.log(s)) / s);
    out[i++] = mean + u * scale;
    if (i < n) out[i++] = mean + v * scale;
  }
}

function checkDims(dims: Gpt2Dims): void {
  for (const [key, value] of Object.entries(dims)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new EngineError('BAD_ARGUMENT', `Random GPT-2: ${key} must be a positive integer, got ${String(value)}.`, 'Pass positive integer dimensions.');
    }
  }
  if (dims.dModel % dims.nHeads !== 0) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `Random GPT-2: d_model ${dims.dModel} is not divisible by ${dims.nHeads} heads.`,
      'Choose d_model as a multiple of n_heads.',
    );
  }
}

/**
 * A tensor of `shape` with values mean + std * N(0, 1) from the stream of `name` under `seed`: the
 * draw every tensor of a random GPT-2 comes from, for other generators (random-gpt-neo.ts) to share.
 */
export function seededNormalTensor(seed: number, name: string, shape: number[], mean: number, std: number): Tensor {
  const seedHash = mix32(Math.trunc(seed) >>> 0) ^ mix32(Math.floor(Math.trunc(seed) / 2 ** 32) >>> 0);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  fillNormal(data, mix32(seedHash ^ fnv1a(name)), mean, std);
  return tensor(data, shape);
}

/** Generates a random GPT-2 of a preset or explicit shape; the same seed gives identical weights. */
export function generateRandomGpt2(options: RandomGpt2Options, seed: number): RandomGpt2 {
  if ('preset' in options && !Object.hasOwn(GPT2_PRESETS, options.preset)) {
    throw new EngineError('BAD_ARGUMENT', `Unknown random GPT-2 preset "${String(options.preset)}".`, `Use one of ${Object.keys(GPT2_PRESETS).join(', ')}.`);
  }
  const dims: Gpt2Dims = 'preset' in options ? GPT2_PRESETS[options.preset] : options.shape;
  checkDims(dims);
  if (!Number.isFinite(seed)) throw new EngineError('BAD_ARGUMENT', `Random GPT-2: the seed must be a number, got ${seed}.`, 'Pass an integer seed.');

  const { nLayers, nHeads, dModel: d, dMlp, nCtx, dVocab } = dims;
  const dHead = d / nHeads;
  const modelConfig: ModelConfig = {
    modelType: 'gpt2',
    nLayers,
    dModel: d,
    nHeads,
    dHead,
    dMlp,
    dVocab,
    nCtx,
    eps: 1e-5,
    actFn: 'gelu_new',
    bosTokenId: Math.min(GPT2_END_OF_TEXT_ID, dVocab - 1),
    useAttnScale: options.flags?.useAttnScale ?? true,
    scaleAttnByInverseLayerIdx: options.flags?.scaleAttnByInverseLayerIdx ?? false,
  };

  const normal = (name: string, shape: number[], mean: number, std: number): Tensor => seededNormalTensor(seed, name, shape, mean, std);
  const projectionStd = INIT_STD / Math.sqrt(2 * nLayers);
  const layerNorm = (name: string) => ({ w: normal(`${name}.w`, [d], 1, 0.1), b: normal(`${name}.b`, [d], 0, INIT_STD) });

  const blocks: BlockWeights[] = [];
  for (let l = 0; l < nLayers; l++) {
    const p = `blocks.${l}`;
    blocks.push({
      ln1: layerNorm(`${p}.ln1`),
      W_Q: normal(`${p}.attn.W_Q`, [nHeads, d, dHead], 0, INIT_STD),
      W_K: normal(`${p}.attn.W_K`, [nHeads, d, dHead], 0, INIT_STD),
      W_V: normal(`${p}.attn.W_V`, [nHeads, d, dHead], 0, INIT_STD),
      b_Q: normal(`${p}.attn.b_Q`, [nHeads, dHead], 0, INIT_STD),
      b_K: normal(`${p}.attn.b_K`, [nHeads, dHead], 0, INIT_STD),
      b_V: normal(`${p}.attn.b_V`, [nHeads, dHead], 0, INIT_STD),
      W_O: normal(`${p}.attn.W_O`, [nHeads, dHead, d], 0, projectionStd),
      b_O: normal(`${p}.attn.b_O`, [d], 0, INIT_STD),
      ln2: layerNorm(`${p}.ln2`),
      W_in: normal(`${p}.mlp.W_in`, [d, dMlp], 0, INIT_STD),
      b_in: normal(`${p}.mlp.b_in`, [dMlp], 0, INIT_STD),
      W_out: normal(`${p}.mlp.W_out`, [dMlp, d], 0, projectionStd),
      b_out: normal(`${p}.mlp.b_out`, [d], 0, INIT_STD),
    });
  }
  const W_E = normal('embed.W_E', [dVocab, d], 0, INIT_STD);
  const weights: ModelWeights = {
    W_E,
    W_pos: normal('pos_embed.W_pos', [nCtx, d], 0, INIT_STD / 2),
    blocks,
    ln_final: layerNorm('ln_final'),
    // Tied, as in GPT-2: the unembedding is the embedding.
    W_U_T: W_E,
    b_U: tensor(new Float32Array(dVocab), [dVocab]),
  };

  return { config: gpt2HfConfig(modelConfig), tensors: gpt2HfTensorsFromCanonical(weights, modelConfig), modelConfig, weights };
}
