/**
 * Float64 references for sparse dictionaries, written from the published definitions and sharing
 * no code with src/ (only the shape of the dictionary's arrays):
 *
 *   SAELens (sae.py: process_sae_in, encode, decode; run_time_activation_norm_fn_in/out):
 *     x' = x · c                          c = scaling_factor (expected_average_only_in), sqrt(d_in) / ‖x‖ (constant_norm_rescale), or 1
 *     x' = x' − b_dec                     apply_b_dec_to_input
 *     pre = x' W_enc + b_enc
 *     act = relu(pre) | topk: relu of the k largest pre, the rest 0 | jumprelu: pre · (pre > threshold)
 *     recon = (act W_dec + b_dec) / c
 *   circuit-tracer (SingleLayerTranscoder.forward): recon + x W_skip for skip transcoders, x the raw input;
 *   its CrossLayerTranscoder: output layer o sums act_l W_dec[l → o] over feature layers l ≤ o, plus o's bias.
 *   TransformerLens's ln2.hook_normalized and what the MLP reads, from the HF checkpoint's norm:
 *     LayerNorm (GPT-2)   (x − mean) / sqrt(var + eps), then · w + b
 *     RMSNorm (Llama)     x / sqrt(mean(x²) + eps), then · w
 *     GPT-NeoX parallel   LayerNorm of resid_pre (attention and MLP both read the block's input)
 *     Gemma's RMSNorm     x / sqrt(mean(x²) + eps), then · (1 + w)
 *   Direct logit effect (Neuronpedia's top logits): the decoder row times W_U, the final norm ignored.
 */
import type { ReferenceTensor, ReferenceWeightTensor } from './reference-gpt2.js';

/** The arrays of one dictionary layer that the reference reads. */
export interface ReferenceDictionaryLayer {
  dIn: number;
  dSae: number;
  dOut: number;
  W_enc: Float32Array; // [d_in, d_sae]
  b_enc: Float32Array; // [d_sae]
  b_dec: readonly Float32Array[]; // per output: [d_out]
  activation: { kind: 'relu' } | { kind: 'topk'; k: number } | { kind: 'jumprelu'; threshold: Float32Array };
  applyBDecToInput: boolean;
  normalization: { kind: 'none' } | { kind: 'expected_average_only_in'; inputScale: number } | { kind: 'constant_norm_rescale' };
  W_skip: Float32Array | null; // [d_in, d_out]
  decoders: readonly Float32Array[]; // per output: [d_sae, d_out]
}

export interface ReferenceEncoding {
  pre: Float64Array; // [pos, d_sae]
  acts: Float64Array; // [pos, d_sae]
  scale: Float64Array; // [pos], c
}

/** SAELens's encode of x [pos, d_in]. */
export function referenceEncode(layer: ReferenceDictionaryLayer, x: ArrayLike<number>, positions: number): ReferenceEncoding {
  const { dIn, dSae } = layer;
  const pre = new Float64Array(positions * dSae);
  const acts = new Float64Array(positions * dSae);
  const scale = new Float64Array(positions);
  for (let p = 0; p < positions; p++) {
    let c = 1;
    if (layer.normalization.kind === 'expected_average_only_in') c = layer.normalization.inputScale;
    if (layer.normalization.kind === 'constant_norm_rescale') {
      let norm = 0;
      for (let i = 0; i < dIn; i++) norm += x[p * dIn + i]! ** 2;
      c = Math.sqrt(dIn) / Math.sqrt(norm);
    }
    scale[p] = c;
    const xin: number[] = [];
    for (let i = 0; i < dIn; i++) xin.push(x[p * dIn + i]! * c - (layer.applyBDecToInput ? layer.b_dec[0]![i]! : 0));
    for (let f = 0; f < dSae; f++) {
      let s = layer.b_enc[f]!;
      for (let i = 0; i < dIn; i++) s += xin[i]! * layer.W_enc[i * dSae + f]!;
      pre[p * dSae + f] = s;
    }
    const row = Array.from(pre.subarray(p * dSae, (p + 1) * dSae));
    const a = layer.activation;
    if (a.kind === 'relu') row.forEach((v, f) => (acts[p * dSae + f] = Math.max(0, v)));
    if (a.kind === 'jumprelu') row.forEach((v, f) => (acts[p * dSae + f] = v > a.threshold[f]! ? v : 0));
    if (a.kind === 'topk') {
      const order = row.map((v, f) => [v, f] as const).sort((u, w) => w[0] - u[0] || u[1] - w[1]);
      for (const [v, f] of order.slice(0, a.k)) acts[p * dSae + f] = Math.max(0, v);
    }
  }
  return { pre, acts, scale };
}

/** act W_dec[out] + b_dec[out], divided by c, plus x W_skip (first output only), [pos, d_out]. */
export function referenceDecode(layer: ReferenceDictionaryLayer, enc: ReferenceEncoding, x: ArrayLike<number>, positions: number, out = 0): Float64Array {
  const { dIn, dSae, dOut } = layer;
  const y = new Float64Array(positions * dOut);
  const W = layer.decoders[out]!;
  for (let p = 0; p < positions; p++)
    for (let o = 0; o < dOut; o++) {
      let s = layer.b_dec[out]![o]!;
      for (let f = 0; f < dSae; f++) s += enc.acts[p * dSae + f]! * W[f * dOut + o]!;
      s /= enc.scale[p]!;
      if (layer.W_skip && out === 0) for (let i = 0; i < dIn; i++) s += x[p * dIn + i]! * layer.W_skip[i * dOut + o]!;
      y[p * dOut + o] = s;
    }
  return y;
}

/** Only the decoder part act W_dec[out] (no bias, no skip, no normalisation), [pos, d_out]: a cross-layer transcoder's contribution. */
export function referenceDecoderSum(layer: ReferenceDictionaryLayer, acts: Float64Array, positions: number, out: number): Float64Array {
  const { dSae, dOut } = layer;
  const y = new Float64Array(positions * dOut);
  const W = layer.decoders[out]!;
  for (let p = 0; p < positions; p++)
    for (let f = 0; f < dSae; f++) {
      const a = acts[p * dSae + f]!;
      if (a !== 0) for (let o = 0; o < dOut; o++) y[p * dOut + o] = y[p * dOut + o]! + a * W[f * dOut + o]!;
    }
  return y;
}

/** `neox`: GPT-NeoX with the parallel residual (Pythia), whose MLP reads LayerNorm(resid_pre). */
export type ReferenceNormFamily = 'gpt2' | 'llama' | 'gemma' | 'neox';

/** The HF name of layer L's MLP norm weight (and bias for the LayerNorm families). */
function mlpNormNames(family: ReferenceNormFamily, layer: number): { w: string; b: string | null } {
  if (family === 'gpt2') return { w: `h.${layer}.ln_2.weight`, b: `h.${layer}.ln_2.bias` };
  if (family === 'neox') return { w: `gpt_neox.layers.${layer}.post_attention_layernorm.weight`, b: `gpt_neox.layers.${layer}.post_attention_layernorm.bias` };
  if (family === 'llama') return { w: `model.layers.${layer}.post_attention_layernorm.weight`, b: null };
  return { w: `model.layers.${layer}.pre_feedforward_layernorm.weight`, b: null };
}

function tensorNamed(tensors: Map<string, ReferenceWeightTensor>, name: string): Float32Array {
  const t = tensors.get(name) ?? tensors.get(`transformer.${name}`);
  if (!t) throw new Error(`reference-features: no tensor ${name}`);
  return t.data;
}

/**
 * TransformerLens's blocks.L.ln2.hook_normalized (`weighted` false) or what the MLP reads (`weighted`
 * true), [pos, d], from the reference forward's hook_resid_mid of layer L (hook_resid_pre with NeoX's parallel
 * residual) and the checkpoint's norm.
 */
export function referenceMlpInput(
  family: ReferenceNormFamily,
  tensors: Map<string, ReferenceWeightTensor>,
  hooks: Map<string, ReferenceTensor>,
  layer: number,
  eps: number,
  weighted: boolean,
): Float64Array {
  // With the parallel residual the MLP reads the block's input, as attention does.
  const streamName = family === 'neox' ? `blocks.${layer}.hook_resid_pre` : `blocks.${layer}.hook_resid_mid`;
  const mid = hooks.get(streamName);
  if (!mid) throw new Error(`reference-features: the forward has no ${streamName}`);
  const [P, D] = mid.shape as [number, number];
  const names = mlpNormNames(family, layer);
  const w = tensorNamed(tensors, names.w);
  const b = names.b ? tensorNamed(tensors, names.b) : null;
  const y = new Float64Array(P * D);
  for (let p = 0; p < P; p++) {
    const x = mid.data.subarray(p * D, (p + 1) * D);
    const mean = family === 'gpt2' || family === 'neox' ? x.reduce((s, v) => s + v, 0) / D : 0;
    const second = x.reduce((s, v) => s + (v - mean) ** 2, 0) / D;
    const scale = Math.sqrt(second + eps);
    for (let i = 0; i < D; i++) {
      const n = (x[i]! - mean) / scale;
      const gain = family === 'gemma' ? 1 + w[i]! : w[i]!;
      y[p * D + i] = weighted ? n * gain + (b ? b[i]! : 0) : n;
    }
  }
  return y;
}

/** A decoder row's direct effect on every token's logit: Σ_i row[i] · W_U[i, t], W_U given as [vocab, d] rows. */
export function referenceLogitEffects(row: ArrayLike<number>, unembedRows: Float32Array, vocab: number): Float64Array {
  const d = row.length;
  const out = new Float64Array(vocab);
  for (let t = 0; t < vocab; t++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += row[i]! * unembedRows[t * d + i]!;
    out[t] = s;
  }
  return out;
}

/** ‖a − b‖ / ‖b‖ over one row. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}
