/**
 * Seeded random GPT-Neo checkpoints for tests and the CLI: the real GPT-Neo architecture and file
 * layout (hf-gpt-neo-layout.ts), with weights drawn as a random GPT-2's are (random-gpt2.ts, the
 * same streams by tensor name) except that Q, K and V have no bias. Layers alternate global and
 * local, as in every released GPT-Neo and TinyStories model.
 */
import { EngineError } from '../errors.js';
import { tensor } from '../tensor.js';
import type { ModelConfig } from './config.js';
import type { HfTensor } from './hf-gpt2-layout.js';
import { gptNeoHfConfig, gptNeoHfTensorsFromCanonical, type GptNeoDims, type GptNeoHfConfig } from './hf-gpt-neo-layout.js';
import { generateRandomGpt2, seededNormalTensor } from './random-gpt2.js';
import type { ModelWeights } from './weights.js';

export const GPT_NEO_PRESETS = {
  /**
   * A 2-layer model (global, then local) with the real vocabulary, so the real GPT-2 tokenizer
   * works with it; a window of 4 keys, so that a prompt of a few tokens already reaches past it.
   */
  tiny: { nLayers: 2, nHeads: 4, dModel: 64, dMlp: 256, nCtx: 128, dVocab: 50257, windowSize: 4 },
  /** The shape of GPT-Neo 125M. */
  small: { nLayers: 12, nHeads: 12, dModel: 768, dMlp: 3072, nCtx: 2048, dVocab: 50257, windowSize: 256 },
} as const satisfies Record<string, GptNeoDims>;

/** A preset or explicit shape; `tied: false` draws an unembedding of its own (lm_head.weight). */
export type RandomGptNeoOptions = ({ preset: keyof typeof GPT_NEO_PRESETS } | { shape: GptNeoDims }) & { tied?: boolean };

export interface RandomGptNeo {
  /** config.json content. */
  config: GptNeoHfConfig;
  /** The checkpoint's tensors in HF GPT-Neo layout (model.safetensors content), state-dict order. */
  tensors: HfTensor[];
  /** The same model in canonical form: the answer a loader must reproduce. */
  modelConfig: ModelConfig;
  weights: ModelWeights;
}

/** Generates a random GPT-Neo of a preset or explicit shape; the same seed gives identical weights. */
export function generateRandomGptNeo(options: RandomGptNeoOptions, seed: number): RandomGptNeo {
  if ('preset' in options && !Object.hasOwn(GPT_NEO_PRESETS, options.preset)) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `Unknown random GPT-Neo preset "${String(options.preset)}".`,
      `Use one of ${Object.keys(GPT_NEO_PRESETS).join(', ')}.`,
    );
  }
  const { windowSize, ...dims }: GptNeoDims = 'preset' in options ? GPT_NEO_PRESETS[options.preset] : options.shape;
  if (!Number.isSafeInteger(windowSize) || windowSize <= 0) {
    throw new EngineError('BAD_ARGUMENT', `Random GPT-Neo: the window must be a positive integer, got ${String(windowSize)}.`);
  }
  const gpt2 = generateRandomGpt2({ shape: dims }, seed);
  const modelConfig: ModelConfig = {
    ...gpt2.modelConfig,
    modelType: 'gpt_neo',
    useAttnScale: false,
    scaleAttnByInverseLayerIdx: false,
    attentionWindow: Array.from({ length: dims.nLayers }, (_, l) => (l % 2 === 1 ? windowSize : null)),
  };
  const { nHeads: H, dHead: Dh, dVocab: V, dModel: D } = modelConfig;
  const zeros = () => tensor(new Float32Array(H * Dh), [H, Dh]); // [head, d_head]
  const tied = options.tied ?? true;
  const weights: ModelWeights = {
    ...gpt2.weights,
    blocks: gpt2.weights.blocks.map((block) => ({ ...block, b_Q: zeros(), b_K: zeros(), b_V: zeros() })),
    W_U_T: tied ? gpt2.weights.W_E : seededNormalTensor(seed, 'unembed.W_U_T', [V, D], 0, 0.02),
  };
  return {
    config: gptNeoHfConfig(modelConfig, { tied }),
    tensors: gptNeoHfTensorsFromCanonical(weights, modelConfig, { tied }),
    modelConfig,
    weights,
  };
}
