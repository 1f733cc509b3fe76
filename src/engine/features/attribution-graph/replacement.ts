/**
 * The local replacement model of one prompt (circuit-tracer's setup_attribution): one forward of
 * the real model with the hooks it needs, each layer's transcoder input encoded, and what the
 * linearised backward freezes:
 *
 *  - active features: every (layer, position, feature) with a non-zero activation, in (layer, position,
 *    feature) order; each writes activation · W_dec[f] / s_p at its output hooks (s_p: the encoder's
 *    input normalisation, 1 for transcoders) and reads its encoder column s_p · W_enc[:, f];
 *  - error nodes: per (layer, position) the true MLP output minus the reconstruction
 *    (Σ decoder writes + b_dec / s_p + the skip path x · W_skip);
 *  - token nodes: hook_embed per position (position embeddings are a constant of the linear model);
 *  - the attention patterns and the scales of ln1, ln2, Gemma's post-attention norm and ln_final;
 *    and an SAE-style input normalisation's factor s_p (constant_norm_rescale's sqrt(d_in) / ‖x‖ is
 *    frozen like a norm's scale).
 *
 * Gemma 2's final logit soft-cap is outside the linear model: logit nodes are the pre-softcap logits
 * (demeaned), while their selection uses the model's (capped) probabilities, as circuit-tracer's.
 *
 * As circuit-tracer's zero_bos, features and errors at position 0 are zeroed when it holds the
 * model's BOS: the BOS position's MLP output is then a constant of the graph (part of the bias).
 */
import { topKIndices } from '../../analysis/top-k.js';
import { EngineError, throwIfCancelled } from '../../errors.js';
import type { ActivationCache, HookName } from '../../hooks.js';
import { layerHook } from '../../hooks/names.js';
import { hasHook, hookPoint } from '../../hooks/registry.js';
import { graphFamily, type ModelConfig } from '../../model/config.js';
import { firstNonFiniteIndex } from '../../model/finite-check.js';
import type { MatmulSessions } from '../../runtime/matmul-session.js';
import type { ForwardRunner } from '../../runtime/types.js';
import type { DictionaryLayer } from '../dictionary.js';
import { dictionaryHookSources, dictionaryInput } from '../dictionary-input.js';
import { encodeLayer } from '../encode.js';
import { inputHookKind } from './replacement-check.js';

export interface ActiveFeatures {
  count: number;
  /** Per active feature, in (layer, position, feature) order. */
  layer: Int32Array;
  position: Int32Array;
  feature: Int32Array;
  activation: Float32Array;
  /** The encoder's pre-activation (the feature node's value in the linear model). */
  preActivation: Float32Array;
  /** First index of each layer's features, [n_layers + 1]. */
  layerStart: Int32Array;
}

/** The decoder writes landing at one layer's output hook: which feature, at which position, what vector. */
export interface LayerWrites {
  /** Index into the active features, per write. */
  feature: Int32Array;
  position: Int32Array;
  /** [writes, d_model]: activation · decoder row / s_p. */
  vectors: Float32Array;
}

/** What the linearised backward of one layer holds fixed. */
export interface FrozenLayer {
  /** [head, key, query] */
  patternT: Float32Array;
  /** 1 / ln1 scale per position, [pos] */
  invScale1: Float32Array;
  /** 1 / ln2 scale per position, [pos] */
  invScale2: Float32Array;
  /** Gemma: 1 / ln1_post scale per position, [pos]; else null. */
  invScalePost1: Float32Array | null;
  /** [pos, d_model] */
  errors: Float32Array;
  writes: LayerWrites;
}

export interface LogitTargets {
  tokens: number[];
  probabilities: number[];
  /** Per logit: the gradient injected at the final residual stream's last position, [d_model] (the demeaned unembedding column through the frozen ln_final). */
  injections: Float32Array[];
  /** The demeaned logits, logit[t] − mean over the vocabulary (Gemma: before the final soft-cap). */
  values: number[];
}

export interface ReplacementModel {
  ids: readonly number[];
  nPos: number;
  features: ActiveFeatures;
  layers: FrozenLayer[];
  /** hook_embed, [pos, d_model] */
  tokenVectors: Float32Array;
  logits: LogitTargets;
  /** Per layer: the input normalisation factor s_p of the encoder ([pos]). */
  inputScales: Float64Array[];
  /** Whether position 0's features and errors were zeroed (zero_bos). */
  zeroedBos: boolean;
  /** Milliseconds of the forward and the encodings. */
  elapsedMs: number;
}

export interface ReplacementOptions {
  /** Logit targets: at most this many (circuit-tracer's max_n_logits, default 10)... */
  maxLogits?: number;
  /** ...and no more than until their cumulative probability reaches this (desired_logit_prob, default 0.95). */
  logitProbability?: number;
  /** Zero position 0's features and errors when it is the model's BOS (default true, as circuit-tracer). */
  zeroBos?: boolean;
  signal?: AbortSignal;
}

/** The hooks the replacement model's forward needs. */
function neededHooks(config: ModelConfig, dictionary: readonly DictionaryLayer[]): HookName[] {
  const family = graphFamily(config);
  const hooks = new Set<HookName>(['hook_embed', 'ln_final.hook_scale', 'logits']);
  const has = (name: Parameters<typeof hookPoint>[0]): boolean => hasHook(hookPoint(name), family);
  for (let l = 0; l < config.nLayers; l++) {
    hooks.add(layerHook(l, 'attn.hook_pattern'));
    hooks.add(layerHook(l, 'hook_mlp_out'));
    hooks.add(layerHook(l, 'hook_resid_pre'));
    if (config.parallelResidual !== true) hooks.add(layerHook(l, 'hook_resid_mid'));
    if (has('ln1.hook_scale')) hooks.add(layerHook(l, 'ln1.hook_scale'));
    if (has('ln2.hook_scale')) hooks.add(layerHook(l, 'ln2.hook_scale'));
    if (has('ln1_post.hook_scale')) hooks.add(layerHook(l, 'ln1_post.hook_scale'));
    for (const h of dictionaryHookSources(dictionary[l]!.inputHook, config)) hooks.add(h);
  }
  hooks.add(layerHook(config.nLayers - 1, 'hook_resid_post'));
  return [...hooks];
}

function cached(cache: ActivationCache, name: HookName): Float32Array {
  const t = cache.get(name);
  if (!t) throw new EngineError('INTERNAL', `The replacement model's forward did not return ${name}.`);
  return t.data;
}

/** 1 / scale per position of a norm: the cached hook_scale where the family has it, else recomputed from its input stream. */
function inverseScales(cache: ActivationCache, config: ModelConfig, scaleHook: HookName | null, stream: Float32Array, P: number): Float32Array {
  const out = new Float32Array(P);
  if (scaleHook && cache.has(scaleHook)) {
    const s = cached(cache, scaleHook);
    for (let p = 0; p < P; p++) out[p] = 1 / s[p]!;
    return out;
  }
  const D = config.dModel;
  const rms = config.norm === 'rmsnorm';
  for (let p = 0; p < P; p++) {
    let mean = 0;
    if (!rms) {
      for (let i = 0; i < D; i++) mean += stream[p * D + i]!;
      mean /= D;
    }
    let sq = 0;
    for (let i = 0; i < D; i++) sq += (stream[p * D + i]! - mean) ** 2;
    out[p] = 1 / Math.sqrt(sq / D + config.eps);
  }
  return out;
}

/** Builds the replacement model of `ids` (see the file comment). */
export async function buildReplacementModel(
  runner: ForwardRunner,
  matmul: MatmulSessions,
  dictionary: readonly DictionaryLayer[],
  ids: readonly number[],
  options: ReplacementOptions = {},
): Promise<ReplacementModel> {
  const started = performance.now();
  const { config, weights } = runner;
  const { nLayers: L, dModel: D, nHeads: H } = config;
  const P = ids.length;
  const family = graphFamily(config);
  const { cache } = await runner.forward(ids, {
    hooks: neededHooks(config, dictionary),
    logitPositions: [P - 1],
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const zeroedBos = (options.zeroBos ?? true) && config.bosTokenId !== null && ids[0] === config.bosTokenId;

  // Encode every layer: activations, pre-activations, the input normalisation.
  const perLayer: Array<{ acts: Float32Array; pre: Float32Array; inputScale: Float64Array; input: Float32Array }> = [];
  for (let l = 0; l < L; l++) {
    throwIfCancelled(options.signal);
    const layer = dictionary[l]!;
    const x = dictionaryInput(layer.inputHook, cache, config, weights, layer.processing);
    const enc = await encodeLayer(matmul, layer, x);
    if (zeroedBos) enc.acts.fill(0, 0, layer.dSae);
    perLayer.push({ acts: enc.acts, pre: enc.pre, inputScale: enc.inputScale, input: x.data });
  }

  // Active features in (layer, position, feature) order.
  let count = 0;
  for (const { acts } of perLayer) for (let i = 0; i < acts.length; i++) if (acts[i] !== 0) count++;
  const features: ActiveFeatures = {
    count,
    layer: new Int32Array(count),
    position: new Int32Array(count),
    feature: new Int32Array(count),
    activation: new Float32Array(count),
    preActivation: new Float32Array(count),
    layerStart: new Int32Array(L + 1),
  };
  let k = 0;
  perLayer.forEach(({ acts, pre }, l) => {
    features.layerStart[l] = k;
    const S = dictionary[l]!.dSae;
    for (let p = 0; p < P; p++)
      for (let f = 0; f < S; f++) {
        const a = acts[p * S + f]!;
        if (a === 0) continue;
        features.layer[k] = l;
        features.position[k] = p;
        features.feature[k] = f;
        features.activation[k] = a;
        features.preActivation[k] = pre[p * S + f]!;
        k++;
      }
  });
  features.layerStart[L] = k;

  // Decoder writes per output layer, and the reconstruction.
  const writes: Array<{ feature: number[]; position: number[]; vectors: Float32Array[] }> = Array.from({ length: L }, () => ({
    feature: [],
    position: [],
    vectors: [],
  }));
  const recon = Array.from({ length: L }, () => new Float64Array(P * D));
  for (let l = 0; l < L; l++) {
    throwIfCancelled(options.signal);
    const layer = dictionary[l]!;
    const start = features.layerStart[l]!;
    const end = features.layerStart[l + 1]!;
    const rowsWanted = Array.from(features.feature.subarray(start, end));
    const s = perLayer[l]!.inputScale;
    layer.outputHooks.forEach((_, i) => {
      const out = l + i;
      const rows = rowsWanted.length > 0 ? layer.decoder(i).rows(rowsWanted) : new Float32Array(0);
      const bad = firstNonFiniteIndex(rows);
      if (bad >= 0)
        throw new EngineError(
          'NON_FINITE',
          `The dictionary's layer ${l} decoder has a non-finite value in feature ${rowsWanted[Math.floor(bad / D)]}.`,
          'The dictionary file is damaged.',
        );
      const bDec = layer.b_dec[i]!;
      for (let p = 0; p < P; p++) for (let j = 0; j < D; j++) recon[out]![p * D + j]! += bDec[j]! / s[p]!;
      for (let r = 0; r < rowsWanted.length; r++) {
        const idx = start + r;
        const p = features.position[idx]!;
        const scale = features.activation[idx]! / s[p]!;
        const v = new Float32Array(D);
        for (let j = 0; j < D; j++) {
          v[j] = rows[r * D + j]! * scale;
          recon[out]![p * D + j]! += v[j]!;
        }
        writes[out]!.feature.push(idx);
        writes[out]!.position.push(p);
        writes[out]!.vectors.push(v);
      }
    });
    if (layer.W_skip) {
      const skip = await matmul.batchedMatmul(perLayer[l]!.input, layer.W_skip, 1, P, D, D);
      for (let i = 0; i < P * D; i++) recon[l]![i]! += skip[i]!;
    }
  }

  const frozen: FrozenLayer[] = [];
  for (let l = 0; l < L; l++) {
    const pattern = cached(cache, layerHook(l, 'attn.hook_pattern')); // [head, query, key]
    const patternT = new Float32Array(H * P * P);
    for (let h = 0; h < H; h++) for (let q = 0; q < P; q++) for (let kk = 0; kk < P; kk++) patternT[(h * P + kk) * P + q] = pattern[(h * P + q) * P + kk]!;
    const residPre = cached(cache, layerHook(l, 'hook_resid_pre'));
    const mlpStream = config.parallelResidual === true ? residPre : cached(cache, layerHook(l, 'hook_resid_mid'));
    const hasScale = (name: 'ln1.hook_scale' | 'ln2.hook_scale'): HookName | null => (hasHook(hookPoint(name), family) ? layerHook(l, name) : null);
    // The true MLP output as the dictionary's model holds it (centred with center_writing_weights), as its reconstruction is.
    const mlpOut = dictionaryInput(layerHook(l, 'hook_mlp_out'), cache, config, weights, dictionary[l]!.processing).data;
    const errors = new Float32Array(P * D);
    for (let i = zeroedBos ? D : 0; i < P * D; i++) errors[i] = mlpOut[i]! - recon[l]![i]!;
    const w = writes[l]!;
    const vectors = new Float32Array(w.vectors.length * D);
    w.vectors.forEach((v, i) => vectors.set(v, i * D));
    let invScalePost1: Float32Array | null = null;
    if (config.postNorms === true) {
      const s = cached(cache, layerHook(l, 'ln1_post.hook_scale'));
      invScalePost1 = Float32Array.from(s, (x) => 1 / x);
    }
    frozen.push({
      patternT,
      invScale1: inverseScales(cache, config, hasScale('ln1.hook_scale'), residPre, P),
      invScale2: inverseScales(cache, config, hasScale('ln2.hook_scale'), mlpStream, P),
      invScalePost1,
      errors,
      writes: { feature: Int32Array.from(w.feature), position: Int32Array.from(w.position), vectors },
    });
    // Kept only for the input-hook check: every layer's input hook must be the MLP's input.
    inputHookKind(dictionary[l]!, config);
  }

  const logits = logitTargets(runner, cache, options);
  return {
    ids,
    nPos: P,
    features,
    layers: frozen,
    tokenVectors: Float32Array.from(cached(cache, 'hook_embed')),
    logits,
    inputScales: perLayer.map((x) => x.inputScale),
    zeroedBos,
    elapsedMs: performance.now() - started,
  };
}

/**
 * circuit-tracer's compute_salient_logits: the most probable tokens at the last position until
 * their cumulative probability reaches `logitProbability`, at most `maxLogits`; each target's
 * direction is its unembedding column minus the mean column (the demeaned logit), read through
 * ln_final frozen at its scale.
 */
function logitTargets(runner: ForwardRunner, cache: ActivationCache, options: ReplacementOptions): LogitTargets {
  const { config, weights } = runner;
  const D = config.dModel;
  const V = config.dVocab;
  const maxLogits = options.maxLogits ?? 10;
  const wanted = options.logitProbability ?? 0.95;
  const logits = cached(cache, 'logits'); // [1, vocab]: the last position only
  let max = -Infinity;
  for (let t = 0; t < V; t++) max = Math.max(max, logits[t]!);
  const probs = new Float64Array(V);
  let z = 0;
  for (let t = 0; t < V; t++) z += probs[t] = Math.exp(logits[t]! - max);
  const order = topKIndices(logits.subarray(0, V), maxLogits);
  // torch.searchsorted(cumsum, p) + 1: up to and including the first token whose cumulative probability reaches p.
  let cumulative = 0;
  let cutoff = order.length;
  for (let i = 0; i < order.length; i++) {
    cumulative += probs[order[i]!]! / z;
    if (cumulative >= wanted) {
      cutoff = i + 1;
      break;
    }
  }
  const tokens = order.slice(0, cutoff);

  // The mean unembedding column and the mean of the bias, over the vocabulary.
  const U = weights.W_U_T.data; // [vocab, d_model]
  const meanU = new Float64Array(D);
  for (let t = 0; t < V; t++) for (let i = 0; i < D; i++) meanU[i]! += U[t * D + i]!;
  for (let i = 0; i < D; i++) meanU[i]! /= V;
  const P = cache.get('hook_embed')!.shape[0]!;
  const scale = cached(cache, 'ln_final.hook_scale')[P - 1]!;
  const lnw = weights.ln_final.w.data;
  const lnb = weights.ln_final.b.data;
  const rms = config.norm === 'rmsnorm';
  const final = cached(cache, layerHook(config.nLayers - 1, 'hook_resid_post')).subarray((P - 1) * D, P * D);
  let finalMean = 0;
  if (!rms) for (let i = 0; i < D; i++) finalMean += final[i]! / D;
  let meanBias = 0;
  for (let t = 0; t < V; t++) meanBias += weights.b_U.data[t]! / V;

  const injections: Float32Array[] = [];
  const values: number[] = [];
  for (const t of tokens) {
    const g = new Float64Array(D);
    let value = weights.b_U.data[t]! - meanBias;
    for (let i = 0; i < D; i++) {
      const u = U[t * D + i]! - meanU[i]!;
      g[i] = (u * lnw[i]!) / scale;
      value += (((final[i]! - finalMean) / scale) * lnw[i]! + (rms ? 0 : lnb[i]!)) * u;
    }
    if (!rms) {
      let m = 0;
      for (let i = 0; i < D; i++) m += g[i]! / D;
      for (let i = 0; i < D; i++) g[i]! -= m;
    }
    injections.push(Float32Array.from(g));
    values.push(value);
  }
  return { tokens, probabilities: tokens.map((t) => probs[t]! / z), injections, values };
}
