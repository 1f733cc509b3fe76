/**
 * Small seeded transcoders in memory (the Dictionary interface, no files), for attribution-graph
 * tests: per-layer transcoders or a cross-layer transcoder over a model's layers, reading
 * ln2.hook_normalized, mlp.hook_in or the MLP's input stream and writing hook_mlp_out, with a ReLU,
 * JumpReLU or TopK and optionally a skip path. Encoder biases are set so that a fraction of the
 * features fire.
 */
import type { DecoderRows, Dictionary, DictionaryLayer, FeatureActivationFunction, ModelProcessing } from '../../src/engine/features/dictionary.js';
import type { HookName } from '../../src/engine/hooks.js';

export interface RandomTranscoderSpec {
  nLayers: number;
  dModel: number;
  dSae: number;
  seed: number;
  /** What each layer reads (default ln2.hook_normalized). */
  input?: 'ln2.hook_normalized' | 'mlp.hook_in' | 'hook_resid_mid' | 'hook_resid_pre';
  activation?: 'relu' | 'jumprelu' | 'topk';
  skip?: boolean;
  crossLayer?: boolean;
  /** Encoder bias (default −1 with unit-variance pre-activations: about one feature in six fires). */
  encoderBias?: number;
  /** Scale of the encoder columns relative to 1 / sqrt(d_model) (default 1). */
  encoderScale?: number;
  /** The processing of the model it was trained on (default: none, with ln2.hook_normalized before LayerNorm's weights). */
  processing?: ModelProcessing;
}

/** A deterministic normal generator (mulberry32 and Box–Muller). */
export function seededNormal(seed: number): () => number {
  let a = seed >>> 0 || 1;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

function decoderRows(all: Float32Array, dSae: number, dOut: number): DecoderRows {
  return {
    dSae,
    dOut,
    rows: (features) => {
      const out = new Float32Array(features.length * dOut);
      features.forEach((f, i) => out.set(all.subarray(f * dOut, (f + 1) * dOut), i * dOut));
      return out;
    },
    all: () => all,
  };
}

export function randomTranscoder(spec: RandomTranscoderSpec): Dictionary {
  const { nLayers: L, dModel: D, dSae: S } = spec;
  const normal = seededNormal(spec.seed);
  const input = spec.input ?? 'ln2.hook_normalized';
  const layers: DictionaryLayer[] = [];
  for (let l = 0; l < L; l++) {
    const encScale = (spec.encoderScale ?? 1) / Math.sqrt(D);
    const W_enc = Float32Array.from({ length: D * S }, () => normal() * encScale);
    const b_enc = new Float32Array(S).fill(spec.encoderBias ?? -1);
    const outputs = spec.crossLayer ? L - l : 1;
    const decoders = Array.from({ length: outputs }, () => Float32Array.from({ length: S * D }, () => normal() * 0.3));
    const b_dec = Array.from({ length: outputs }, () => Float32Array.from({ length: D }, () => normal() * 0.1));
    const activation: FeatureActivationFunction =
      spec.activation === 'jumprelu'
        ? { kind: 'jumprelu', threshold: Float32Array.from({ length: S }, () => 0.05 + 0.1 * Math.abs(normal())) }
        : spec.activation === 'topk'
          ? { kind: 'topk', k: Math.max(1, Math.floor(S / 8)) }
          : { kind: 'relu' };
    layers.push({
      layer: l,
      inputHook: `blocks.${l}.${input}` as HookName,
      outputHooks: Array.from({ length: outputs }, (_, i) => `blocks.${l + i}.hook_mlp_out` as HookName),
      dIn: D,
      dSae: S,
      dOut: D,
      W_enc,
      b_enc,
      b_dec,
      activation,
      applyBDecToInput: false,
      normalization: { kind: 'none' },
      W_skip: spec.skip ? Float32Array.from({ length: D * D }, () => normal() * (0.3 / Math.sqrt(D))) : null,
      processing: spec.processing ?? { centerWritingWeights: false, foldLn: true },
      decoder: (i) => decoderRows(decoders[i]!, S, D),
    });
  }
  return {
    id: `random-transcoder-${spec.seed}`,
    kind: spec.crossLayer ? 'cross_layer_transcoder' : 'transcoder',
    modelName: null,
    dModel: D,
    layers,
    labels: null,
    dispose: () => undefined,
  };
}
