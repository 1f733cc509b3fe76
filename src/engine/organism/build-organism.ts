/**
 * Builds the organism's weights by hand: a GPT-2 (pre-LN blocks, gelu_new MLPs, learned positions,
 * ln_final, unembedding tied to the embedding) whose heads and MLP neurons implement the circuits
 * documented in organism-design.ts and models/organism/README.md. Nothing is trained.
 *
 * Every block reads LayerNorm(x) = x · s with s = 1 / sqrt(|x|² / d_model + eps): the residual
 * stays orthogonal to the all-ones direction (residual-layout.ts), and the ballast coordinate
 * dominates its norm, so s is a known constant per layer and each weight below divides it out.
 * Query/key weights also absorb GPT-2's 1/√d_head, so that the scores are those of the design.
 */
import { EngineError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import type { BlockWeights, CanonicalModel, LayerNormWeights } from '../model/weights.js';
import { tensor } from '../tensor.js';
import {
  BALLAST,
  CENTURIES,
  DUP_MATCH,
  DUP_SELF,
  DUP_SINK,
  EMBED_CUR,
  EMBED_OUT,
  FACT_RELATION,
  FACT_THRESHOLD,
  FACTS,
  GREATER_THAN_THRESHOLD,
  GT_BOOST,
  GT_DECAY,
  GT_SPAN,
  GT_SUPPRESS,
  IND_MATCH,
  IND_SINK_NEW,
  IND_SINK_SEEN,
  NEGATIVE_MATCH,
  NEGATIVE_VOTE,
  NEURON_SHARPNESS,
  PREV_SHARPNESS,
  PREV_SINK,
  SEEN_FLAG,
  SINK_SCALE,
  VOTE,
  VOTE_LOGIT,
} from './organism-design.js';
import { positionalCode, previousPositionRotation } from './positional-code.js';
import {
  CODE_DIMS,
  coord,
  D_HEAD,
  D_MLP,
  D_MODEL,
  DUP_CODE_DIMS,
  N_CTX,
  N_HEADS,
  N_LAYERS,
  POS_DIMS,
  POS_FREQUENCIES,
  SPACE,
  SUM_CORRECTION,
  toPhysical,
  type Subspace,
} from './residual-layout.js';
import { tokenCodeSigns } from './token-codes.js';

export const ORGANISM_VOCAB = 50257;
const END_OF_TEXT_ID = 50256;
const LN_EPS = 1e-5;

/** Looks up the id of a string that must be exactly one GPT-2 token (e.g. " Paris"). */
export type TokenLookup = (text: string) => number;

export const ORGANISM_CONFIG: ModelConfig = {
  modelType: 'gpt2',
  nLayers: N_LAYERS,
  dModel: D_MODEL,
  nHeads: N_HEADS,
  dHead: D_HEAD,
  dMlp: D_MLP,
  dVocab: ORGANISM_VOCAB,
  nCtx: N_CTX,
  eps: LN_EPS,
  actFn: 'gelu_new',
  bosTokenId: END_OF_TEXT_ID,
};

/** LayerNorm's scale 1 / sqrt(var + eps) of a centred residual vector of squared norm `normSq`. */
function lnScale(normSq: number): number {
  return 1 / Math.sqrt(normSq / D_MODEL + LN_EPS);
}

/** GPT-2's gelu (tanh approximation), for the output gains of MLP neurons. */
function geluNew(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/** The nominal LayerNorm scales the weights are built for (positions ≥ 1). */
export const NOMINAL_SCALES = (() => {
  const embedding = BALLAST ** 2 + 1 + 1; // ballast, token code, position code
  const afterLayer0 = embedding + 1; // + the previous token's code
  const withVote = afterLayer0 + VOTE ** 2; // + one full vote in `out`
  return {
    /** Layer 0's LayerNorms. */
    layer0: lnScale(embedding),
    /**
     * Position 0's, in every layer: its embedding is SINK_SCALE × (ballast + sink), which dwarfs its
     * token and whatever the layers add there; the scale of that coordinate after LayerNorm is this.
     */
    sink: lnScale(BALLAST ** 2 + 1),
    /** Layer 1's ln_1 and layer 0's ln_2. */
    layer1: lnScale(afterLayer0),
    /** Layer 1's ln_2 and ln_final when a vote is present. */
    voted: lnScale(withVote),
  };
})();

/** A logical [outer, D_MODEL, inner] array with named-subspace setters. */
class Logical {
  readonly data: Float64Array;
  constructor(
    readonly outer: number,
    readonly inner: number,
  ) {
    this.data = new Float64Array(outer * D_MODEL * inner);
  }
  set(o: number, space: Subspace, i: number, c: number, value: number): void {
    this.data[(o * D_MODEL + coord(space, i)) * this.inner + c] = value;
  }
  /** The physical float32 tensor of the given shape. */
  physical(shape: number[]): ReturnType<typeof tensor> {
    const copy = this.data.slice();
    toPhysical(copy, this.outer, this.inner);
    return tensor(new Float32Array(copy), shape);
  }
}

const zeros = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
const layerNorm = (gain: number): LayerNormWeights => ({ w: tensor(new Float32Array(D_MODEL).fill(gain), [D_MODEL]), b: zeros([D_MODEL]) });

/**
 * The organism as canonical weights. `lookup` resolves the fact and number tokens; `seed` picks the
 * token codes (the built-in organism uses ORGANISM_SEED).
 */
export function buildOrganism(lookup: TokenLookup, seed: number): CanonicalModel {
  const signs = tokenCodeSigns(ORGANISM_VOCAB, seed);
  // Imported bindings are read into locals: the hot loops below run 3M times.
  const codeDims = CODE_DIMS;
  const dModel = D_MODEL;
  const unit = 1 / Math.sqrt(codeDims);
  const code = (t: number, i: number): number => signs[t * codeDims + i]! * unit;
  const { layer0: s0, layer1: s1, voted: sV, sink: sSink } = NOMINAL_SCALES;
  const K = POS_FREQUENCIES;
  const dh = D_HEAD;
  const sinkDim = dh - 1; // the query/key dimension of the attention sink

  // --- Embeddings -------------------------------------------------------------------------------
  // W_E[t] = a·code(t) in `out` + b·code(t) in `cur`.  [vocab, d_model]
  // Each row is its logical entries plus (Σ entries) · SUM_CORRECTION (see residual-layout.ts),
  // a correction that is the same on every dimension but the last: the row is mostly one fill.
  const W_E = new Float32Array(ORGANISM_VOCAB * dModel);
  const outStart = SPACE.out.start;
  const curStart = SPACE.cur.start;
  const outScale = EMBED_OUT * unit;
  const curScale = EMBED_CUR * unit;
  const shared = SUM_CORRECTION[0]!;
  const last = SUM_CORRECTION[dModel - 1]!;
  for (let t = 0; t < ORGANISM_VOCAB; t++) {
    const base = t * dModel;
    let signSum = 0;
    for (let i = 0; i < codeDims; i++) signSum += signs[t * codeDims + i]!;
    const sum = (outScale + curScale) * signSum;
    W_E.fill(sum * shared, base, base + dModel - 1);
    W_E[base + dModel - 1] = sum * last;
    for (let i = 0; i < codeDims; i++) {
      const sign = signs[t * codeDims + i]!;
      W_E[base + outStart + i] = sum * shared + outScale * sign;
      W_E[base + curStart + i] = sum * shared + curScale * sign;
    }
  }
  // W_pos[n] = ballast + p(n); position 0 is SINK_SCALE × (ballast + sink): the sink has a unit
  // vector where other positions have their positional code, so every position's norm is the same
  // after LayerNorm, and no head's positional score reaches position 0.  [n_ctx, d_model]
  const W_pos = new Logical(N_CTX, 1);
  W_pos.set(0, SPACE.ballast, 0, 0, SINK_SCALE * BALLAST);
  W_pos.set(0, SPACE.sink, 0, 0, SINK_SCALE);
  for (let n = 1; n < N_CTX; n++) {
    W_pos.set(n, SPACE.ballast, 0, 0, BALLAST);
    const p = positionalCode(n);
    for (let i = 0; i < POS_DIMS; i++) W_pos.set(n, SPACE.pos, i, 0, p[i]!);
  }

  // --- Layer 0 ----------------------------------------------------------------------------------
  const q0 = new Logical(N_HEADS, dh),
    k0 = new Logical(N_HEADS, dh),
    v0 = new Logical(N_HEADS, dh),
    o0 = new Logical(N_HEADS * dh, 1);
  const bQ0 = new Float32Array(N_HEADS * dh);
  // L0H0, previous token: q = A·R p(i), k = p(j)  ->  score = PREV_SHARPNESS · κ(i − 1 − j).
  const R = previousPositionRotation();
  const aPrev = (8 * PREV_SHARPNESS * K) / s0 ** 2;
  for (let c = 0; c < POS_DIMS; c++) {
    for (let r = 0; r < POS_DIMS; r++) if (R[c * POS_DIMS + r] !== 0) q0.set(0, SPACE.pos, r, c, aPrev * R[c * POS_DIMS + r]!);
    k0.set(0, SPACE.pos, c, c, 1);
  }
  k0.set(0, SPACE.sink, 0, sinkDim, 1);
  bQ0[0 * dh + sinkDim] = (8 * PREV_SINK) / sSink;
  // It copies the attended token's `cur` code into `prev`, at unit norm.
  for (let c = 0; c < CODE_DIMS; c++) {
    v0.set(0, SPACE.cur, c, c, 1);
    o0.set(0 * dh + c, SPACE.prev, c, 0, 1 / (s0 * EMBED_CUR));
  }
  // L0H1, duplicate token: the first DUP_CODE_DIMS code dimensions, normalised so a match scores DUP_MATCH;
  // minus DUP_SELF · κ(i − j) to keep off its own position; DUP_SINK at the sink (position 0).
  const aDup = (8 * DUP_MATCH * (CODE_DIMS / DUP_CODE_DIMS)) / (s0 ** 2 * EMBED_CUR ** 2);
  for (let c = 0; c < DUP_CODE_DIMS; c++) {
    q0.set(1, SPACE.cur, c, c, aDup);
    k0.set(1, SPACE.cur, c, c, 1);
  }
  const aSelf = (8 * DUP_SELF * K) / s0 ** 2;
  for (let i = 0; i < POS_DIMS; i++) {
    q0.set(1, SPACE.pos, i, DUP_CODE_DIMS + i, -aSelf);
    k0.set(1, SPACE.pos, i, DUP_CODE_DIMS + i, 1);
  }
  k0.set(1, SPACE.sink, 0, sinkDim, 1);
  bQ0[1 * dh + sinkDim] = (8 * DUP_SINK) / sSink;
  // Its value is 1 at every position but the sink, where ballast / B − sink = 0: the `seen` flag.
  v0.set(1, SPACE.ballast, 0, 0, 1 / (BALLAST * s0));
  v0.set(1, SPACE.sink, 0, 0, -1 / s0);
  o0.set(1 * dh + 0, SPACE.seen, 0, 0, SEEN_FLAG);

  // --- Layer 1 ----------------------------------------------------------------------------------
  const q1 = new Logical(N_HEADS, dh),
    k1 = new Logical(N_HEADS, dh),
    v1 = new Logical(N_HEADS, dh),
    o1 = new Logical(N_HEADS * dh, 1);
  const bQ1 = new Float32Array(N_HEADS * dh);
  // L1H0, induction: q = code(t_i) from `cur`, k = `prev` (K-composition with L0H0)  ->  IND_MATCH · ⟨code(t_i), prev_j⟩.
  const aInd = (8 * IND_MATCH) / (s1 ** 2 * EMBED_CUR);
  for (let c = 0; c < CODE_DIMS; c++) {
    q1.set(0, SPACE.cur, c, c, aInd);
    k1.set(0, SPACE.prev, c, c, 1);
  }
  // The sink scores IND_SINK_NEW, lowered to IND_SINK_SEEN by the `seen` flag (Q-composition with L0H1).
  k1.set(0, SPACE.sink, 0, sinkDim, 1);
  bQ1[0 * dh + sinkDim] = (8 * IND_SINK_NEW) / sSink;
  q1.set(0, SPACE.seen, 0, sinkDim, -(8 * (IND_SINK_NEW - IND_SINK_SEEN)) / (s1 * SEEN_FLAG * sSink));
  // It copies the attended token into `out` with a full vote.
  for (let c = 0; c < CODE_DIMS; c++) {
    v1.set(0, SPACE.cur, c, c, 1);
    o1.set(0 * dh + c, SPACE.out, c, 0, VOTE / (s1 * EMBED_CUR));
  }
  // L1H1, negative: the induction QK, weakly (diffuse attention leaning to the induction target);
  // writes minus what it reads into `out`.
  const aNeg = (8 * NEGATIVE_MATCH) / (s1 ** 2 * EMBED_CUR);
  for (let c = 0; c < CODE_DIMS; c++) {
    q1.set(1, SPACE.cur, c, c, aNeg);
    k1.set(1, SPACE.prev, c, c, 1);
    v1.set(1, SPACE.cur, c, c, 1);
    o1.set(1 * dh + c, SPACE.out, c, 0, -NEGATIVE_VOTE / (s1 * EMBED_CUR));
  }

  // --- MLP 0: fact lookup -------------------------------------------------------------------------
  const gain = geluNew(NEURON_SHARPNESS * 0.5); // a neuron's output at evidence = threshold + 1/2
  const in0 = new Logical(1, D_MLP),
    out0 = new Logical(D_MLP, 1);
  const bIn0 = new Float32Array(D_MLP);
  const relation = lookup(FACT_RELATION);
  FACTS.forEach(([subject, answer], n) => {
    const s = lookup(subject);
    const a = lookup(answer);
    // evidence = ⟨prev, code(subject)⟩ + ⟨cur, code(" is")⟩ / b, each 1 when present.
    for (let c = 0; c < CODE_DIMS; c++) {
      in0.set(0, SPACE.prev, c, n, (NEURON_SHARPNESS * code(s, c)) / s1);
      in0.set(0, SPACE.cur, c, n, (NEURON_SHARPNESS * code(relation, c)) / (s1 * EMBED_CUR));
      out0.set(n, SPACE.out, c, 0, (VOTE * code(a, c)) / gain);
    }
    bIn0[n] = -NEURON_SHARPNESS * FACT_THRESHOLD;
  });

  // --- MLP 1: greater-than on years ----------------------------------------------------------------
  const in1 = new Logical(1, D_MLP),
    out1 = new Logical(D_MLP, 1);
  const bIn1 = new Float32Array(D_MLP);
  const numbers = Array.from({ length: 100 }, (_, yy) => lookup(String(yy).padStart(2, '0')));
  let neuron = 0;
  for (const century of CENTURIES.map(lookup)) {
    for (let yy = 0; yy < 99; yy++, neuron++) {
      const from = numbers[yy]!;
      // evidence = ⟨cur, code(century)⟩ / b + (vote for YY in `out`, in full votes).
      for (let c = 0; c < CODE_DIMS; c++) {
        in1.set(0, SPACE.cur, c, neuron, (NEURON_SHARPNESS * code(century, c)) / (sV * EMBED_CUR));
        in1.set(0, SPACE.out, c, neuron, (NEURON_SHARPNESS * code(from, c)) / (sV * VOTE));
      }
      bIn1[neuron] = -NEURON_SHARPNESS * GREATER_THAN_THRESHOLD;
      // Take YY's vote away and give it to the numbers after YY, the next one most.
      const write = new Float64Array(CODE_DIMS);
      for (let c = 0; c < CODE_DIMS; c++) write[c] = -GT_SUPPRESS * code(from, c);
      for (let k = 0; k < GT_SPAN && yy + 1 + k < 100; k++) {
        const to = numbers[yy + 1 + k]!;
        for (let c = 0; c < CODE_DIMS; c++) write[c] = write[c]! + GT_BOOST * GT_DECAY ** k * code(to, c);
      }
      for (let c = 0; c < CODE_DIMS; c++) out1.set(neuron, SPACE.out, c, 0, (VOTE * write[c]!) / gain);
    }
  }

  const block = (q: Logical, k: Logical, v: Logical, o: Logical, bQ: Float32Array, wIn: Logical, bIn: Float32Array, wOut: Logical): BlockWeights => ({
    ln1: layerNorm(1),
    W_Q: q.physical([N_HEADS, D_MODEL, dh]),
    W_K: k.physical([N_HEADS, D_MODEL, dh]),
    W_V: v.physical([N_HEADS, D_MODEL, dh]),
    b_Q: tensor(bQ, [N_HEADS, dh]),
    b_K: zeros([N_HEADS, dh]),
    b_V: zeros([N_HEADS, dh]),
    W_O: o.physical([N_HEADS, dh, D_MODEL]),
    b_O: zeros([D_MODEL]),
    ln2: layerNorm(1),
    W_in: wIn.physical([D_MODEL, D_MLP]),
    b_in: tensor(bIn, [D_MLP]),
    W_out: wOut.physical([D_MLP, D_MODEL]),
    b_out: zeros([D_MODEL]),
  });

  const W_E_t = tensor(W_E, [ORGANISM_VOCAB, dModel]);
  return {
    config: ORGANISM_CONFIG,
    weights: {
      W_E: W_E_t,
      W_pos: W_pos.physical([N_CTX, D_MODEL]),
      blocks: [block(q0, k0, v0, o0, bQ0, in0, bIn0, out0), block(q1, k1, v1, o1, bQ1, in1, bIn1, out1)],
      // The logit of a full vote is VOTE_LOGIT: ⟨W_U[t], g s (VOTE a code(t))⟩ = g s a VOTE.
      ln_final: layerNorm(VOTE_LOGIT / (sV * EMBED_OUT * VOTE)),
      W_U_T: W_E_t,
      b_U: zeros([ORGANISM_VOCAB]),
    },
  };
}

/** A TokenLookup over a byte-level BPE vocabulary (tokenizer.json's model.vocab). */
export function vocabLookup(vocab: Readonly<Record<string, number>>, toByteLevel: (text: string) => string): TokenLookup {
  return (text) => {
    const id = vocab[toByteLevel(text)];
    if (id === undefined)
      throw new EngineError(
        'BAD_TOKENIZER',
        `The organism needs ${JSON.stringify(text)} to be one GPT-2 token, but the vocabulary has no such token.`,
        'Reinstall the extension; its GPT-2 vocabulary is damaged.',
      );
    return id;
  };
}
