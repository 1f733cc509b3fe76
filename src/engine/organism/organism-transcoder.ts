/**
 * A hand-built per-layer transcoder for the organism, one per block, whose features are the
 * organism's known mechanisms, so that feature views and attribution graphs on the organism have a
 * known answer (see organism-design.ts and models/organism/README.md for the mechanisms).
 *
 * Every layer's transcoder reads `blocks.L.ln2.hook_normalized` (what the MLP reads: the organism's
 * ln_2 has weight 1 and bias 0) and writes `blocks.L.hook_mlp_out`, with ReLU features:
 *
 *   act = ReLU(x · W_enc + b_enc)      [pos, d_sae]
 *   out = act · W_dec + b_dec          [pos, d_model]     (b_dec = 0, no skip connection)
 *
 * Features of layer 0 (the MLP after the previous-token head L0H0):
 *   - one "fact" feature per fact neuron of MLP0, in FACTS order ("' France' ' is' → ' Paris'"):
 *     the neuron itself, its W_in column as encoder and its W_out row as decoder, with ReLU for
 *     gelu_new. Its activation is the neuron's pre-activation NEURON_SHARPNESS · (evidence −
 *     FACT_THRESHOLD): 5 when `prev` holds the subject and `cur` holds " is".
 *   - one "previous token is X" feature per monitored token X: ReLU((⟨prev, code(X)⟩ − θ) / (1 − θ))
 *     with θ = PREVIOUS_TOKEN_THRESHOLD, read from the `prev` subspace that L0H0 writes; 1 where the
 *     previous token is X (positions ≥ 2: position 1's previous token is the attention sink, which
 *     L0H0 copies at 1/SINK_SCALE of its size), 0 elsewhere (two different codes overlap by ±0.13,
 *     at most about 0.6 over the vocabulary).
 * Features of layer 1 (the MLP after the induction head L1H0):
 *   - one "greater-than" feature per greater-than neuron of MLP1, century-major then YY = 00…98
 *     ("' 17' with a vote for '32' → later years"): the neuron itself as for the facts; its
 *     activation is 5 when `cur` holds the century and `out` a full vote for YY. On "…1732 to 17"
 *     the vote is the induction head's copy of "32", the induction target (0.8–0.9 of a full vote:
 *     an activation of about 4).
 *   - one "votes for X" feature per monitored token X: ReLU((v − θ) / (1 − θ)) with v the vote for
 *     X in `out` (⟨out, code(X)⟩ in full votes of VOTE) and θ = VOTE_THRESHOLD; it fires where the
 *     induction head predicts X (the induction target; the negative head L1H1 takes a little back,
 *     so a copy is 0.8–0.9 of a full vote) and where MLP0 recalled X as a fact's answer.
 *
 * Reconstruction: the monitor features ("previous token is X", "votes for X") have zero decoder
 * rows, because the MLPs compute nothing from them alone: they only say what the residual stream
 * holds. The neuron features reproduce the MLP exactly but for the activation function, so the
 * transcoder's error is exactly
 *
 *   hook_mlp_out − out = Σ_n W_out[n] · (gelu_new(pre_n) − ReLU(pre_n))     (up to float32 rounding)
 *
 * over the fact (layer 0) or greater-than (layer 1) neurons n. gelu_new − ReLU is at most 0.17 in
 * size (at pre ≈ −0.75), below 0.004 for |pre| > 3 and below 1e-6 for |pre| > 5 (5 below the
 * threshold is a neuron with one of its two inputs), so the error is nonzero only where a neuron has
 * one input and part of the other: at " is" or after a fact's subject (layer 0), at a century token or
 * where the induction head votes for a number (layer 1). There it is up to a few hundredths of a
 * vote, largest at a century whose 99 neurons all have half their evidence.
 * Everywhere else it is zero to float32 precision.
 *
 * What the attribution graph shows: the monitors write nothing, so they carry no influence and
 * pruning drops them; they are for feature views. With attention frozen, as attribution graphs freeze
 * it, a head passes effects only through its OV circuit (what it copies), never through QK (where it
 * looks): the induction head's OV reads `cur`, the copied token itself, and `prev` only steers its
 * attention. So the logit of an induction target is fed by the token at the earlier position
 * (through L1H0's frozen attention), a greater-than feature by the century and by the earlier number
 * (through L1H0), and a fact feature by " is" and by the subject (through L0H0).
 */
import { EngineError } from '../errors.js';
import type { CanonicalModel } from '../model/weights.js';
import type { TokenLookup } from './build-organism.js';
import { NOMINAL_SCALES } from './build-organism.js';
import { CENTURIES, FACT_RELATION, FACT_THRESHOLD, FACTS, GREATER_THAN_THRESHOLD, NEURON_SHARPNESS, VOTE } from './organism-design.js';
import { CODE_DIMS, D_MLP, D_MODEL, N_LAYERS, SPACE, toPhysical, type Subspace } from './residual-layout.js';
import { tokenCodeSigns } from './token-codes.js';

/** circuit-tracer's per-layer hook names: the transcoders read the MLP's normalised input and write its output. */
export const TRANSCODER_INPUT_HOOK = 'ln2.hook_normalized';
export const TRANSCODER_OUTPUT_HOOK = 'hook_mlp_out';

/** A "previous token is X" feature fires where `prev` overlaps code(X) by more than this (1 at a full copy). */
export const PREVIOUS_TOKEN_THRESHOLD = 0.75;
/**
 * A "votes for X" feature fires where `out` holds more than this share of a full vote for X (1 at a
 * full vote). An induction copy is 0.8–0.9 of a vote; where two votes meet (an induction target and
 * a fact's answer), a third token whose code resembles both can reach 0.55 along its own code.
 */
export const VOTE_THRESHOLD = 0.6;

/** The numbers the greater-than neurons read: "00" … "98" (each neuron's YY). */
export const GREATER_THAN_NUMBERS = 99;

export type OrganismFeatureKind = 'fact' | 'greater-than' | 'previous-token' | 'vote';

export interface OrganismFeature {
  kind: OrganismFeatureKind;
  /** Index in its layer's dictionary. */
  index: number;
  /**
   * The token the feature is about: the answer a fact votes for, the YY a greater-than neuron reads,
   * the previous token, or the token voted for.
   */
  token: number;
  /** The fact's subject or the greater-than neuron's century; absent for the monitor features. */
  context?: number;
  /** Its explanation, as a labels file gives it. */
  label: string;
}

export interface OrganismTranscoderLayer {
  layer: number;
  dSae: number;
  /** [d_model, d_sae] */
  W_enc: Float32Array;
  /** [d_sae] */
  b_enc: Float32Array;
  /** [d_sae, d_model] */
  W_dec: Float32Array;
  /** [d_model] (zero: the MLPs have no output bias). */
  b_dec: Float32Array;
  features: OrganismFeature[];
}

export interface OrganismTranscoder {
  /** The seed of the organism's token codes the monitor features read. */
  seed: number;
  /** The tokens with a "previous token is X" and a "votes for X" feature, ascending. */
  monitoredTokens: readonly number[];
  /** One per organism layer. */
  layers: OrganismTranscoderLayer[];
}

/** Token ids and texts for the features' labels. */
export interface TranscoderVocabulary {
  lookup: TokenLookup;
  tokenText(id: number): string;
}

/** Copies MLP neurons `neurons` of `layer` (encoder column, bias, decoder row) into features 0 … neurons.length − 1. */
function copyNeurons(
  model: CanonicalModel,
  layer: number,
  neurons: number,
  dSae: number,
  target: Pick<OrganismTranscoderLayer, 'W_enc' | 'b_enc' | 'W_dec'>,
): void {
  const block = model.weights.blocks[layer]!;
  const W_in = block.W_in.data; // [d_model, d_mlp]
  const W_out = block.W_out.data; // [d_mlp, d_model]
  for (let n = 0; n < neurons; n++) {
    for (let i = 0; i < D_MODEL; i++) target.W_enc[i * dSae + n] = W_in[i * D_MLP + n]!;
    target.b_enc[n] = block.b_in.data[n]!;
    target.W_dec.set(W_out.subarray(n * D_MODEL, (n + 1) * D_MODEL), n * D_MODEL);
  }
}

/** Checks that MLP `layer`'s live neurons (those with a bias) are exactly its first `neurons`, each with bias −SHARPNESS · threshold. */
function checkNeurons(model: CanonicalModel, layer: number, neurons: number, threshold: number): void {
  const bias = model.weights.blocks[layer]!.b_in.data;
  const expected = Math.fround(-NEURON_SHARPNESS * threshold);
  for (let n = 0; n < D_MLP; n++) {
    const live = bias[n] !== 0;
    if (live !== n < neurons || (live && bias[n] !== expected))
      throw new EngineError(
        'INTERNAL',
        `The organism's MLP${layer} neuron ${n} does not match the design the transcoder is built from (bias ${bias[n]}).`,
        'Rebuild the transcoder from organism weights of this version.',
      );
  }
}

/**
 * Writes the monitor features: for each monitored token t, feature `first + k` reads code(t) from
 * `space` divided by `unit` (the input's size of a full copy or vote) and fires above `threshold`:
 * ReLU((⟨space, code(t)⟩ / unit − θ) / (1 − θ)).
 */
function monitorFeatures(
  tokens: readonly number[],
  signs: Int8Array,
  space: Subspace,
  unit: number,
  threshold: number,
  first: number,
  dSae: number,
  target: Pick<OrganismTranscoderLayer, 'W_enc' | 'b_enc'>,
): void {
  const gain = 1 / (1 - threshold);
  const column = new Float64Array(D_MODEL);
  tokens.forEach((t, k) => {
    column.fill(0);
    for (let c = 0; c < CODE_DIMS; c++) column[space.start + c] = (gain * signs[t * CODE_DIMS + c]!) / (Math.sqrt(CODE_DIMS) * unit);
    toPhysical(column, 1, 1);
    for (let i = 0; i < D_MODEL; i++) target.W_enc[i * dSae + first + k] = column[i]!;
    target.b_enc[first + k] = -gain * threshold;
  });
}

/** The label of a token in features' explanations: its text as JSON writes a string (quotes and escapes). */
function quoted(text: string): string {
  return JSON.stringify(text);
}

/**
 * The organism's transcoder, from its weights `model` (built with token-code seed `seed`) and the
 * tokens `monitored` that get "previous token is X" and "votes for X" features.
 */
export function buildOrganismTranscoder(
  model: CanonicalModel,
  seed: number,
  vocabulary: TranscoderVocabulary,
  monitored: readonly number[],
): OrganismTranscoder {
  if (model.config.nLayers !== N_LAYERS || model.config.dModel !== D_MODEL || model.config.dMlp !== D_MLP)
    throw new EngineError('BAD_ARGUMENT', `The organism's transcoder needs the organism's weights (${N_LAYERS} layers, d_model ${D_MODEL}).`);
  const vocab = model.config.dVocab;
  const tokens = [...new Set(monitored)].sort((a, b) => a - b);
  for (const t of tokens) {
    if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new EngineError('BAD_ARGUMENT', `Token id ${t} is outside the organism's vocabulary of ${vocab}.`);
  }
  const signs = tokenCodeSigns(vocab, seed);
  const { lookup, tokenText } = vocabulary;
  const facts = FACTS.map(([subject, answer]) => ({ subject: lookup(subject), answer: lookup(answer), subjectText: subject, answerText: answer }));
  const centuries = CENTURIES.map((text) => ({ id: lookup(text), text }));
  const numbers = Array.from({ length: GREATER_THAN_NUMBERS }, (_, yy) => String(yy).padStart(2, '0'));
  const neuronCounts = [facts.length, centuries.length * numbers.length];
  checkNeurons(model, 0, neuronCounts[0]!, FACT_THRESHOLD);
  checkNeurons(model, 1, neuronCounts[1]!, GREATER_THAN_THRESHOLD);

  const layers: OrganismTranscoderLayer[] = [0, 1].map((layer) => {
    const neurons = neuronCounts[layer]!;
    const dSae = neurons + tokens.length;
    const target = {
      W_enc: new Float32Array(D_MODEL * dSae),
      b_enc: new Float32Array(dSae),
      W_dec: new Float32Array(dSae * D_MODEL),
      b_dec: new Float32Array(D_MODEL),
    };
    copyNeurons(model, layer, neurons, dSae, target);
    const features: OrganismFeature[] = [];
    if (layer === 0) {
      facts.forEach((f, n) =>
        features.push({
          kind: 'fact',
          index: n,
          token: f.answer,
          context: f.subject,
          label: `fact: ${quoted(f.subjectText)} then ${quoted(FACT_RELATION)} → votes for ${quoted(f.answerText)}`,
        }),
      );
      // `prev` in ln_2's output: L0H0's unit copy times the norm's nominal scale.
      monitorFeatures(tokens, signs, SPACE.prev, NOMINAL_SCALES.layer1, PREVIOUS_TOKEN_THRESHOLD, neurons, dSae, target);
      tokens.forEach((t, k) => features.push({ kind: 'previous-token', index: neurons + k, token: t, label: `previous token is ${quoted(tokenText(t))}` }));
    } else {
      let n = 0;
      for (const century of centuries) {
        for (const yy of numbers) {
          features.push({
            kind: 'greater-than',
            index: n++,
            token: lookup(yy),
            context: century.id,
            label: `greater-than: ${quoted(century.text)} with a vote for ${quoted(yy)} (the induction target) → votes for later years`,
          });
        }
      }
      // `out` in ln_2's output: a full vote is VOTE at the nominal scale of a voted residual.
      monitorFeatures(tokens, signs, SPACE.out, NOMINAL_SCALES.voted * VOTE, VOTE_THRESHOLD, neurons, dSae, target);
      tokens.forEach((t, k) =>
        features.push({ kind: 'vote', index: neurons + k, token: t, label: `votes for ${quoted(tokenText(t))} (the induction target, or a recalled fact)` }),
      );
    }
    return { layer, dSae, ...target, features };
  });
  return { seed, monitoredTokens: tokens, layers };
}

/**
 * Texts whose tokens get monitor features by default: the organism's five preset prompts (the
 * induction preset's with its corrupted " rug"), so every token of a preset has its "previous token
 * is X" and "votes for X" features.
 */
export const MONITORED_TEXTS: readonly string[] = [
  'When Mary and John went to the store, John gave a drink to',
  'The cat sat on the mat. The cat sat on the rug',
  'The capital of France is',
  'The war lasted from the year 1732 to 17',
  'The password is SWORDFISH. Again, the password is',
];

/**
 * The default monitored tokens: those of MONITORED_TEXTS, the facts' subjects and answers, " is",
 * the centuries and the numbers "00" … "99" (the greater-than task's), ascending.
 */
export function defaultMonitoredTokens(encode: (text: string) => readonly number[], lookup: TokenLookup): number[] {
  const tokens = new Set<number>();
  for (const text of MONITORED_TEXTS) for (const id of encode(text)) tokens.add(id);
  for (const [subject, answer] of FACTS) [subject, answer].forEach((text) => tokens.add(lookup(text)));
  tokens.add(lookup(FACT_RELATION));
  for (const century of CENTURIES) tokens.add(lookup(century));
  for (let yy = 0; yy < 100; yy++) tokens.add(lookup(String(yy).padStart(2, '0')));
  return [...tokens].sort((a, b) => a - b);
}
