/**
 * Sparse-dictionary feature views across the engine's worker: a prompt's feature activations per
 * dictionary layer (active features, top-k per position, the reconstruction error, a heatmap, labels
 * or top logits) and feature steering with the real model. Structured-clone safe; the large arrays
 * are typed arrays, moved rather than copied across the worker boundary.
 */
import type { Prediction, TokenInfo } from './analysis.js';
import type { TokenRef } from './engine.js';

/**
 * Where a dictionary comes from: a local folder, a Hugging Face repository (and a folder in it), or
 * the organism's built-in transcoders, generated once into `dir` (for the organism model only).
 */
export type DictionarySpec =
  { kind: 'folder'; path: string } | { kind: 'hub'; repo: string; revision?: string; subfolder?: string } | { kind: 'organism'; dir: string };

/** The prompt of a feature request: text (with the BOS convention of AnalyzeRequest) or token ids used exactly as given. */
export interface FeaturePrompt {
  prompt?: string;
  ids?: number[];
  prependBos?: boolean;
}

export interface FeaturesRequest extends FeaturePrompt {
  dictionary: DictionarySpec;
  /** Features listed per position in `top` (default 10). */
  topK?: number;
  /** Top and bottom tokens of a heatmap feature's direct logit effect, when the dictionary has no labels (default 5; 0: none). */
  logitTokens?: number;
  /** How many heatmap features per layer (the most active first) get logit effects (default 32): each is a product with the whole unembedding. */
  logitFeatures?: number;
  /** Only the dictionary layers of these model layers (default: every one). */
  layers?: number[];
}

/** A token and a feature's direct effect on its logit. */
export interface TokenEffect {
  tokenId: number;
  token: string;
  effect: number;
}

/** A feature's direct logit effect: its decoder direction through the unembedding (the final norm ignored, as Neuronpedia's top logits). */
export interface FeatureLogitEffects {
  feature: number;
  /** Largest effects first. */
  top: TokenEffect[];
  /** Most negative effects first. */
  bottom: TokenEffect[];
}

export interface LayerFeatures {
  /** The model layer of the dictionary layer. */
  layer: number;
  /** The hook its encoder reads (TransformerLens name). */
  inputHook: string;
  /** The hook whose reconstruction is reported (its first output). */
  outputHook: string;
  dSae: number;
  /** Every feature with activation above 0, ordered by position then feature: parallel arrays. */
  active: { positions: Int32Array; features: Int32Array; activations: Float32Array };
  /** Per position, the k most active features, [pos, k] row-major, largest first; -1 (activation 0) past the active ones. */
  top: { k: number; features: Int32Array; activations: Float32Array };
  /** Per position: ‖true − reconstruction‖ of the output hook. */
  reconstructionError: Float32Array;
  /** Per position: ‖true‖ of the output hook. */
  hookNorm: Float32Array;
  /** Per position: reconstructionError / hookNorm. */
  errorShare: Float32Array;
  /** The features active at some position, by their largest activation (largest first), and their activations [feature, pos]. */
  heatmap: { features: Int32Array; activations: Float32Array };
  /** Per heatmap feature: its label from the dictionary's labels file, or null. */
  labels: Array<string | null>;
  /** For the first `logitFeatures` heatmap features (logitTokens > 0 and no labels file): their top logits, which stand in as labels. */
  logitEffects: FeatureLogitEffects[] | null;
}

export interface FeaturesResult {
  dictionary: { id: string; kind: 'sae' | 'transcoder' | 'cross_layer_transcoder'; modelName: string | null };
  tokens: TokenInfo[];
  layers: LayerFeatures[];
  elapsedMs: number;
}

/**
 * One feature edit at chosen positions (default: every position): its activation set to `value`,
 * scaled by `factor`, or `value` added (its decoder direction times value added to the hooks it writes).
 */
export type FeatureEdit = { layer: number; feature: number; positions?: number[] } & (
  { kind: 'set'; value: number } | { kind: 'scale'; factor: number } | { kind: 'add'; value: number }
);

export interface SteerFeaturesRequest extends FeaturePrompt {
  dictionary: DictionarySpec;
  edits: FeatureEdit[];
  /** The position whose predictions are compared (default: the last). */
  position?: number;
  /** Predictions listed before and after (default 10). */
  topK?: number;
  /** With a target: its logit (minus the contrast's, with one) before and after. */
  target?: TokenRef;
  contrast?: TokenRef;
}

/** An edit as applied at one position: the feature's activation in the run before and after it. */
export interface AppliedFeatureEdit {
  layer: number;
  feature: number;
  position: number;
  before: number;
  after: number;
}

export interface SteerFeaturesResult {
  tokens: TokenInfo[];
  position: number;
  before: Prediction[];
  after: Prediction[];
  /** With a target: logit(target) − logit(contrast) (or logit(target) alone), before and after. */
  logitDiff: { target: number; contrast: number | null; before: number; after: number } | null;
  applied: AppliedFeatureEdit[];
  elapsedMs: number;
}

/** The feature requests of the engine, in-thread (Engine) and across its worker (EngineClient). */
export interface EngineFeaturesApi {
  /** A prompt's features per dictionary layer: active features, top k, reconstruction error, heatmap, labels or top logits. */
  features(request: FeaturesRequest, hooks?: { signal?: AbortSignal }): Promise<FeaturesResult>;
  /** Feature edits run with the real model: predictions (and a logit difference) before and after. */
  steerFeatures(request: SteerFeaturesRequest, hooks?: { signal?: AbortSignal }): Promise<SteerFeaturesResult>;
}
