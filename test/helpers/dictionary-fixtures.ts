/**
 * Small in-memory sparse dictionaries (SAEs, transcoders, cross-layer transcoders) with seeded
 * random weights, built straight as the engine's `Dictionary` interface (no file format), for the
 * feature tests. Encoder weights are scaled so that a good share of the features fire on a tiny
 * random model's hooks; JumpReLU thresholds are spread so that some pre-activations fall below them.
 */
import type {
  DecoderRows,
  Dictionary,
  DictionaryKind,
  DictionaryLayer,
  FeatureActivationFunction,
  InputNormalization,
  ModelProcessing,
} from '../../src/engine/features/dictionary.js';
import type { HookName } from '../../src/engine/hooks.js';

/** mulberry32, with a Box-Muller normal on top (kept here so the fixtures share nothing with src/). */
export function seededNormal(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** A decoder held in memory, [d_sae, d_out] row-major. */
export function memoryDecoder(data: Float32Array, dSae: number, dOut: number): DecoderRows {
  if (data.length !== dSae * dOut) throw new Error(`memoryDecoder: ${data.length} values for [${dSae}, ${dOut}]`);
  return {
    dSae,
    dOut,
    rows(features) {
      const out = new Float32Array(features.length * dOut);
      features.forEach((f, i) => {
        if (!Number.isInteger(f) || f < 0 || f >= dSae) throw new RangeError(`memoryDecoder: feature ${f} outside 0..${dSae - 1}`);
        out.set(data.subarray(f * dOut, (f + 1) * dOut), i * dOut);
      });
      return out;
    },
    all: () => data,
  };
}

export interface FixtureLayerSpec {
  layer: number;
  inputHook: string;
  outputHooks: readonly string[];
  dSae: number;
  activation?: 'relu' | 'jumprelu' | { kind: 'topk'; k: number };
  applyBDecToInput?: boolean;
  normalization?: InputNormalization;
  skip?: boolean;
  /** Multiplies the encoder's weights (default 1: about a third of the features fire on unit-scale inputs). */
  encoderScale?: number;
  /** Multiplies the decoder's rows (default 0.2). */
  decoderScale?: number;
  /** The processing of the model it was trained on (default: none, with ln2.hook_normalized before LayerNorm's weights). */
  processing?: ModelProcessing;
}

export interface FixtureLayer extends DictionaryLayer {
  /** The decoders to each output hook, [d_sae, d_out] each (what `decoder(i).all()` reads). */
  readonly decoders: readonly Float32Array[];
}

/** One dictionary layer with seeded random weights for a model of width `dModel`. */
export function randomDictionaryLayer(spec: FixtureLayerSpec, dModel: number, seed: number): FixtureLayer {
  const normal = seededNormal(seed);
  const D = dModel;
  const F = spec.dSae;
  const fill = (n: number, scale: number, offset = 0): Float32Array => Float32Array.from({ length: n }, () => offset + normal() * scale);
  const W_enc = fill(D * F, (spec.encoderScale ?? 1) / Math.sqrt(D));
  const b_enc = fill(F, 0.3, -0.2);
  const decoders = spec.outputHooks.map(() => fill(F * D, spec.decoderScale ?? 0.2));
  const b_dec = spec.outputHooks.map(() => fill(D, 0.1));
  let activation: FeatureActivationFunction = { kind: 'relu' };
  if (spec.activation === 'jumprelu') activation = { kind: 'jumprelu', threshold: Float32Array.from({ length: F }, (_, f) => 0.05 + (0.6 * f) / F) };
  else if (typeof spec.activation === 'object') activation = spec.activation;
  return {
    layer: spec.layer,
    inputHook: spec.inputHook as HookName,
    outputHooks: spec.outputHooks as readonly HookName[],
    dIn: D,
    dSae: F,
    dOut: D,
    W_enc,
    b_enc,
    b_dec,
    activation,
    applyBDecToInput: spec.applyBDecToInput ?? false,
    normalization: spec.normalization ?? { kind: 'none' },
    W_skip: spec.skip ? fill(D * D, 0.05) : null,
    processing: spec.processing ?? { centerWritingWeights: false, foldLn: true },
    decoders,
    decoder: (i) => {
      const data = decoders[i];
      if (!data) throw new RangeError(`decoder ${i} of ${decoders.length}`);
      return memoryDecoder(data, F, D);
    },
  };
}

/** A dictionary of the given layers (seeds seed, seed + 1, ... per layer). */
export function randomDictionary(
  kind: DictionaryKind,
  dModel: number,
  layers: readonly FixtureLayerSpec[],
  seed: number,
): Dictionary & { layers: FixtureLayer[] } {
  return {
    id: `fixture-${kind}-${seed}`,
    kind,
    modelName: null,
    dModel,
    layers: layers.map((spec, i) => randomDictionaryLayer(spec, dModel, seed + i)),
    labels: null,
    dispose: () => undefined,
  };
}

/** Per-layer transcoders reading mlp.hook_in (or `input`) and writing hook_mlp_out of every layer. */
export function randomTranscoders(nLayers: number, dModel: number, dSae: number, seed: number, input: 'mlp.hook_in' | 'ln2.hook_normalized' = 'mlp.hook_in') {
  return randomDictionary(
    'transcoder',
    dModel,
    Array.from({ length: nLayers }, (_, l) => ({ layer: l, inputHook: `blocks.${l}.${input}`, outputHooks: [`blocks.${l}.hook_mlp_out`], dSae })),
    seed,
  );
}

/** A cross-layer transcoder: layer l reads mlp.hook_in of l and writes hook_mlp_out of l..nLayers-1. */
export function randomCrossLayerTranscoder(nLayers: number, dModel: number, dSae: number, seed: number) {
  return randomDictionary(
    'cross_layer_transcoder',
    dModel,
    Array.from({ length: nLayers }, (_, l) => ({
      layer: l,
      inputHook: `blocks.${l}.mlp.hook_in`,
      outputHooks: Array.from({ length: nLayers - l }, (_, j) => `blocks.${l + j}.hook_mlp_out`),
      dSae,
    })),
    seed,
  );
}
