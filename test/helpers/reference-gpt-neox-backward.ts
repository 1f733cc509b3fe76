/**
 * An independent float64 reverse pass of a GPT-NeoX checkpoint (Pythia), the known answer for the
 * engine's NeoX gradient graphs. Written from HF's modeling_gpt_neox.py with naive loops over the HF
 * tensors and config.json, sharing no code with src/ (nor with the Tape): a forward that keeps what
 * the reverse pass needs, then the chain rule applied by hand.
 *
 *   LayerNorm  y = n w + b, n = (x − mean) / s, s = sqrt(var + eps):
 *              dx = (dn − mean(dn) − n mean(dn n)) / s with dn = w dy (frozen s: (dn − mean(dn)) / s), ds = −Σ dn n / s
 *   q, k, v    query_key_value rows per head [head, 3, d_head]
 *   RoPE       on the first rotary_ndims = int(d_head rotary_pct) dims: x cos + rotate_half(x) sin,
 *              inv_freq = base^(-2j / rotary_ndims); the rest passed through
 *   attention  scores / sqrt(d_head), causal; softmax dS = A (dA − Σ A dA)
 *   MLP        dense_4h_to_h(gelu(dense_h_to_4h(x))), exact gelu, gelu'(x) = Φ(x) + x φ(x)
 *   residual   use_parallel_residual: x + attn(ln1(x)) + mlp(ln2(x)); else h = x + attn(ln1(x)), h + mlp(ln2(h))
 *
 * Every head's q, k and v reads its own copy of resid_pre through its own input_layernorm, the MLP
 * its own copy of its input (resid_pre with the parallel residual, else resid_mid). Names as in
 * reference-llama-backward.ts (hook_q_input, hook_k_input, hook_v_input [pos, head, d_model]).
 */
import type { ReferenceWeightTensor } from './reference-gpt2.js';
import type { ReferenceBackwardOptions, ReferenceGradients, ReferenceMetric } from './reference-gpt2-backward.js';
import { erf, gptNeoxQkvPart, gptNeoxSizes } from './reference-gpt-neox.js';
import {
  affineOf,
  embeddingRows,
  lnBackward,
  lnForward,
  linear,
  linearBackward,
  metricGradient,
  rotaryAttentionBackward,
  rotaryAttentionForward,
  setLayerHooks,
  tensorLookup,
  type LnSaved,
} from './reference-backward-ops.js';

export function referenceGptNeoxGradients(
  tensors: Map<string, ReferenceWeightTensor>,
  config: Record<string, unknown>,
  embeddings: Float64Array,
  metric: ReferenceMetric,
  options: ReferenceBackwardOptions = {},
): ReferenceGradients {
  const { nLayers, D, H, M, V, eps, Dh, R, base, parallel, bias } = gptNeoxSizes(config);
  const frozen = options.frozen ?? false;
  const P = embeddings.length / D;
  const W = tensorLookup(tensors, 'reference-gpt-neox-backward');
  const invFreq = Array.from({ length: R / 2 }, (_, j) => base ** (-(2 * j) / R));
  const ropeShape = { positions: P, heads: H, headDim: Dh, rotary: R, invFreq };
  const ropes = { q: ropeShape, k: ropeShape };
  const attention = { positions: P, heads: H, kvHeads: H, headDim: Dh };

  // ---- forward ----
  interface Saved {
    ln1: LnSaved;
    rq: Float64Array;
    rk: Float64Array;
    v: Float64Array;
    A: Float64Array;
    ln2: LnSaved;
    pre: Float64Array;
  }
  const values = new Map<string, Float64Array>();
  const gradients = new Map<string, Float64Array>();
  const name = (l: number, hook: string): string => `blocks.${l}.${hook}`;
  const saved: Saved[] = [];
  let x = Float64Array.from(embeddings);
  for (let l = 0; l < nLayers; l++) {
    const pre = `gpt_neox.layers.${l}.`;
    values.set(name(l, 'hook_resid_pre'), x);
    const ln1 = lnForward(x, D, eps);
    const y1 = affineOf(ln1, W(`${pre}input_layernorm.weight`), W(`${pre}input_layernorm.bias`), D);
    const qkv = linear(y1, W(`${pre}attention.query_key_value.weight`), D, 3 * D, bias ? W(`${pre}attention.query_key_value.bias`) : undefined);
    const part = (which: number): Float64Array => gptNeoxQkvPart(qkv, P, H, Dh, which);
    const q = part(0),
      k = part(1),
      v = part(2);
    const { rq, rk, A, z, hooks } = rotaryAttentionForward(q, k, v, ropes, attention, null, (dot) => dot / Math.sqrt(Dh));
    const attnOut = linear(z, W(`${pre}attention.dense.weight`), D, D, bias ? W(`${pre}attention.dense.bias`) : undefined);
    const mid = x.map((xi, n) => xi + attnOut[n]!);
    const mlpIn = parallel ? x : mid;
    const ln2 = lnForward(mlpIn, D, eps);
    const y2 = affineOf(ln2, W(`${pre}post_attention_layernorm.weight`), W(`${pre}post_attention_layernorm.bias`), D);
    const hidden = linear(y2, W(`${pre}mlp.dense_h_to_4h.weight`), D, M, W(`${pre}mlp.dense_h_to_4h.bias`));
    const post = hidden.map((h) => 0.5 * h * (1 + erf(h / Math.SQRT2)));
    const mlpOut = linear(post, W(`${pre}mlp.dense_4h_to_h.weight`), M, D, W(`${pre}mlp.dense_4h_to_h.bias`));
    const next = mid.map((m, n) => m + mlpOut[n]!);
    setLayerHooks(values, l, {
      ...hooks,
      'ln1.hook_scale': ln1.s,
      hook_attn_out: attnOut,
      ...(parallel ? {} : { hook_resid_mid: mid }),
      'ln2.hook_scale': ln2.s,
      'mlp.hook_pre': hidden,
      'mlp.hook_post': post,
      hook_mlp_out: mlpOut,
      hook_resid_post: next,
    });
    saved.push({ ln1, rq, rk, v, A, ln2, pre: hidden });
    x = next;
  }

  // ---- metric and its gradient at the last position ----
  const unembed = config['tie_word_embeddings'] === true ? W('gpt_neox.embed_in.weight') : W('embed_out.weight');
  const lnF = lnForward(x.slice((P - 1) * D, P * D), D, eps);
  const logits = linear(affineOf(lnF, W('gpt_neox.final_layer_norm.weight'), W('gpt_neox.final_layer_norm.bias'), D), unembed, D, V);
  const { value, dLogits } = metricGradient(logits, metric);
  const dFinal = new Float64Array(P * D);
  dFinal.set(lnBackward(lnF, W('gpt_neox.final_layer_norm.weight'), linearBackward(dLogits, unembed, D, V), D, frozen).dx, (P - 1) * D);
  gradients.set('final_resid', dFinal);

  // ---- blocks, last first ----
  let G = dFinal;
  for (let l = nLayers - 1; l >= 0; l--) {
    const pre = `gpt_neox.layers.${l}.`;
    const s = saved[l]!;
    const keep = options.dropLayer === l ? 0 : 1;
    gradients.set(name(l, 'hook_resid_post'), G);
    const dMlpOut = G.map((g) => g * keep);
    const dPost = linearBackward(dMlpOut, W(`${pre}mlp.dense_4h_to_h.weight`), M, D);
    const dPre = dPost.map((g, n) => g * geluDerivative(s.pre[n]!));
    const ln2 = lnBackward(s.ln2, W(`${pre}post_attention_layernorm.weight`), linearBackward(dPre, W(`${pre}mlp.dense_h_to_4h.weight`), D, M), D, frozen);
    // Sequential: the MLP's input is resid_mid, whose gradient adds to the stream's; parallel: resid_pre's.
    const dMid = parallel ? G : G.map((g, n) => g + ln2.dx[n]!);
    const dAttnOut = dMid.map((g) => g * keep);
    const dZ = linearBackward(dAttnOut, W(`${pre}attention.dense.weight`), D, D);
    const qkvW = W(`${pre}attention.query_key_value.weight`); // [head * 3 * d_head, d_model]
    const ln1w = W(`${pre}input_layernorm.weight`);
    const dResidPre = Float64Array.from(dMid);
    if (parallel) for (let n = 0; n < P * D; n++) dResidPre[n]! += ln2.dx[n]!;
    const attentionGradients = rotaryAttentionBackward(
      dZ,
      s,
      {
        attention,
        dModel: D,
        ropes,
        frozen,
        scoreGradient: (g) => g / Math.sqrt(Dh),
        projection: (which) => ({ w: qkvW, row: (h, e) => h * 3 * Dh + which * Dh + e }),
        inputNormBackward: (dy) => lnBackward(s.ln1, ln1w, dy, D, frozen),
      },
      dResidPre,
    );
    setLayerHooks(gradients, l, {
      ...attentionGradients,
      hook_attn_out: dAttnOut,
      ...(parallel ? {} : { hook_resid_mid: dMid }),
      'ln2.hook_scale': ln2.ds,
      hook_mlp_in: ln2.dx,
      'mlp.hook_pre': dPre,
      'mlp.hook_post': dPost,
      hook_mlp_out: dMlpOut,
      hook_resid_pre: dResidPre,
    });
    G = dResidPre;
  }
  return { metric: value, values, gradients };
}

/** The token embeddings of `ids`, [pos, d_model]. */
export function referenceGptNeoxEmbeddings(tensors: Map<string, ReferenceWeightTensor>, ids: readonly number[]): Float64Array {
  return embeddingRows(tensors, 'gpt_neox.embed_in.weight', ids);
}

/** d/dx of 0.5 x (1 + erf(x / sqrt 2)): Φ(x) + x φ(x). */
function geluDerivative(x: number): number {
  return 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
}
