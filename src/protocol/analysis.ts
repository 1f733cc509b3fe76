/**
 * The analysis result: what the engine's `analyze()` returns, what the CLI prints as JSON,
 * what the host sends to webviews and what Export Analysis writes. Large arrays are typed
 * arrays (they cross worker and webview boundaries as transferable buffers); `toJSON` helpers in
 * `./json.ts` turn them into plain number arrays for export.
 *
 * Shapes are named in brackets, batch dimension dropped, TransformerLens order.
 */

/** One token of the prompt as the model sees it. */
export interface TokenInfo {
  id: number;
  /** The decoded text of this token (a leading space is part of it, as in GPT-2: " mat"). */
  text: string;
  /** Character offsets [start, end) of this token in the prompt text. */
  start: number;
  end: number;
  /** True for a BOS the engine prepended (TransformerLens `prepend_bos`): position 0, no text in the prompt (start = end = 0). */
  bos?: boolean;
  /** True when start/end are a best guess: the model's tokenizer changed the text before splitting it (a normalizer), or an unknown token stands for text it does not spell. */
  approximateSpan?: boolean;
}

/** One candidate next token. */
export interface Prediction {
  tokenId: number;
  token: string;
  prob: number;
  logit: number;
}

export type HeadLabel = 'previous-token' | 'duplicate-token' | 'induction' | 'diffuse' | 'no evidence';

/**
 * The prompt's own head-class scores. `null` means undefined on this prompt
 * (e.g. duplicate and induction scores on a prompt with no repeated token).
 */
export interface HeadScores {
  previous: number | null;
  duplicate: number | null;
  induction: number | null;
}

/** Everything the UI shows about one attention head. */
export interface HeadSummary {
  layer: number;
  head: number;
  /** TransformerLens-style head name, e.g. "L9H6". */
  name: string;
  label: HeadLabel;
  scores: HeadScores;
  /** Mean over queries of the attention distribution's entropy, in nats. */
  entropy: number;
  /** `entropy` divided by its maximum log(query + 1), averaged over queries; in [0, 1]. */
  entropyNormalized: number;
  /** Mean over queries q ≥ 1 of the largest attention weight (query 0 always puts 1 on its only key). */
  concentration: number;
  /** The head's output norm: mean over positions of ‖z · W_O[h]‖ (b_O left out). */
  outputNorm: number;
  /** Direct logit attribution of this head to the trace's metric at the traced position. */
  dla: number;
}

/** One number per census class. */
export interface CensusScoreSet {
  previous: number;
  duplicate: number;
  induction: number;
}

/**
 * The prompt-independent head census (TransformerLens head-detector scores on repeated random
 * tokens). `previous`, `duplicate` and `induction` are normalised by the class's ceiling (1 = a
 * perfect head); the label's threshold applies to them.
 */
export interface CensusEntry {
  layer: number;
  head: number;
  /** raw.previous / ceiling.previous */
  previous: number;
  /** raw.duplicate / ceiling.duplicate */
  duplicate: number;
  /** raw.induction / ceiling.induction */
  induction: number;
  /** TransformerLens's detector scores as `detect_head` returns them (averaged over the probe batch). */
  raw: CensusScoreSet;
  label: HeadLabel;
}

export interface HeadCensus {
  /** Number of sequences and their layout ([BOS,] R of `halfLength` random tokens, R again). */
  batch: number;
  /** Whether each probe sequence starts with the model's BOS (the analysis's prependBos rule). */
  prependBos: boolean;
  halfLength: number;
  seed: number;
  threshold: number;
  /**
   * The largest raw score each class can reach on the probe: the share of queries with any
   * detection cell (with BOS: 2N/(2N+1) previous-token, N/(2N+1) duplicate-token and induction).
   */
  ceiling: CensusScoreSet;
  entries: CensusEntry[];
  /**
   * Set only on a census read back from a file saved before normalisation existed (legacy-json.ts):
   * the scores are TransformerLens's raw detector scores, `previous`/`duplicate`/`induction` equal
   * `raw`, `ceiling` is 1 for each class, and the labels were made on the raw scores.
   */
  unnormalised?: true;
}

export type ComponentKind = 'head' | 'mlp' | 'embed' | 'pos_embed' | 'bias';

/** One component's direct contribution to the traced metric. */
export interface TraceComponent {
  /** "L9H6", "mlp3", "embed", "pos_embed" or "bias". */
  name: string;
  kind: ComponentKind;
  layer?: number;
  head?: number;
  value: number;
}

export interface TracePathNode {
  layer: number;
  head: number;
  value: number;
}

export interface TracePathEdge {
  from: { layer: number; head: number };
  to: { layer: number; head: number };
  /** Product of the magnitudes of the two ends, normalised to the largest edge (for stroke width). */
  weight: number;
}

/**
 * Which convention a direct logit attribution follows:
 * 'tl': TransformerLens's processed weights (`from_pretrained` defaults: value biases, with ln1's
 * bias folded in, move into b_O, so a head is (z − b_V − ln1.b W_V) W_O and the constant is in
 * 'bias'; in 'logit' mode the unembedding is centred over the vocabulary, so the metric is the
 * logit minus the mean logit); 'raw': the checkpoint's weights as they are (a head is z W_O).
 */
export type DlaMode = 'tl' | 'raw';

/** Direct logit attribution (TransformerLens `apply_ln_to_stack` semantics). */
export interface CircuitTrace {
  /** The attribution convention (see DlaMode); the engine always fills it. Absent in results made before it existed: 'raw'. */
  dla?: DlaMode;
  /** Query position that was traced (default: the last). */
  position: number;
  targetId: number;
  target: string;
  contrastId: number | null;
  contrast: string | null;
  /** 'logit' traces the target logit, 'logit_diff' the target minus the contrast. */
  metric: 'logit' | 'logit_diff';
  /**
   * The model's final logit soft-cap (Gemma 2's final_logit_softcapping: logits are cap · tanh(x / cap)),
   * or null. With one, the metric, every component, `total` and `actual` are of the logits BEFORE the
   * soft-cap (the pre-softcap logit), the only ones that decompose into a sum. Absent in results made
   * before it existed: null.
   */
  logitSoftcap?: number | null;
  /** [layer, head] */
  heads: Float32Array;
  /** [layer] */
  mlp: Float32Array;
  embed: number;
  /** null for rotary models (Llama family): they have no position embedding, so no such component. */
  posEmbed: number | null;
  /**
   * Sum of every bias term's contribution (b_O, b_out, ln_final bias, b_U; with dla 'tl' also every
   * head's folded value bias (b_V + ln1.b W_V) W_O, and b_U centred over the vocabulary in 'logit'
   * mode); for logit_diff, its difference.
   */
  bias: number;
  /** Sum of every component; equals `actual` (up to float32 rounding of the cached activations). */
  total: number;
  /**
   * The model's own value of the metric: the logit difference, or the logit ('tl': minus the mean
   * logit over the vocabulary at the position, as TransformerLens's centred unembedding gives it).
   */
  actual: number;
  /** Every component sorted by |value|, largest first. */
  components: TraceComponent[];
  /** Per head, the split of its contribution by source position: [layer, head, key]. */
  headBySource: Float32Array;
  /** Top-N heads per layer by |contribution|. */
  topPath: TracePathNode[][];
  edges: TracePathEdge[];
}

/** The logit lens at one depth of the residual stream. */
export interface LensLayer {
  /** "resid_pre 0" ... "resid_pre L-1", then "resid_post L-1" (the final residual stream). */
  label: string;
  /** Top guesses at the traced position. */
  top: Prediction[];
  /** Target token's probability and rank (0 = top) at this depth. */
  targetProb: number;
  targetRank: number;
}

export interface LogitLens {
  position: number;
  targetId: number;
  layers: LensLayer[];
  /** When asked for: top-1 guess at every position, [depth][position]. */
  perPosition: Prediction[][] | null;
}

/** Aggregate token-to-token attention for the arc diagram. */
export interface TokenFlow {
  /** Attention summed over every layer and head: [query, key]. */
  total: Float32Array;
  /** When asked for, per layer (summed over heads): [layer, query, key]. */
  perLayer: Float32Array | null;
}

export interface ModelInfo {
  /** Registry name or path the user chose. */
  id: string;
  displayName: string;
  nLayers: number;
  nHeads: number;
  dModel: number;
  dHead: number;
  dVocab: number;
  nCtx: number;
}

export interface AnalysisResult {
  model: ModelInfo;
  /** The execution provider actually used (e.g. "cpu", "cuda"). */
  device: string;
  prompt: string;
  /** Whether a BOS was prepended: then tokens[0] is it and every position counts it (position 0). */
  prependBos: boolean;
  tokens: TokenInfo[];
  /** Top-k next tokens at the traced position. */
  predictions: Prediction[];
  /** When asked for: top-k at every position, [position][k]. */
  predictionsPerPosition: Prediction[][] | null;
  /** One per head, layer-major. */
  heads: HeadSummary[];
  /** Attention patterns: [layer, head, query, key]. */
  attention: Float32Array;
  census: HeadCensus | null;
  trace: CircuitTrace;
  lens: LogitLens;
  flow: TokenFlow;
  /** Label threshold used for head classes. */
  threshold: number;
  /** The request's metric at the traced position, from the final logits (see MetricName). */
  metric: MetricValue;
  elapsedMs: number;
}

/**
 * A scalar read from the final logits at one position:
 * 'logit_diff': logit(target) − logit(contrast) (with a contrast);
 * 'log_prob': log_softmax(logits)[target] (without a contrast);
 * 'prob_diff_greater_than': Hanna et al. 2023's probability difference Σ_{y > YY} p(y) − Σ_{y ≤ YY} p(y)
 * over the two-digit year tokens "00".."99", YY the start year.
 */
export type MetricName = 'logit_diff' | 'log_prob' | 'prob_diff_greater_than';

export interface MetricValue {
  name: MetricName;
  /** NaN (unknown) only in a result read back from a file saved before metrics existed that holds too little to recompute it (legacy-json.ts). */
  value: number;
  /** For 'prob_diff_greater_than': the start year YY (0..99). */
  startYear?: number;
}

/** What streams while an analysis runs: one message per finished layer. */
export interface AnalysisLayerUpdate {
  layer: number;
  nLayers: number;
  /** This layer's attention patterns: [head, query, key]. */
  pattern: Float32Array;
}

export type PatchKind = 'heads-last' | 'heads-all' | 'resid' | 'attn' | 'mlp' | 'single';

export interface PatchBaseline {
  /** The sweep's metric (PatchSweepResult.metric). */
  value: number;
  /** logit(target) − logit(contrast), or the target logit without a contrast. */
  logitDiff: number;
  prob: number;
}

export interface PatchEntry {
  layer: number;
  head?: number;
  position?: number;
  /** The sweep's metric (PatchSweepResult.metric). */
  value: number;
  logitDiff: number;
  prob: number;
  /** (patched − corrupted) / (clean − corrupted) on the sweep's metric (`value`). */
  recovery: number;
}

export interface PatchSweepResult {
  kind: PatchKind;
  targetId: number;
  target: string;
  contrastId: number | null;
  contrast: string | null;
  /** What `value` and `recovery` measure at the last position (see MetricName). */
  metric: MetricName;
  /** For 'prob_diff_greater_than': the start year YY (0..99). */
  startYear?: number;
  /** Whether a BOS was prepended to both prompts: then it is position 0 of cleanTokens, corruptTokens and every entry. */
  prependBos: boolean;
  cleanTokens: TokenInfo[];
  corruptTokens: TokenInfo[];
  clean: PatchBaseline;
  corrupt: PatchBaseline;
  entries: PatchEntry[];
  elapsedMs: number;
}
