/**
 * Models for the gradient and attribution tests, each with what the float64 reference backward
 * (reference-gpt2-backward.ts) reads: a seeded random GPT-2 and the organism (its canonical weights
 * written out in the Hugging Face layout, as its folder stores them).
 */
import type { CanonicalModel } from '../../src/engine/model/weights.js';
import { gpt2HfConfig, gpt2HfTensorsFromCanonical } from '../../src/engine/model/hf-gpt2-layout.js';
import { generateRandomGptNeo } from '../../src/engine/model/random-gpt-neo.js';
import { generateOrganism } from '../../src/engine/organism/index.js';
import { randomGpt2, type RandomGpt2Spec } from './random-gpt2-weights.js';
import type { ReferenceGpt2Config, ReferenceWeightTensor } from './reference-gpt2.js';

export interface GradientFixture {
  label: string;
  model: CanonicalModel;
  checkpoint: Map<string, ReferenceWeightTensor>;
  referenceConfig: ReferenceGpt2Config;
}

export function randomGradientFixture(spec: RandomGpt2Spec): GradientFixture {
  const r = randomGpt2(spec);
  return {
    label: `random GPT-2 (seed ${spec.seed})`,
    model: { config: r.config, weights: r.weights },
    checkpoint: r.checkpoint,
    referenceConfig: r.referenceConfig,
  };
}

export function organismGradientFixture(): GradientFixture {
  const { model } = generateOrganism();
  const checkpoint = new Map(gpt2HfTensorsFromCanonical(model.weights, model.config).map((t) => [t.name, { shape: [...t.shape], data: t.data }]));
  const hf = gpt2HfConfig(model.config);
  const referenceConfig: ReferenceGpt2Config = {
    n_layer: hf.n_layer,
    n_head: hf.n_head,
    n_embd: hf.n_embd,
    layer_norm_epsilon: hf.layer_norm_epsilon,
    ...(hf.scale_attn_weights !== undefined ? { scale_attn_weights: hf.scale_attn_weights } : {}),
    ...(hf.scale_attn_by_inverse_layer_idx !== undefined ? { scale_attn_by_inverse_layer_idx: hf.scale_attn_by_inverse_layer_idx } : {}),
  };
  return { label: 'organism', model, checkpoint, referenceConfig };
}

/** The tiny random GPT-Neo (a global layer, then a local one with a window of 4 keys, no attention scale), in GPT-2's layout for the reference. */
export function gptNeoGradientFixture(seed: number): GradientFixture {
  const neo = generateRandomGptNeo({ preset: 'tiny' }, seed);
  const model = { config: neo.modelConfig, weights: neo.weights };
  const checkpoint = new Map(gpt2HfTensorsFromCanonical(model.weights, model.config).map((t) => [t.name, { shape: [...t.shape], data: t.data }]));
  const c = model.config;
  return {
    label: `random GPT-Neo (seed ${seed})`,
    model,
    checkpoint,
    referenceConfig: {
      n_layer: c.nLayers,
      n_head: c.nHeads,
      n_embd: c.dModel,
      layer_norm_epsilon: c.eps,
      scale_attn_weights: false,
      attention_windows: c.attentionWindow ?? [],
    },
  };
}

/** Largest |a − e| over the largest |e|: the tests' "within 1e-4 of the largest value". */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let diff = 0,
    scale = 0;
  for (let i = 0; i < actual.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}
