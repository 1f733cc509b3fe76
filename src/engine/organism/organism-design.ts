/**
 * The organism's design constants and the documented role of every head and MLP: the single
 * source that the weight builder (build-organism.ts), the tests and models/organism/README.md
 * agree on.
 *
 * Attention scores below are in the units softmax sees (after GPT-2's 1/√d_head), "votes" are in
 * residual-stream units along a token's code in the `out` subspace (see residual-layout.ts).
 */

/** The seed of the built-in organism's token codes. */
export const ORGANISM_SEED = 20240601;

export const ORGANISM_DISPLAY_NAME = 'Circuit Trace organism (built in, offline)';

/** Size of the constant ballast coordinate, against unit-norm token and position codes. */
export const BALLAST = 40;
/**
 * Position 0's embedding is this many times larger than any other position's, so that LayerNorm
 * shrinks the first token's identity to 1/SINK_SCALE of its normal size there: position 0 becomes
 * an empty "attention sink", as the first token is in GPT-2.
 */
export const SINK_SCALE = 100;
/** Share of a token's embedding in `out` (what the tied unembedding reads) and in `cur`; a² + b² = 1. */
export const EMBED_OUT = Math.SQRT1_2;
export const EMBED_CUR = Math.SQRT1_2;

/**
 * Previous-token head: score = PREV_SHARPNESS · κ(i − 1 − j) (70 at j = i − 1, at most 56 elsewhere),
 * and PREV_SINK at position 0, which has no positional code: between the two, so that position 1
 * attends to position 0 (its own score is 7 κ(−1) ≈ 46) and later positions never do.
 */
export const PREV_SHARPNESS = 7;
export const PREV_SINK = 58;

/**
 * Duplicate-token head: score = DUP_MATCH · (normalised overlap of the first 44 code dims) − DUP_SELF · κ(i − j)
 * for j ≥ 1, and DUP_SINK at position 0. Its own position scores DUP_MATCH − 10 DUP_SELF, an earlier
 * occurrence at least DUP_MATCH − 8 DUP_SELF (κ ≤ 8 off the diagonal): the sink sits 12 between them.
 * A different token scores at most 0.64 DUP_MATCH + 5.13 DUP_SELF, below the sink by 12 or more.
 */
export const DUP_MATCH = 500;
export const DUP_SELF = 12;
export const DUP_SINK = DUP_MATCH - 9 * DUP_SELF;
/** The duplicate-token head's output: SEEN_FLAG along `seen` when it found an earlier occurrence. */
export const SEEN_FLAG = 1;

/** Induction head: score = IND_MATCH · ⟨code(t_i), prev_j⟩, plus at the sink IND_SINK_NEW (token not seen before) … IND_SINK_SEEN (seen). */
export const IND_MATCH = 50;
export const IND_SINK_NEW = 35;
export const IND_SINK_SEEN = 12;

/** A full vote: the induction head writes VOTE · code(copied token) into `out`. */
export const VOTE = 14;
/**
 * The negative head: score = NEGATIVE_MATCH · ⟨code(t_i), prev_j⟩, the induction head's QK at 1/50 of
 * its strength, so its attention stays diffuse (the induction target gets e/(e + i) of it at query i,
 * 0.2 on the induction preset); it writes −NEGATIVE_VOTE × what it attends to into `out`.
 */
export const NEGATIVE_MATCH = 1;
export const NEGATIVE_VOTE = 10;
/** Logit of a full vote, set through ln_final's gain (with the ballast, ln_final's scale barely varies). */
export const VOTE_LOGIT = 15;

/** MLP neurons: gelu(SHARPNESS · (evidence − threshold)), evidence normalised to 1 per matching feature. */
export const NEURON_SHARPNESS = 10;
/** Fact neurons fire on (previous token = subject) AND (current token = relation): evidence 2 > 1.5. */
export const FACT_THRESHOLD = 1.5;
/**
 * Greater-than neurons, one per (century token, two-digit number YY): they fire when the current
 * token is the century (e.g. " 17") AND the vote for YY is a full one: evidence 2 > 1.5.
 */
export const GREATER_THAN_THRESHOLD = 1.5;
export const CENTURIES: readonly string[] = [' 17', ' 18', ' 19', ' 20'];
/** A firing greater-than neuron for YY removes GT_SUPPRESS votes from YY and adds GT_BOOST · GT_DECAY^k to YY + 1 + k. */
export const GT_SUPPRESS = 1.3;
export const GT_BOOST = 1.4;
export const GT_DECAY = 0.5;
/** How many later numbers a greater-than neuron boosts. */
export const GT_SPAN = 8;

/** The relation token of the fact lookup, and (subject, answer) pairs: all single GPT-2 tokens. */
export const FACT_RELATION = ' is';
export const FACTS: ReadonlyArray<readonly [subject: string, answer: string]> = [
  [' France', ' Paris'],
  [' Germany', ' Berlin'],
  [' Italy', ' Rome'],
  [' Spain', ' Madrid'],
  [' Japan', ' Tokyo'],
  [' China', ' Beijing'],
  [' Russia', ' Moscow'],
  [' England', ' London'],
  [' Egypt', ' Cairo'],
  [' Canada', ' Ottawa'],
];

export type OrganismHeadRole = 'previous-token' | 'duplicate-token' | 'induction' | 'negative' | 'idle';

export interface OrganismHead {
  layer: number;
  head: number;
  role: OrganismHeadRole;
  /** What the head-class analyses should call it (census and the prompt's own classes). */
  expectedLabel: 'previous-token' | 'duplicate-token' | 'induction' | 'diffuse';
  summary: string;
}

/** Every head of the organism, layer-major. */
export const ORGANISM_HEADS: readonly OrganismHead[] = [
  {
    layer: 0,
    head: 0,
    role: 'previous-token',
    expectedLabel: 'previous-token',
    summary: 'Attends from each position to the one before (positional QK); copies that token into `prev`.',
  },
  {
    layer: 0,
    head: 1,
    role: 'duplicate-token',
    expectedLabel: 'duplicate-token',
    summary: 'Attends to earlier occurrences of the current token (token QK, minus its own position); writes the `seen` flag.',
  },
  { layer: 0, head: 2, role: 'idle', expectedLabel: 'diffuse', summary: 'Unused (zero weights): uniform attention, no output.' },
  { layer: 0, head: 3, role: 'idle', expectedLabel: 'diffuse', summary: 'Unused (zero weights): uniform attention, no output.' },
  {
    layer: 1,
    head: 0,
    role: 'induction',
    expectedLabel: 'induction',
    summary:
      'Queries with the current token, keys with `prev` (K-composition with L0H0), sink score lowered by `seen` (Q-composition with L0H1); copies the attended token into `out`.',
  },
  {
    layer: 1,
    head: 1,
    role: 'negative',
    expectedLabel: 'diffuse',
    summary:
      'Diffuse attention, weakly drawn to the induction target (the induction QK at 1/50 strength); writes minus what it reads into `out`: a soft copy-suppression head with negative direct effect on the copied token.',
  },
  { layer: 1, head: 2, role: 'idle', expectedLabel: 'diffuse', summary: 'Unused (zero weights): uniform attention, no output.' },
  { layer: 1, head: 3, role: 'idle', expectedLabel: 'diffuse', summary: 'Unused (zero weights): uniform attention, no output.' },
];

export function organismHead(role: Exclude<OrganismHeadRole, 'idle'>): OrganismHead {
  const head = ORGANISM_HEADS.find((h) => h.role === role);
  if (!head) throw new Error(`the organism has no ${role} head`);
  return head;
}
