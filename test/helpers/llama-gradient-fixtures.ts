/**
 * Llama-family models for the gradient and attribution tests: a seeded random checkpoint of each type
 * (model/random-llama.ts: llama with GQA and llama3 rope scaling, mistral with a sliding window of
 * 4 keys, qwen2 with q/k/v biases and tied embeddings, qwen3 with q/k norms and head_dim ≠
 * d_model / heads), adapted in memory by the engine's Llama adapter, with the HF tensors and config
 * the float64 reference (reference-llama-backward.ts) reads.
 */
import { llamaAdapter } from '../../src/engine/model/adapters/llama.js';
import type { LlamaFamilyType } from '../../src/engine/model/adapters/llama-config.js';
import { generateRandomLlama } from '../../src/engine/model/random-llama.js';
import type { TensorSource } from '../../src/engine/model/tensor-source.js';
import type { CanonicalModel } from '../../src/engine/model/weights.js';
import { tensor } from '../../src/engine/tensor.js';
import type { ReferenceWeightTensor } from './reference-gpt2.js';

export interface LlamaGradientFixture {
  label: string;
  model: CanonicalModel;
  tensors: Map<string, ReferenceWeightTensor>;
  config: Record<string, unknown>;
}

/** The tiny random checkpoint of `arch`; `sharpen` multiplies q_proj and k_proj, for sharper attention. */
export function llamaGradientFixture(arch: LlamaFamilyType, seed: number, sharpen = 1): LlamaGradientFixture {
  const random = generateRandomLlama(arch, 'tiny', seed);
  const sharpened = /self_attn\.(q_proj|k_proj)\.weight$/;
  const list = random.tensors.map((t) => (sharpen !== 1 && sharpened.test(t.name) ? { ...t, data: t.data.map((x) => x * sharpen) } : t));
  const tensors = new Map(list.map((t) => [t.name, { shape: t.shape, data: t.data }]));
  const source: TensorSource = {
    names: () => [...tensors.keys()],
    shape: (name) => tensors.get(name)?.shape,
    get: (name) => {
      const t = tensors.get(name);
      if (!t) throw new Error(`llama fixture: no tensor ${name}`);
      return tensor(t.data.slice(), t.shape);
    },
  };
  return { label: `random ${arch} (seed ${seed})`, model: llamaAdapter.adapt(random.config, source), tensors, config: random.config };
}
