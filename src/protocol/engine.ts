/**
 * The engine's API as seen by its callers (the extension host, the CLI, tests), and the
 * requests that cross into the engine's worker thread. Everything here is structured-clone safe.
 */
import type { PatchableAlias } from '../engine/hooks/registry.js';
import type { AnalysisLayerUpdate, AnalysisResult, DlaMode, ModelInfo, PatchKind, PatchSweepResult, TokenInfo } from './analysis.js';
import type { CircuitReport, CircuitRequest, EdgeCheck, EdgeCheckRequest } from './circuit.js';
import type { CircuitCheckRequest, CircuitCheckResult } from './circuit-check.js';
import type { CircuitSizesRequest, CircuitSizesResult } from './circuit-sizes.js';
import type { AttributionMap, AttributionMapRequest, AttributionProgress, PathPatchMap, PathPatchMapProgress, PathPatchMapRequest } from './attribution.js';

/** Where a model comes from. */
export type ModelSpec =
  /** The built-in model organism, generated into `dir` (the extension's storage) on first use. */
  | { kind: 'organism'; dir: string }
  /** A local folder in Hugging Face layout (config.json, model.safetensors, tokenizer.json). */
  | { kind: 'folder'; path: string }
  /** A Hugging Face Hub repo, downloaded into (or found in) the Hugging Face cache. */
  | { kind: 'hub'; repo: string; revision?: string };

export type Device = 'auto' | 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu';

export interface LoadOptions {
  device: Device;
  maxTokens: number;
  /** Forbid network use (HF_HUB_OFFLINE). */
  offline: boolean;
  /** Hugging Face cache folder; default from HF_HUB_CACHE / HF_HOME / ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Hub endpoint (HF_ENDPOINT); default https://huggingface.co. */
  endpoint?: string;
}

export interface LoadedModelInfo extends ModelInfo {
  /** The model's BOS token (GPT-2's <|endoftext|>), null for a model without one. */
  bosTokenId: number | null;
  /** False when the model's convention is no BOS unless asked (TransformerLens's default_prepend_bos: Qwen, Pythia, Phi); absent = true. */
  defaultPrependBos?: boolean;
  /** Execution provider actually in use, and why it differs from the request if it does. */
  device: string;
  deviceNote: string | null;
  loadMs: number;
}

export interface DownloadProgress {
  file: string;
  bytesDone: number;
  bytesTotal: number;
}

/** A token given as text (must encode to exactly one token) or as an id. */
export type TokenRef = { text: string } | { id: number };

/**
 * A metric other than the default one (logit difference with a contrast, log-probability of the
 * target without): 'greater-than' is Hanna et al. 2023's probability difference over the year
 * tokens "00".."99" after the start year `startYear` (0..99, the "32" of "1732").
 */
export type MetricRequest = { kind: 'greater-than'; startYear: number };

export interface AnalyzeRequest {
  /** Prompt text, or token ids (used exactly as given: nothing is prepended). */
  prompt?: string;
  ids?: number[];
  /**
   * Prepend the model's BOS token to a text prompt, as TransformerLens's prepend_bos (default true;
   * no effect on a model without one or on `ids`). Positions then count the BOS as 0.
   */
  prependBos?: boolean;
  /** The metric reported at the traced position (default: see MetricRequest). */
  metric?: MetricRequest;
  /** Traced position (default: last). */
  position?: number;
  /** Target token of the circuit trace (default: the top prediction). */
  target?: TokenRef;
  /** Contrast token: trace target − contrast (logit difference). */
  contrast?: TokenRef;
  topK?: number;
  /** Include the head census (computed once per model and cached). */
  census?: boolean;
  /** Label threshold for head classes (default 0.35). */
  threshold?: number;
  /** Also compute top predictions and lens guesses at every position, and per-layer flow. */
  perPosition?: boolean;
  /** Direct logit attribution convention (default 'tl', TransformerLens's processed weights). */
  dla?: DlaMode;
}

export interface PatchRequest {
  clean?: string;
  corrupt?: string;
  /** Token ids, used exactly as given (nothing is prepended). */
  cleanIds?: number[];
  corruptIds?: number[];
  /** As AnalyzeRequest.prependBos, for both prompts; positions count the BOS as 0. */
  prependBos?: boolean;
  /** The patched metric (default: logit difference with a contrast, log-probability of the target without). */
  metric?: MetricRequest;
  target: TokenRef;
  contrast?: TokenRef;
  kind: PatchKind;
  /** Query position for 'heads-last' (default: last). */
  position?: number;
  /** For kind 'single': the one component to patch. */
  component?: { hook: PatchableAlias; layer: number; head?: number; position?: number };
}

/** The engine as its callers use it; implemented in-thread (Engine) and across a worker (EngineWorkerClient). */
export interface EngineApi {
  loadModel(spec: ModelSpec, options: LoadOptions, hooks?: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void }): Promise<LoadedModelInfo>;
  tokenize(text: string): Promise<TokenInfo[]>;
  analyze(request: AnalyzeRequest, hooks?: { signal?: AbortSignal; onLayer?: (u: AnalysisLayerUpdate) => void }): Promise<AnalysisResult>;
  patch(request: PatchRequest, hooks?: { signal?: AbortSignal; onLayer?: (layer: number) => void }): Promise<PatchSweepResult>;
  /** Circuit discovery: edge scores (EAP / EAP-IG), the circuit and its exact faithfulness, with a faithfulness curve. */
  circuit(request: CircuitRequest, hooks?: { signal?: AbortSignal }): Promise<CircuitReport>;
  /** Circuits of other sizes from a discovery's edge scores (top k, pruned), each with its exact faithfulness; nothing is re-scored. */
  circuitSizes(request: CircuitSizesRequest, hooks?: { signal?: AbortSignal }): Promise<CircuitSizesResult>;
  /** Path patching of one circuit edge out of a head (to the logits or a later head's q, k or v input). */
  checkEdge(request: EdgeCheckRequest, hooks?: { signal?: AbortSignal }): Promise<EdgeCheck>;
  /** A `@circuit` hypothesis: the named nodes' circuit, its exact faithfulness and whether it reaches the threshold. */
  checkCircuit(request: CircuitCheckRequest, hooks?: { signal?: AbortSignal }): Promise<CircuitCheckResult>;
  /** AtP / AtP* / EAP-IG node scores as layer × head and layer × position maps (denoising, as the patching sweeps). */
  attribute(request: AttributionMapRequest, hooks?: { signal?: AbortSignal; onProgress?: (p: AttributionProgress) => void }): Promise<AttributionMap>;
  /** Path patching of every sender head to the logits or chosen receivers (noising), as a layer × head map. */
  pathPatch(request: PathPatchMapRequest, hooks?: { signal?: AbortSignal; onProgress?: (p: PathPatchMapProgress) => void }): Promise<PathPatchMap>;
  dispose(): Promise<void>;
}
