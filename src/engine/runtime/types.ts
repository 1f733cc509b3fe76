/**
 * The contract of the instrumented forward pass. Implemented by `InstrumentedModel`
 * (runtime/instrumented-model.ts) in-thread, and proxied by the worker client.
 */
import type { ActivationCache, HookName } from '../hooks.js';
import type { HeadPatchedHook, RowPatchedHook, StreamPatchedHook } from '../hooks/registry.js';
import type { Tensor } from '../tensor.js';

export type DeviceRequest = 'auto' | 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu';

export interface ForwardOptions {
  /** Hook points to return; 'all' for every one. Only these leave the graph. Default: ['logits']. */
  hooks?: readonly HookName[] | 'all';
  /** Called as each layer finishes with that layer's requested hooks. */
  onLayer?: (layer: number, hooks: ActivationCache) => void;
  signal?: AbortSignal;
  /** Positions whose logits are computed (default: all). The `logits` hook is then [n, vocab]. */
  logitPositions?: readonly number[];
  /** Also return every layer's keys and values (see ForwardResult.keysValues). */
  keepKeysValues?: boolean;
}

export interface ForwardResult {
  cache: ActivationCache;
  /** The execution provider actually used. */
  provider: string;
  /** Wall time of the forward alone (no model load), in milliseconds. */
  elapsedMs: number;
  /**
   * With `keepKeysValues`: each layer's keys and values of every position, [pos, kv_head, d_head] (kv_head = head without GQA),
   * to run later passes against them.
   */
  keysValues?: KeysValues[];
  /** With `scoreTokens`: per logit position (row) and scored token (column), [n, t] row-major. */
  tokenScores?: TokenScores;
}

/** Logits and probabilities of chosen tokens, [position, token] row-major. */
export interface TokenScores {
  logits: Float32Array;
  probs: Float32Array;
}

/** Keys and values of one layer: [pos, head, d_head] each (TransformerLens's hook_k / hook_v layout). */
export interface KeysValues {
  k: Float32Array;
  v: Float32Array;
}

/**
 * A per-head replacement, of a head's output (hook_z) by default: for variant `b` of a batch, head
 * `head` of `layer` at `positions` (all positions when omitted) takes the values of `value`
 * ([pos, d_head] for the full prompt; rows not in `positions` are ignored).
 */
export interface ZPatch {
  layer: number;
  /** Which per-head hook: attn.hook_z (default), or the head's input attn.hook_q / hook_k / hook_v (path patching's receivers). */
  hook?: HeadPatchedHook;
  /** A kv head for hook_k / hook_v under grouped-query attention. */
  head: number;
  positions?: readonly number[];
  /** [pos, d_head] */
  value: Tensor;
}

/** Replace a residual-stream or sublayer output at chosen positions. */
export interface StreamPatch {
  layer: number;
  /** Which activation of `layer` to overwrite (the registry's patchable d_model hooks). */
  hook: StreamPatchedHook | RowPatchedHook;
  positions?: readonly number[];
  /** [pos, d_model] */
  value: Tensor;
}

/** One variant of a batched intervention run. */
export interface InterventionVariant {
  zPatches?: readonly ZPatch[];
  streamPatches?: readonly StreamPatch[];
  /**
   * Start at this layer (default 0, the embeddings) from the given residual stream (`resid_pre`
   * of `startLayer`, [pos, d_model], needed above 0); layers below are not run for this variant.
   * A start point belongs to a variant only: variants that start at different layers run as one
   * wavefront, each joining the batch at its layer, so every layer's weights are read once for all.
   */
  startLayer?: number;
  startResid?: Tensor;
  /**
   * This variant's own prompt, of the request's length (default: the request's `ids`), run from
   * its embeddings; with `queryFrom` it must match the request's before that position. One batch
   * can so run a clean and a corrupted prompt together.
   */
  ids?: readonly number[];
}

export interface InterventionRequest {
  ids: readonly number[];
  variants: readonly InterventionVariant[];
  /** Hooks to return per variant (default ['logits']). */
  hooks?: readonly HookName[] | 'all';
  /** Positions whose logits are computed (default: all run positions). */
  logitPositions?: readonly number[];
  /**
   * Incremental pass: run only query positions `queryFrom`.. (the last ones) at every layer from
   * each variant's `startLayer` on, attending to the given keys/values of positions 0..queryFrom-1 (one entry per
   * layer, from a cached run with `keepKeysValues`). Exact when nothing before `queryFrom` changes.
   * Hook tensors then cover only the run positions; `startResid` and patches still use full-prompt
   * positions (rows before `queryFrom` are ignored).
   */
  queryFrom?: number;
  past?: readonly KeysValues[];
  /** Return each variant's keys and values of every layer (ForwardResult.keysValues); every variant must start at layer 0. */
  keepKeysValues?: boolean;
  /**
   * Run the blocks below this layer only (default n_layers: every block, then the final one). An
   * earlier end skips what a caller does not read (path patching's receivers sit in a middle
   * layer); such a run returns no logits or scores, and keysValues only of the layers run.
   */
  endLayer?: number;
  /**
   * Score these tokens at every logit position of every variant (ForwardResult.tokenScores): their
   * logits and softmax probabilities over the whole vocabulary, computed where the logits are.
   * Without 'logits' among the hooks, the logits themselves then never leave ONNX Runtime.
   */
  scoreTokens?: readonly number[];
  signal?: AbortSignal;
}

/**
 * A packed run (activation patching's fast path): prompts of one length and patched copies of
 * their last positions ("branches") run as the rows of one sequence per block call, each row
 * attending only to what its own run would see (an additive mask over the packed rows). So one
 * call per layer serves the prompts and every branch, every branch's patch values can come from a
 * prompt row computed in the same call, and each layer's weights are read once for all of them.
 * Exact for models whose blocks see positions only through the residual stream (GPT-2's absolute
 * position embeddings).
 */
export interface PackedRunRequest {
  /** Prompts of one length, run in full from their embeddings (e.g. a sweep's clean and corrupted prompts). */
  prompts: ReadonlyArray<readonly number[]>;
  branches: readonly PackedBranch[];
  /** Tokens scored at the last position of every prompt and branch: logits and whole-vocabulary probabilities. */
  scoreTokens: readonly number[];
  signal?: AbortSignal;
}

/**
 * Prompt `prompt` from position `from` on, joining the run at `layer` from the prompt's resid_pre
 * there: it attends to the prompt's positions before `from` (as the prompt computes them in the same
 * run) and to its own positions, and at `layer` its hook_z of `zFrom.heads` at `zFrom.positions`
 * (default: from..) takes prompt `zFrom.prompt`'s values there. The same as running the whole
 * prompt with that patch, when nothing before `from` changes.
 */
export interface PackedBranch {
  prompt: number;
  from: number;
  layer: number;
  zFrom: { prompt: number; heads: readonly number[]; positions?: readonly number[] };
}

export interface PackedRunResult {
  /** Token scores at the last position of each prompt, then of each branch: [t] each. */
  prompts: TokenScores[];
  branches: TokenScores[];
  provider: string;
  elapsedMs: number;
}

/** A loaded model that can run instrumented forwards. Implemented by runtime/instrumented-model.ts. */
export interface ForwardRunner {
  readonly config: import('../model/config.js').ModelConfig;
  /** The weights the analyses read (see AnalysisWeights). */
  readonly weights: import('../model/weights.js').AnalysisWeights;
  /** Execution provider actually in use ("cpu", "cuda", ...). */
  readonly provider: string;
  forward(ids: readonly number[], options?: ForwardOptions): Promise<ForwardResult>;
  /** Runs every variant of the request (batched) and returns one result per variant, in order. */
  intervene(request: InterventionRequest): Promise<ForwardResult[]>;
  /** Runs prompts and patched branches as one packed sequence per block call (see PackedRunRequest). */
  runPacked(request: PackedRunRequest): Promise<PackedRunResult>;
  dispose(): Promise<void>;
}
