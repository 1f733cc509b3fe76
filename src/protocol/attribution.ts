/**
 * Attribution maps and path-patching maps: what the Lab's attribution view asks the engine for and
 * what it draws. Everything here is structured-clone safe (typed arrays, no NaN where JSON would
 * need a value: a ratio with no denominator is null).
 *
 *  - Attribution (denoising, as the exact patching sweeps): a site's score approximates
 *    m(corrupted run with the site's clean activation patched in) − m(corrupted run), the metric m
 *    being logit(target) − logit(contrast), or log p(target) without a contrast:
 *      AtP    Σ over the site's elements of (a_clean − a_corrupt) · ∂m/∂a on the corrupted run;
 *      AtP*   AtP with the QK fix for saturated attention (Kramár et al. 2024);
 *      EAP-IG a head's outgoing EAP-IG edge scores summed (Σ_v EAP(u → v) = AtP(u), with the
 *             gradient averaged over `steps` points from the corrupted to the clean embeddings).
 *  - Path patching (noising, the IOI / ARENA convention): each sender head's corrupted output
 *    reaches the receivers along direct paths only; normalized = (patched − clean) / (clean − corrupt).
 */
import type { TokenInfo } from './analysis.js';
import type { PatchRequest } from './engine.js';

/** The attribution methods the Lab offers (EAP-IG as node scores: a head's outgoing edges summed). */
export const LAB_ATTRIBUTION_METHODS = ['atp', 'atp-star', 'eap-ig'] as const;
export type LabAttributionMethod = (typeof LAB_ATTRIBUTION_METHODS)[number];

/** The residual-stream components scored per layer and position (TransformerLens hook aliases). */
export const POSITION_COMPONENTS = ['resid_pre', 'attn_out', 'mlp_out'] as const;
export type PositionComponent = (typeof POSITION_COMPONENTS)[number];

/** The prompts and tokens of a run, as a patch sweep takes them (text with the BOS rule, or ids used as given). */
export type AttributionPrompts = Pick<PatchRequest, 'clean' | 'corrupt' | 'cleanIds' | 'corruptIds' | 'prependBos' | 'target' | 'contrast'>;

export interface AttributionMapRequest extends AttributionPrompts {
  method: LabAttributionMethod;
  /** EAP-IG's interpolation steps (default 5); only with 'eap-ig'. */
  steps?: number;
}

/** What a map was measured on: the resolved tokens, target and contrast. */
export interface MapInputs {
  targetId: number;
  target: string;
  contrastId: number | null;
  contrast: string | null;
  /** Whether a BOS was prepended to both prompts (then it is position 0). */
  prependBos: boolean;
  cleanTokens: TokenInfo[];
  corruptTokens: TokenInfo[];
  nLayers: number;
  nHeads: number;
  /** The model the map was measured on (the engine fills it in, as CircuitReport.model). */
  model?: { id: string; displayName: string };
}

export interface AttributionMap extends MapInputs {
  method: LabAttributionMethod;
  /** EAP-IG's steps; null for AtP and AtP*. */
  steps: number | null;
  /** The metric on the clean and the corrupted prompt: logit difference with a contrast, log p(target) without. */
  metric: { name: 'logit_diff' | 'log_prob'; clean: number; corrupt: number };
  /** [layer, head]: each head's score (its hook_z, summed over positions). */
  heads: Float32Array;
  /** [layer, position] per component; null for EAP-IG, whose edge scores are summed over positions. */
  positions: Record<PositionComponent, Float32Array> | null;
  elapsedMs: number;
}

/** Streamed while a map runs: `done` of `total` attribution passes. */
export interface AttributionProgress {
  done: number;
  total: number;
}

export interface PathPatchMapRequest extends AttributionPrompts {
  /** `logits`, or heads' inputs such as `L9H6:q,L9H9:q` (`LxHy:k` / `:v` name key/value heads under grouped-query attention). */
  receivers: string;
}

export interface PathPatchMapEntry {
  /** The sender head. */
  layer: number;
  head: number;
  /** logit(target) − logit(contrast) (the target logit without a contrast) with the sender's path patched. */
  logitDiff: number;
  /** (patched − clean) / (clean − corrupt): −1 when the path carries the whole difference; null when clean and corrupt agree. */
  normalized: number | null;
}

export interface PathPatchMap extends MapInputs {
  receivers: string;
  cleanLogitDiff: number;
  corruptLogitDiff: number;
  /** One per sender, layer-major (the layers before the latest receiver; every layer for `logits`). */
  entries: PathPatchMapEntry[];
  elapsedMs: number;
}

/** Streamed while path patching runs: senders measured so far, of `total`. */
export interface PathPatchMapProgress {
  done: number;
  total: number;
}
