/**
 * Attribution patching and edge attribution: what is asked for and what comes back.
 *  - AtP (Nanda 2023), denoising: score(site) = Σ over the site's elements of (a_clean − a_corrupt) · ∂m/∂a,
 *    the gradient taken on the corrupted run.
 *  - AtP* (Kramár et al. 2024): AtP with the QK fix (a head's query and key contributions with the
 *    attention pattern recomputed exactly) and, as an option, GradDrop.
 *  - EAP (Syed et al. 2023): score(u → v) = Σ over positions of (out_u[clean] − out_u[corrupt]) · ∂m/∂input_v.
 *  - EAP-IG (Hanna et al. 2024): EAP with ∂m/∂input_v averaged over `steps` points between the
 *    corrupted and the clean input embeddings.
 */
import type { ScoredEdge } from '../../protocol/circuit.js';

export const ATTRIBUTION_METHODS = ['atp', 'atp-star', 'eap', 'eap-ig'] as const;
export type AttributionMethod = (typeof ATTRIBUTION_METHODS)[number];

export const ATTRIBUTION_KINDS = ['heads', 'resid', 'attn-out', 'mlp-out', 'neurons', 'edges'] as const;
export type AttributionKind = (typeof ATTRIBUTION_KINDS)[number];

/** EAP-IG's most interpolation steps: each is a forward and a backward of the model. */
export const MAX_IG_STEPS = 100;
export const DEFAULT_IG_STEPS = 5;

export interface AttributionRequest {
  cleanIds: readonly number[];
  corruptIds: readonly number[];
  targetId: number;
  /** null: the metric is log p(target); else logit(target) − logit(contrast). */
  contrastId: number | null;
  method: AttributionMethod;
  kind: AttributionKind;
  /** Heads: one score per head and position instead of per head. */
  perPosition?: boolean;
  /** EAP-IG's interpolation steps (default DEFAULT_IG_STEPS). */
  steps?: number;
  /** AtP*: GradDrop (Kramár et al. eq. 11), the mean over dropped layers of |AtP with that layer's gradient dropped|. */
  gradDrop?: boolean;
}

/** A node's score: a head (`head`), a neuron (`neuron`) or a layer's component, at a position or summed over them. */
export interface NodeScore {
  layer: number;
  head?: number;
  neuron?: number;
  position?: number;
  score: number;
}

export interface AttributionResult {
  method: AttributionMethod;
  kind: AttributionKind;
  /** The metric on the clean and the corrupted prompt. */
  metric: { clean: number; corrupt: number };
  entries: Array<NodeScore | ScoredEdge>;
  elapsedMs: number;
}

export interface AttributionOptions {
  signal?: AbortSignal;
  /** Scores as they are ready (a layer's, from the last layer down; edges once, at the end). */
  onEntries?: (entries: NodeScore[] | ScoredEdge[]) => void;
}
