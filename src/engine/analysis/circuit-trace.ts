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
 * Components: every head (z @ W_O[h], no bias), every MLP layer (hook_mlp_out minus b_out: the
 * W_out part; b_out is a constant, not something the MLP computed from the prompt), embed,
 * pos_embed, and 'bias' = Σ_L (b_O[L] + b_out[L]) centred and scaled like any residual component,
 * plus ln_final.b · u and b_U[t] (− b_U[contrast]), which sit after the LayerNorm and are neither
 * centred nor scaled.
 *
 * `logits` may hold every position or only the traced one (see logits-row.ts).
 *
 * Split by source position: head h's output at the query is Σ_k attn[h, q, k] · v[k, h] @ W_O[h],
 * with v recomputed from the cached `blocks.L.hook_resid_pre` through ln1, W_V and b_V, so the
 * parts over keys k sum to the head's total (up to float32 rounding of the cached activations).
 */
import type { CircuitTrace, TraceComponent, TracePathEdge, TracePathNode } from '../../protocol/analysis.js';
import { EngineError } from '../errors.js';
import { layerHook, type ActivationCache, type HookName } from '../hooks.js';
import type { ModelConfig } from '../model/config.js';
import type { AnalysisWeights } from '../model/weights.js';
import type { Tensor } from '../tensor.js';
import { applyLayerNorm } from './layer-norm.js';
import { logitsRow } from './logits-row.js';

export const DEFAULT_TOP_PATH_WIDTH = 3;

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
}

/** The hooks `circuitTrace` reads. */
export function circuitTraceHooks(nLayers: number): HookName[] {
  const hooks: HookName[] = ['hook_embed', 'hook_pos_embed'];
  for (let l = 0; l < nLayers; l++) {
    hooks.push(layerHook(l, 'hook_resid_pre'), layerHook(l, 'attn.hook_pattern'), layerHook(l, 'attn.hook_z'), layerHook(l, 'hook_mlp_out'));
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
  const { nLayers, nHeads, dModel, dHead, eps } = config;
  const topN = input.topN ?? DEFAULT_TOP_PATH_WIDTH;
  const nPos = requireHook(cache, 'hook_embed').shape[0] ?? 0;
  const vocab = config.dVocab;
  if (!Number.isInteger(pos) || pos < 0 || pos >= nPos) throw new EngineError('BAD_ARGUMENT', `Position ${pos} is outside the prompt (0..${nPos - 1}).`);
  for (const id of [targetId, contrastId]) {
    if (id !== null && (!Number.isInteger(id) || id < 0 || id >= vocab)) throw new EngineError('BAD_ARGUMENT', `Token id ${id} is outside the vocabulary (0..${vocab - 1}).`);
  }
  const logits = logitsRow(cache, pos, nPos); // [vocab]

  // u = W_U[:, t] − W_U[:, c]; ũ = w ⊙ u − mean(w ⊙ u).  [d_model]
  const Wu = weights.W_U_T.data;
  const u = new Float64Array(dModel);
  for (let d = 0; d < dModel; d++) u[d] = Wu[targetId * dModel + d]! - (contrastId === null ? 0 : Wu[contrastId * dModel + d]!);
  const uTilde = new Float64Array(dModel);
  let mean = 0;
  for (let d = 0; d < dModel; d++) {
    uTilde[d] = weights.ln_final.w.data[d]! * u[d]!;
    mean += uTilde[d]!;
  }
  mean /= dModel;
  for (let d = 0; d < dModel; d++) uTilde[d] = uTilde[d]! - mean;
  const scale = requireHook(cache, 'ln_final.hook_scale').data[pos]!;
  /** Direct contribution of a residual-stream vector stored at `x[offset ..]`. */
  const contribution = (x: Float32Array, offset: number): number => dotAt(x, offset, uTilde) / scale;

  // float64 while summing; the result carries float32 copies (they cross worker boundaries).
  const heads = new Float64Array(nLayers * nHeads); // [layer, head]
  const headBySource = new Float32Array(nLayers * nHeads * nPos); // [layer, head, key]
  const mlp = new Float64Array(nLayers); // [layer]
  let biasResidual = 0;
  const g = new Float64Array(dHead); // W_O[h] ũ  [d_head]
  const r = new Float64Array(dModel); // W_V[h] g  [d_model]
  for (let l = 0; l < nLayers; l++) {
    const block = weights.blocks[l]!;
    const z = requireHook(cache, layerHook(l, 'attn.hook_z')).data; // [pos, head, d_head]
    const pattern = requireHook(cache, layerHook(l, 'attn.hook_pattern')).data; // [head, query, key]
    const residPre = requireHook(cache, layerHook(l, 'hook_resid_pre')).data; // [pos, d_model]
    // ln1 of every key position up to the query, shared by all heads of the layer.  [key][d_model]
    const ln1: Float64Array[] = [];
    for (let k = 0; k <= pos; k++) ln1.push(applyLayerNorm(residPre.subarray(k * dModel, (k + 1) * dModel), block.ln1, eps));
    for (let h = 0; h < nHeads; h++) {
      for (let e = 0; e < dHead; e++) g[e] = dotAt(block.W_O.data, (h * dHead + e) * dModel, uTilde);
      let total = 0;
      for (let e = 0; e < dHead; e++) total += z[(pos * nHeads + h) * dHead + e]! * g[e]!;
      heads[l * nHeads + h] = total / scale;
      // r = W_V[h] g, and the value bias's part b_V[h] · g.
      for (let d = 0; d < dModel; d++) {
        let s = 0;
        const base = (h * dModel + d) * dHead;
        for (let e = 0; e < dHead; e++) s += block.W_V.data[base + e]! * g[e]!;
        r[d] = s;
      }
      let valueBias = 0;
      for (let e = 0; e < dHead; e++) valueBias += block.b_V.data[h * dHead + e]! * g[e]!;
      for (let k = 0; k <= pos; k++) {
        const x = ln1[k]!;
        let s = valueBias;
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
  const posEmbed = contribution(requireHook(cache, 'hook_pos_embed').data, pos * dModel);
  let biasAfterNorm = 0;
  for (let d = 0; d < dModel; d++) biasAfterNorm += weights.ln_final.b.data[d]! * u[d]!;
  const bU = weights.b_U.data;
  biasAfterNorm += bU[targetId]! - (contrastId === null ? 0 : bU[contrastId]!);
  const bias = biasResidual + biasAfterNorm;

  const components: TraceComponent[] = [];
  for (let l = 0; l < nLayers; l++) for (let h = 0; h < nHeads; h++) components.push({ name: `L${l}H${h}`, kind: 'head', layer: l, head: h, value: heads[l * nHeads + h]! });
  for (let l = 0; l < nLayers; l++) components.push({ name: `mlp${l}`, kind: 'mlp', layer: l, value: mlp[l]! });
  components.push({ name: 'embed', kind: 'embed', value: embed }, { name: 'pos_embed', kind: 'pos_embed', value: posEmbed }, { name: 'bias', kind: 'bias', value: bias });
  let total = embed + posEmbed + bias;
  for (const c of components) if (c.kind === 'head' || c.kind === 'mlp') total += c.value;
  components.sort((a, b) => Math.abs(b.value) - Math.abs(a.value));

  const actual = logits[targetId]! - (contrastId === null ? 0 : logits[contrastId]!);
  const { topPath, edges } = topHeadPath(heads, nLayers, nHeads, topN);
  return {
    position: pos,
    targetId,
    target: tokenText(targetId),
    contrastId,
    contrast: contrastId === null ? null : tokenText(contrastId),
    metric: contrastId === null ? 'logit' : 'logit_diff',
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
export function topHeadPath(heads: ArrayLike<number> /* [layer, head] */, nLayers: number, nHeads: number, topN: number): { topPath: TracePathNode[][]; edges: TracePathEdge[] } {
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
