/**
 * The circuit trace: direct logit attribution (DLA) of the target token's logit, or of the logit
 * difference target − contrast, at one position, with TransformerLens `apply_ln_to_stack`
 * semantics.
 *
 * The final residual stream is a sum of components,
 *   resid = embed + pos_embed + Σ_L (Σ_h z_h W_O[h] + b_O[L]) + Σ_L (mlp_L + b_out[L]),
 * and the logit is ln_final(resid) · W_U[:, t] + b_U[t] with
 *   ln_final(resid) = (resid − mean(resid)) / scale · w + b.
 * Centring is linear, so with the cached scale (`ln_final.hook_scale` at the position) each
 * component c contributes
 *   (c − mean(c)) / scale · (w ⊙ u),   u = W_U[:, t]  (− W_U[:, contrast] for the logit difference),
 * and those contributions plus b · u + b_U[t] (− b_U[contrast]) sum exactly to the logit.
 * Equivalently c · ũ / scale with ũ = w ⊙ u − mean(w ⊙ u), which is what is computed (float64).
 *
 * Two conventions (DlaMode), the same decomposition with different bookkeeping:
 *
 * 'raw' (the checkpoint's weights): every head is z @ W_O[h] (z includes the value bias, so
 * b_V[h] W_O[h] and ln1.b W_V[h] W_O[h] count as the head's), every MLP layer is hook_mlp_out
 * minus b_out (the W_out part; b_out is a constant, not something the MLP computed from the
 * prompt), embed, pos_embed, and 'bias' = Σ_L (b_O[L] + b_out[L]) centred and scaled like any
 * residual component, plus ln_final.b · u and b_U[t] (− b_U[contrast]), which sit after the
 * LayerNorm and are neither centred nor scaled.
 *
 * 'tl' (the default): the weights as `HookedTransformer.from_pretrained` processes them
 * (fold_ln, center_writing_weights, center_unembed, fold_value_biases):
 *   - fold_ln folds ln1's w and b into W_V and b_V, so TransformerLens's value bias of head h is
 *     b_V[h] + ln1.b · W_V[h]; fold_value_biases moves it, times W_O[h], into b_O (attention
 *     sums to 1 over keys, so it is a constant of the layer). A head's contribution is therefore
 *     (z − b_V − ln1.b W_V)[h] · W_O[h], and that constant joins 'bias'.
 *   - center_unembed subtracts the mean over the vocabulary from W_U's columns and from b_U:
 *     u = W_U[:, t] − mean_v W_U[:, v], and b_U[t] − mean(b_U). The traced metric is then the
 *     logit minus the mean logit at the position (TransformerLens's logits), and `actual` is that.
 *     In logit-difference mode the means cancel exactly.
 *   - fold_ln of ln_final (W_U ← diag(w) W_U, b_U ← b_U + b · W_U) and center_writing_weights
 *     (every write into the residual stream made mean-zero over d_model) change no component's
 *     contribution: apply_ln_to_stack centres each component anyway (so its mean, and W_U's
 *     mean over d_model, drop out) and w, b appear above exactly where the folding puts them.
 *     They are not applied; test/fixtures/tl-semantics checks this against the processing done
 *     literally.
 * Both conventions sum exactly to their metric; in logit-difference mode both sum to the same
 * logit difference and differ only in where the value biases are booked.
 *
 * `logits` may hold every position or only the traced one (see logits-row.ts).
 *
 * RMSNorm models (the Llama family): ln_final(resid) = resid / scale · w, no centring and no b,
 * so each component c contributes c · (w ⊙ u) / scale and ũ = w ⊙ u is not centred over
 * d_model. TransformerLens's processing for them (process_weights_ with normalization_type RMS)
 * folds w into W_V and W_U (no biases to fold), skips center_writing_weights (it warns that the
 * writing weights can't be centred), and still applies center_unembed and fold_value_biases
 * (value biases only where the checkpoint has them, e.g. Qwen2). There is no hook_pos_embed
 * (rotary positions): the pos_embed component is absent (posEmbed null), and MLPs have no b_out.
 * Grouped-query attention: query head h reads kv head h // (nHeads / nKvHeads), whose W_V, b_V
 * the per-source split uses.
 *
 * GPT-NeoX (Pythia): LayerNorm as GPT-2 (centring, ln1.b folded into the value bias in 'tl'), and,
 * like the Llama family, rotary positions (no pos_embed component). With the parallel residual
 * resid_post = resid_pre + attn_out + mlp_out, so the final stream is the same sum of components.
 *
 * Gemma (config.postNorms): the attention output is RMS-normed before it joins the residual stream,
 * hook_attn_out = ln1_post(Σ_h z_h W_O[h]) = (Σ_h z_h W_O[h]) ⊙ w_post / s_post, with s_post the
 * cached `ln1_post.hook_scale` at the position. Frozen at that scale, as TransformerLens's
 * apply_ln_to_stack freezes ln_final's, the norm is linear, so head h contributes
 * z_h W_O[h] ⊙ w_post / s_post and the heads sum exactly to hook_attn_out; hook_mlp_out is after
 * its post-norm already. With a final logit soft-cap (Gemma 2's cap · tanh(logit / cap)), which is
 * not linear, every value here is of the logit BEFORE the cap (`logitSoftcap` says so), and `actual`
 * is the model's capped logit mapped back through cap · atanh(logit / cap).
 *
 * Split by source position: head h's output at the query is Σ_k attn[h, q, k] · v[k, h] @ W_O[h],
 * with v recomputed from the cached `blocks.L.hook_resid_pre` through ln1, W_V and b_V ('tl': without
 * ln1.b and b_V), so the parts over keys k sum to the head's total (up to float32 rounding of the
 * cached activations).
 */
import type { CircuitTrace, DlaMode, TraceComponent, TracePathEdge, TracePathNode } from '../../protocol/analysis.js';
import { EngineError } from '../errors.js';
import { layerHook, type ActivationCache, type HookName } from '../hooks.js';
import type { ModelConfig } from '../model/config.js';
import type { AnalysisWeights } from '../model/weights.js';
import type { Tensor } from '../tensor.js';
import { applyModelNorm } from './model-norm.js';
import { logitsRow } from './logits-row.js';
import { meanOf, unembedVocabMean } from './unembed-vocab-mean.js';

export const DEFAULT_TOP_PATH_WIDTH = 3;
export const DEFAULT_DLA_MODE: DlaMode = 'tl';
const DLA_MODES: readonly DlaMode[] = ['tl', 'raw'];

export interface CircuitTraceInput {
  cache: ActivationCache;
  config: ModelConfig;
  weights: AnalysisWeights;
  /** Traced query position. */
  position: number;
  targetId: number;
  /** Trace target − contrast when set. */
  contrastId: number | null;
  tokenText: (id: number) => string;
  /** Heads per layer on the top path (default 3). */
  topN?: number;
  /** Attribution convention (default 'tl', see the top of this file). */
  dla?: DlaMode;
}

/** The hooks `circuitTrace` reads (no hook_pos_embed for rotary models; Gemma's ln1_post scales). */
export function circuitTraceHooks(nLayers: number, config: Pick<ModelConfig, 'positional' | 'postNorms'> = {}): HookName[] {
  const hooks: HookName[] = config.positional === 'rotary' ? ['hook_embed'] : ['hook_embed', 'hook_pos_embed'];
  for (let l = 0; l < nLayers; l++) {
    hooks.push(layerHook(l, 'hook_resid_pre'), layerHook(l, 'attn.hook_pattern'), layerHook(l, 'attn.hook_z'), layerHook(l, 'hook_mlp_out'));
    if (config.postNorms === true) hooks.push(layerHook(l, 'ln1_post.hook_scale'));
  }
  hooks.push('ln_final.hook_scale', 'logits');
  return hooks;
}

export function requireHook(cache: ActivationCache, name: HookName): Tensor {
  const t = cache.get(name);
  if (!t) throw new EngineError('INTERNAL', `The forward pass did not return ${name}.`);
  return t;
}

/** x[offset .. offset + u.length) · u */
function dotAt(x: Float32Array, offset: number, u: Float64Array): number {
  let s = 0;
  for (let i = 0; i < u.length; i++) s += x[offset + i]! * u[i]!;
  return s;
}

export function circuitTrace(input: CircuitTraceInput): CircuitTrace {
  const { cache, config, weights, position: pos, targetId, contrastId, tokenText } = input;
  const { nLayers, nHeads, dModel, dHead } = config;
  const rms = config.norm === 'rmsnorm';
  const group = nHeads / (config.nKvHeads ?? nHeads); // query heads per kv head
  const topN = input.topN ?? DEFAULT_TOP_PATH_WIDTH;
  const dla = input.dla ?? DEFAULT_DLA_MODE;
  if (!DLA_MODES.includes(dla))
    throw new EngineError('BAD_ARGUMENT', `Unknown DLA mode "${String(dla)}".`, `Use ${DLA_MODES.map((m) => `'${m}'`).join(' or ')}.`);
  const nPos = requireHook(cache, 'hook_embed').shape[0] ?? 0;
  const vocab = config.dVocab;
  if (!Number.isInteger(pos) || pos < 0 || pos >= nPos) throw new EngineError('BAD_ARGUMENT', `Position ${pos} is outside the prompt (0..${nPos - 1}).`);
  for (const id of [targetId, contrastId]) {
    if (id !== null && (!Number.isInteger(id) || id < 0 || id >= vocab))
      throw new EngineError('BAD_ARGUMENT', `Token id ${id} is outside the vocabulary (0..${vocab - 1}).`);
  }
  const softcap = config.finalSoftcap ?? null;
  // [vocab]; with a final soft-cap, the logits before it.
  const logits = softcap === null ? logitsRow(cache, pos, nPos) : Float64Array.from(logitsRow(cache, pos, nPos), (x) => softcap * Math.atanh(x / softcap));

  // 'tl' without a contrast: the unembedding centred over the vocabulary (center_unembed).
  const vocabMean = dla === 'tl' && contrastId === null ? unembedVocabMean(weights) : null;
  // u = W_U[:, t] − W_U[:, c] (or − mean_v W_U[:, v]); ũ = w ⊙ u − mean(w ⊙ u) (RMSNorm: w ⊙ u).  [d_model]
  const Wu = weights.W_U_T.data;
  const u = new Float64Array(dModel);
  for (let d = 0; d < dModel; d++) {
    const subtracted = contrastId !== null ? Wu[contrastId * dModel + d]! : vocabMean ? vocabMean.direction[d]! : 0;
    u[d] = Wu[targetId * dModel + d]! - subtracted;
  }
  const uTilde = new Float64Array(dModel);
  let mean = 0;
  for (let d = 0; d < dModel; d++) {
    uTilde[d] = weights.ln_final.w.data[d]! * u[d]!;
    mean += uTilde[d]!;
  }
  mean = rms ? 0 : mean / dModel;
  for (let d = 0; d < dModel; d++) uTilde[d] = uTilde[d]! - mean;
  const scale = requireHook(cache, 'ln_final.hook_scale').data[pos]!;
  /** Direct contribution of a residual-stream vector stored at `x[offset ..]`. */
  const contribution = (x: Float32Array, offset: number): number => dotAt(x, offset, uTilde) / scale;

  // float64 while summing; the result carries float32 copies (they cross worker boundaries).
  const heads = new Float64Array(nLayers * nHeads); // [layer, head]
  const headBySource = new Float32Array(nLayers * nHeads * nPos); // [layer, head, key]
  const mlp = new Float64Array(nLayers); // [layer]
  let biasResidual = 0;
  const g = new Float64Array(dHead); // W_O[h] ũ (Gemma: W_O[h] (w_post ⊙ ũ) / s_post)  [d_head]
  const uHead = new Float64Array(dModel); // the direction a head's z W_O[h] is read along  [d_model]
  const r = new Float64Array(dModel); // W_V[h] g  [d_model]
  for (let l = 0; l < nLayers; l++) {
    const block = weights.blocks[l]!;
    const z = requireHook(cache, layerHook(l, 'attn.hook_z')).data; // [pos, head, d_head]
    const pattern = requireHook(cache, layerHook(l, 'attn.hook_pattern')).data; // [head, query, key]
    const residPre = requireHook(cache, layerHook(l, 'hook_resid_pre')).data; // [pos, d_model]
    // Gemma: the post-attention norm at its cached scale, w_post ⊙ ũ / s_post.
    const post = block.ln1_post;
    const postScale = post ? requireHook(cache, layerHook(l, 'ln1_post.hook_scale')).data[pos]! : 1;
    for (let d = 0; d < dModel; d++) uHead[d] = post ? (post.w.data[d]! * uTilde[d]!) / postScale : uTilde[d]!;
    // ln1 of every key position up to the query, shared by all heads of the layer.  [key][d_model]
    const ln1: Float64Array[] = [];
    for (let k = 0; k <= pos; k++) ln1.push(applyModelNorm(residPre.subarray(k * dModel, (k + 1) * dModel), block.ln1, config));
    for (let h = 0; h < nHeads; h++) {
      const kv = Math.floor(h / group); // W_V, b_V: [kv_head, ...]
      for (let e = 0; e < dHead; e++) g[e] = dotAt(block.W_O.data, (h * dHead + e) * dModel, uHead);
      let total = 0;
      for (let e = 0; e < dHead; e++) total += z[(pos * nHeads + h) * dHead + e]! * g[e]!;
      // r = W_V[h] g, and the value bias's part b_V[h] · g.
      for (let d = 0; d < dModel; d++) {
        let s = 0;
        const base = (kv * dModel + d) * dHead;
        for (let e = 0; e < dHead; e++) s += block.W_V.data[base + e]! * g[e]!;
        r[d] = s;
      }
      let valueBias = 0;
      for (let e = 0; e < dHead; e++) valueBias += block.b_V.data[kv * dHead + e]! * g[e]!;
      // 'tl': TransformerLens's folded value bias (b_V[h] + ln1.b · W_V[h]) · g moves to 'bias'.
      let folded = 0;
      if (dla === 'tl') {
        folded = valueBias;
        for (let d = 0; d < dModel; d++) folded += block.ln1.b.data[d]! * r[d]!;
      }
      heads[l * nHeads + h] = (total - folded) / scale;
      biasResidual += folded / scale;
      for (let k = 0; k <= pos; k++) {
        const x = ln1[k]!;
        let s = valueBias - folded;
        for (let d = 0; d < dModel; d++) s += x[d]! * r[d]!;
        headBySource[(l * nHeads + h) * nPos + k] = (pattern[(h * nPos + pos) * nPos + k]! * s) / scale;
      }
    }
    const mlpOut = requireHook(cache, layerHook(l, 'hook_mlp_out')).data;
    const bOut = contribution(block.b_out.data, 0);
    mlp[l] = contribution(mlpOut, pos * dModel) - bOut;
    biasResidual += contribution(block.b_O.data, 0) + bOut;
  }
  const embed = contribution(requireHook(cache, 'hook_embed').data, pos * dModel);
  const posEmbed = config.positional === 'rotary' ? null : contribution(requireHook(cache, 'hook_pos_embed').data, pos * dModel);
  let biasAfterNorm = 0;
  for (let d = 0; d < dModel; d++) biasAfterNorm += weights.ln_final.b.data[d]! * u[d]!;
  const bU = weights.b_U.data;
  biasAfterNorm += bU[targetId]! - (contrastId !== null ? bU[contrastId]! : vocabMean ? vocabMean.bias : 0);
  const bias = biasResidual + biasAfterNorm;

  const components: TraceComponent[] = [];
  for (let l = 0; l < nLayers; l++)
    for (let h = 0; h < nHeads; h++) components.push({ name: `L${l}H${h}`, kind: 'head', layer: l, head: h, value: heads[l * nHeads + h]! });
  for (let l = 0; l < nLayers; l++) components.push({ name: `mlp${l}`, kind: 'mlp', layer: l, value: mlp[l]! });
  components.push({ name: 'embed', kind: 'embed', value: embed });
  if (posEmbed !== null) components.push({ name: 'pos_embed', kind: 'pos_embed', value: posEmbed });
  components.push({ name: 'bias', kind: 'bias', value: bias });
  let total = embed + (posEmbed ?? 0) + bias;
  for (const c of components) if (c.kind === 'head' || c.kind === 'mlp') total += c.value;
  components.sort((a, b) => Math.abs(b.value) - Math.abs(a.value));

  const actual = logits[targetId]! - (contrastId !== null ? logits[contrastId]! : vocabMean ? meanOf(logits) : 0);
  const { topPath, edges } = topHeadPath(heads, nLayers, nHeads, topN);
  return {
    dla,
    position: pos,
    targetId,
    target: tokenText(targetId),
    contrastId,
    contrast: contrastId === null ? null : tokenText(contrastId),
    metric: contrastId === null ? 'logit' : 'logit_diff',
    logitSoftcap: softcap,
    heads: Float32Array.from(heads),
    mlp: Float32Array.from(mlp),
    embed,
    posEmbed,
    bias,
    total,
    actual,
    components,
    headBySource,
    topPath,
    edges,
  };
}

/**
 * The top `topN` heads of each layer by |contribution|, and an edge between every top head of
 * layer L and every top head of layer L + 1 weighted |a| · |b|, normalised so the largest edge is 1.
 */
export function topHeadPath(
  heads: ArrayLike<number> /* [layer, head] */,
  nLayers: number,
  nHeads: number,
  topN: number,
): { topPath: TracePathNode[][]; edges: TracePathEdge[] } {
  const width = Math.max(0, Math.min(Math.floor(topN), nHeads));
  const topPath: TracePathNode[][] = [];
  for (let l = 0; l < nLayers; l++) {
    const nodes: TracePathNode[] = [];
    for (let h = 0; h < nHeads; h++) nodes.push({ layer: l, head: h, value: heads[l * nHeads + h]! });
    nodes.sort((a, b) => Math.abs(b.value) - Math.abs(a.value) || a.head - b.head);
    topPath.push(nodes.slice(0, width));
  }
  const edges: TracePathEdge[] = [];
  let max = 0;
  for (let l = 0; l + 1 < nLayers; l++) {
    for (const a of topPath[l]!) {
      for (const b of topPath[l + 1]!) {
        const weight = Math.abs(a.value) * Math.abs(b.value);
        max = Math.max(max, weight);
        edges.push({ from: { layer: a.layer, head: a.head }, to: { layer: b.layer, head: b.head }, weight });
      }
    }
  }
  for (const e of edges) e.weight = max > 0 ? e.weight / max : 0;
  return { topPath, edges };
}
