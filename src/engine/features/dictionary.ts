/**
 * A sparse dictionary as the engine uses it, whatever format it was stored in (SAELens SAEs,
 * circuit-tracer's per-layer and cross-layer transcoders, Gemma Scope's params.npz): per layer an
 * encoder read from one hook point and a decoder written to one (an SAE's are the same hook; a
 * transcoder reads the MLP's input and writes its output; a cross-layer transcoder's layer-l
 * features write to the outputs of layers l..n_layers-1).
 *
 * Shapes: d_in and d_out are the hooks' widths (d_model), d_sae the number of features.
 * Encoders are held as float32 (every feature is needed to encode); decoder rows are read on
 * demand (a decoder of a wide dictionary is the largest part of it and only the active features'
 * rows are read).
 */
import type { HookName } from '../hooks.js';

/** The nonlinearity applied to the encoder's pre-activations. */
export type FeatureActivationFunction =
  | { kind: 'relu' }
  /** The k largest pre-activations per position pass through a ReLU; the rest are 0. */
  | { kind: 'topk'; k: number }
  /** pre · [pre > threshold], one threshold per feature ([d_sae]). */
  | { kind: 'jumprelu'; threshold: Float32Array };

/**
 * SAELens's `normalize_activations`: 'none', or 'expected_average_only_in' (the input is scaled by
 * `inputScale` before encoding and the reconstruction divided by it), or 'constant_norm_rescale'
 * (each position's input is scaled to norm sqrt(d_in) and the reconstruction scaled back).
 */
export type InputNormalization = { kind: 'none' } | { kind: 'expected_average_only_in'; inputScale: number } | { kind: 'constant_norm_rescale' };

/**
 * The TransformerLens processing of the model a dictionary was trained on (the flags of
 * HookedTransformer.from_pretrained), which decides what its hooks hold:
 * - centerWritingWeights: every weight writing to the residual stream is centred over d_model, so
 *   the residual stream and the sublayer outputs are the unprocessed values minus their mean per
 *   position. TransformerLens centres only models whose norms are LayerNorm (RMSNorm does not
 *   remove the mean), so it has no effect on RMSNorm models.
 * - foldLn: LayerNorm's weight and bias are folded into the next layer, so ln2.hook_normalized is
 *   (x − mean) / s; unfolded it is that times the weight plus the bias. RMSNorm's hook_normalized is
 *   x / s before the weight either way.
 */
export interface ModelProcessing {
  readonly centerWritingWeights: boolean;
  readonly foldLn: boolean;
}

/** No processing: the Hugging Face model's own values (circuit-tracer's and Gemma Scope's convention). */
export const UNPROCESSED_MODEL: ModelProcessing = { centerWritingWeights: false, foldLn: false };

/** Reads rows of one decoder matrix ([d_sae, d_out] for one output layer) from wherever they are stored. */
export interface DecoderRows {
  readonly dSae: number;
  readonly dOut: number;
  /** Rows `features` of the decoder as float32, [features.length, d_out] row-major. */
  rows(features: readonly number[]): Float32Array;
  /** The whole decoder, [d_sae, d_out] (reads it all: for small dictionaries and tests). */
  all(): Float32Array;
}

export interface DictionaryLayer {
  /** The model layer whose hook the encoder reads. */
  readonly layer: number;
  /** TransformerLens name of the hook the encoder reads, e.g. `blocks.8.hook_resid_pre` or `blocks.3.ln2.hook_normalized`. */
  readonly inputHook: HookName;
  /** The hooks the decoder writes to, in order of output layer: one for SAEs and transcoders, n_layers - layer for a cross-layer transcoder. */
  readonly outputHooks: readonly HookName[];
  readonly dIn: number;
  readonly dSae: number;
  readonly dOut: number;
  /** [d_in, d_sae] */
  readonly W_enc: Float32Array;
  /** [d_sae] */
  readonly b_enc: Float32Array;
  /** Per output hook (same order as outputHooks): [d_out]. */
  readonly b_dec: readonly Float32Array[];
  readonly activation: FeatureActivationFunction;
  /** SAELens's apply_b_dec_to_input: b_dec (of the first output) is subtracted from the input before encoding. */
  readonly applyBDecToInput: boolean;
  readonly normalization: InputNormalization;
  /** A skip transcoder's linear skip path, [d_in, d_out] (to the first output hook), or null. */
  readonly W_skip: Float32Array | null;
  /** The processing of the model the layer was trained on: its input and output hooks are read as that model computes them. */
  readonly processing: ModelProcessing;
  /** The decoder to output hook `i` (index into outputHooks), read lazily. */
  decoder(i: number): DecoderRows;
}

export type DictionaryKind = 'sae' | 'transcoder' | 'cross_layer_transcoder';

/** A feature's label from a Neuronpedia export beside the dictionary: layer, feature index, explanation. */
export interface FeatureLabel {
  layer: number;
  feature: number;
  explanation: string;
}

export interface Dictionary {
  /** Where it came from: a hub repository (and subfolder) or a local folder. */
  readonly id: string;
  readonly kind: DictionaryKind;
  /** The model it was trained on, as its config names it (a hub id, or a TransformerLens name such as gpt2-small), when known. */
  readonly modelName: string | null;
  /** d_model of the model it expects. */
  readonly dModel: number;
  /** One entry per dictionary layer, sorted by layer (an SAE release may cover only some layers). */
  readonly layers: readonly DictionaryLayer[];
  /** Labels by `${layer}/${feature}`, when a labels file sits beside the dictionary. */
  readonly labels: ReadonlyMap<string, string> | null;
  /** Closes any open files. */
  dispose(): void;
}
