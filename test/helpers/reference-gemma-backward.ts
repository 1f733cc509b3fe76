/**
 * An independent float64 reverse pass of a Gemma checkpoint (gemma2, gemma3_text), the known answer
 * for the engine's Gemma gradient graphs. Written from HF's modeling_gemma2.py / modeling_gemma3.py
 * with naive loops over the HF tensors and config.json, sharing no code with src/ (nor with the Tape):
 * a forward that keeps what the reverse pass needs, then the chain rule applied by hand.
 *
 *   RMSNorm   y = x / s * (1 + w), s = sqrt(mean(x^2) + eps): dx = v dy / s − x Σ(v dy x) / (n s^3), v = 1 + w;
 *             ds = −Σ(v dy x) / s^2
 *   block     h = x + post_attention_layernorm(attn(input_layernorm(x)))
 *             out = h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)))
 *   attention Gemma 3's q_norm / k_norm before RoPE; scores · query_pre_attn_scalar^-½, then cap · tanh(s / cap)
 *             (attn_logit_softcapping; d/ds = 1 − tanh^2), then the causal mask and, on sliding layers, the
 *             window; RoPE's base rope_local_base_freq on Gemma 3's sliding layers, else rope_theta (with a
 *             linear rope_scaling's factor on Gemma 3's global ones); query head h reads kv head floor(h / group)
 *   MLP       down(gelu_tanh(gate(x)) * up(x))
 *   logits    cap · tanh(norm(x) · embed_tokensᵀ / cap) (final_logit_softcapping)
 *
 * The split inputs and names are reference-llama-backward.ts's, plus ln1_post.hook_scale and
 * ln2_post.hook_scale; hook_attn_out and hook_mlp_out are the post-normed outputs.
 */
import type { ReferenceWeightTensor } from './reference-gpt2.js';
import type { ReferenceBackwardOptions, ReferenceGradients, ReferenceMetric } from './reference-gpt2-backward.js';
import {
  embeddingRows,
  linear,
  linearBackward,
  metricGradient,
  rmsBackward,
  rmsForward,
  rmsNormed,
  gatedMlpBackward,
  qkNormsForward,
  rmsFamilySizes,
  rotaryAttentionBackward,
  rotaryAttentionForward,
  setLayerHooks,
  tensorLookup,
  type RmsSaved,
  type RopeShape,
} from './reference-backward-ops.js';

/** The attention's projections, in the order of rotaryAttentionBackward's `which`. */
const PROJECTIONS = ['q_proj', 'k_proj', 'v_proj'];

/** Runs the model from input embeddings [pos, d_model] (the scaled token embeddings) and returns the metric's gradients. */
export function referenceGemmaGradients(
  tensors: Map<string, ReferenceWeightTensor>,
  config: Record<string, unknown>,
  embeddings: Float64Array,
  metric: ReferenceMetric,
  options: ReferenceBackwardOptions = {},
): ReferenceGradients {
  const num = (key: string, fallback?: number): number => (config[key] ?? fallback) as number;
  const type = config['model_type'] as string;
  const optional = (key: string, fallback: number | null): number | null => (key in config ? (config[key] as number | null) : fallback);
  const { nLayers, D, H, Hkv, M, V, eps, Dh, P } = rmsFamilySizes(config, embeddings);
  const frozen = options.frozen ?? false;
  const W = tensorLookup(tensors, 'reference-gemma-backward');
  /** A Gemma norm's factor 1 + w. */
  const norm = (name: string): Float32Array => Float32Array.from(W(name), (w) => 1 + w);
  const qkNorm = tensors.has('model.layers.0.self_attn.q_norm.weight');
  const attnCap = optional('attn_logit_softcapping', type === 'gemma2' ? 50 : null);
  const finalCap = optional('final_logit_softcapping', type === 'gemma2' ? 30 : null);
  const scoreScale = num('query_pre_attn_scalar') ** -0.5;
  const layerTypes = config['layer_types'] as string[] | undefined;
  const sliding = (l: number): boolean =>
    layerTypes ? layerTypes[l] === 'sliding_attention' : type === 'gemma2' ? l % 2 === 0 : (l + 1) % num('sliding_window_pattern', 6) !== 0;

  // ---- RoPE angles: inv_freq_j = theta^(-2j / d_head) per layer kind ----
  const half = Dh / 2;
  const invFreqOf = (local: boolean): number[] => {
    const theta = local ? num('rope_local_base_freq', 10000) : num('rope_theta', 10000);
    const scaling = config['rope_scaling'] as { rope_type?: string; type?: string; factor?: number } | null | undefined;
    const factor = !local && scaling && (scaling.rope_type ?? scaling.type) === 'linear' ? scaling.factor! : 1;
    return Array.from({ length: half }, (_, j) => Math.pow(theta, -(2 * j) / Dh) / factor);
  };
  /** The RoPE shapes of q and k on layer l. */
  const ropeOf = (l: number): { q: RopeShape; k: RopeShape } => {
    const q = { positions: P, heads: H, headDim: Dh, rotary: Dh, invFreq: invFreqOf(type === 'gemma3_text' && sliding(l)) };
    return { q, k: { ...q, heads: Hkv } };
  };
  const attention = { positions: P, heads: H, kvHeads: Hkv, headDim: Dh };
  const windowOf = (layer: number): number | null => (sliding(layer) ? num('sliding_window', 4096) : null);

  // ---- forward ----
  interface Saved {
    ln1: RmsSaved;
    qNorm: RmsSaved | null;
    kNorm: RmsSaved | null;
    rq: Float64Array;
    rk: Float64Array;
    v: Float64Array;
    A: Float64Array;
    /** The soft-capped scores' tanh, [head, query, key] (for its derivative). */
    capped: Float64Array;
    ln1Post: RmsSaved;
    ln2: RmsSaved;
    ln2Post: RmsSaved;
    gate: Float64Array;
    up: Float64Array;
  }
  const values = new Map<string, Float64Array>();
  const gradients = new Map<string, Float64Array>();
  const name = (l: number, hook: string): string => `blocks.${l}.${hook}`;
  const saved: Saved[] = [];
  let x = Float64Array.from(embeddings);
  for (let l = 0; l < nLayers; l++) {
    const pre = `model.layers.${l}.`;
    values.set(name(l, 'hook_resid_pre'), x);
    const ln1 = rmsForward(x, D, eps);
    const y1 = rmsNormed(ln1, norm(`${pre}input_layernorm.weight`));
    const q = linear(y1, W(`${pre}self_attn.q_proj.weight`), D, H * Dh);
    const k = linear(y1, W(`${pre}self_attn.k_proj.weight`), D, Hkv * Dh);
    const v = linear(y1, W(`${pre}self_attn.v_proj.weight`), D, Hkv * Dh);
    const qkWeights = qkNorm ? { q: norm(`${pre}self_attn.q_norm.weight`), k: norm(`${pre}self_attn.k_norm.weight`) } : null;
    const { qn, kn, qNorm, kNorm } = qkNormsForward(q, k, Dh, eps, qkWeights);
    const ropes = ropeOf(l);
    const capped = new Float64Array(H * P * P);
    const { rq, rk, A, z, hooks } = rotaryAttentionForward(qn, kn, v, ropes, attention, windowOf(l), (dot, h, i, j) => {
      if (attnCap === null) return dot * scoreScale;
      capped[(h * P + i) * P + j] = Math.tanh((dot * scoreScale) / attnCap);
      return attnCap * capped[(h * P + i) * P + j]!;
    });
    const ln1Post = rmsForward(linear(z, W(`${pre}self_attn.o_proj.weight`), H * Dh, D), D, eps);
    const attnOut = rmsNormed(ln1Post, norm(`${pre}post_attention_layernorm.weight`));
    const mid = x.map((xi, n) => xi + attnOut[n]!);
    const ln2 = rmsForward(mid, D, eps);
    const y2 = rmsNormed(ln2, norm(`${pre}pre_feedforward_layernorm.weight`));
    const gate = linear(y2, W(`${pre}mlp.gate_proj.weight`), D, M);
    const up = linear(y2, W(`${pre}mlp.up_proj.weight`), D, M);
    const post = gate.map((g, n) => geluTanh(g) * up[n]!);
    const ln2Post = rmsForward(linear(post, W(`${pre}mlp.down_proj.weight`), M, D), D, eps);
    const mlpOut = rmsNormed(ln2Post, norm(`${pre}post_feedforward_layernorm.weight`));
    const next = mid.map((m, n) => m + mlpOut[n]!);
    setLayerHooks(values, l, {
      ...hooks,
      'attn.hook_q': q,
      'attn.hook_k': k,
      'ln1.hook_scale': ln1.s,
      'ln1_post.hook_scale': ln1Post.s,
      'ln2_post.hook_scale': ln2Post.s,
      hook_attn_out: attnOut,
      hook_resid_mid: mid,
      'ln2.hook_scale': ln2.s,
      'mlp.hook_pre': gate,
      'mlp.hook_pre_linear': up,
      'mlp.hook_post': post,
      hook_mlp_out: mlpOut,
      hook_resid_post: next,
    });
    saved.push({ ln1, qNorm, kNorm, rq, rk, v, A, capped, ln1Post, ln2, ln2Post, gate, up });
    x = next;
  }

  // ---- metric and its gradient at the last position ----
  const unembed = W('model.embed_tokens.weight'); // tied
  const finalWeight = norm('model.norm.weight');
  const lnF = rmsForward(x.slice((P - 1) * D, P * D), D, eps);
  const yF = rmsNormed(lnF, finalWeight);
  const raw = linear(yF, unembed, D, V);
  const logits = finalCap === null ? raw : raw.map((r) => finalCap * Math.tanh(r / finalCap));
  const { value, dLogits } = metricGradient(logits, metric);
  // Through the soft-cap: d(cap tanh(r / cap))/dr = 1 − tanh^2.
  const dRaw = finalCap === null ? dLogits : dLogits.map((g, u) => g * (1 - (logits[u]! / finalCap) ** 2));
  const dFinal = new Float64Array(P * D);
  dFinal.set(rmsBackward(lnF, finalWeight, linearBackward(dRaw, unembed, D, V), frozen).dx, (P - 1) * D);
  gradients.set('final_resid', dFinal);

  // ---- blocks, last first ----
  let G = dFinal;
  for (let l = nLayers - 1; l >= 0; l--) {
    const pre = `model.layers.${l}.`;
    const s = saved[l]!;
    const keep = options.dropLayer === l ? 0 : 1;
    gradients.set(name(l, 'hook_resid_post'), G);
    // MLP
    const dMlpOut = G.map((g) => g * keep);
    const ln2Post = rmsBackward(s.ln2Post, norm(`${pre}post_feedforward_layernorm.weight`), dMlpOut, frozen);
    const dPost = linearBackward(ln2Post.dx, W(`${pre}mlp.down_proj.weight`), M, D);
    const {
      dGate,
      dUp,
      dIn: dY2,
    } = gatedMlpBackward(
      dPost,
      s,
      { gate: W(`${pre}mlp.gate_proj.weight`), up: W(`${pre}mlp.up_proj.weight`) },
      { value: geluTanh, derivative: geluTanhDerivative },
      D,
      M,
    );
    const ln2 = rmsBackward(s.ln2, norm(`${pre}pre_feedforward_layernorm.weight`), dY2, frozen);
    const dMid = G.map((g, n) => g + ln2.dx[n]!);
    // attention
    const dAttnOut = dMid.map((g) => g * keep);
    const ln1Post = rmsBackward(s.ln1Post, norm(`${pre}post_attention_layernorm.weight`), dAttnOut, frozen);
    const dZ = linearBackward(ln1Post.dx, W(`${pre}self_attn.o_proj.weight`), H * Dh, D);
    const dResidPre = Float64Array.from(dMid);
    const ln1w = norm(`${pre}input_layernorm.weight`);
    const { qNorm, kNorm } = s;
    const attentionGradients = rotaryAttentionBackward(
      dZ,
      s,
      {
        attention,
        dModel: D,
        ropes: ropeOf(l),
        frozen,
        scoreGradient: (g, h, i, j) => {
          const capSlope = attnCap === null ? 1 : 1 - s.capped[(h * P + i) * P + j]! ** 2;
          return g * capSlope * scoreScale;
        },
        ...(qNorm && kNorm
          ? {
              qkNormBackward: (dQ: Float64Array, dK: Float64Array) => ({
                dQ: rmsBackward(qNorm, norm(`${pre}self_attn.q_norm.weight`), dQ, frozen).dx,
                dK: rmsBackward(kNorm, norm(`${pre}self_attn.k_norm.weight`), dK, frozen).dx,
              }),
            }
          : {}),
        projection: (which) => ({ w: W(`${pre}self_attn.${PROJECTIONS[which]!}.weight`), row: (h, e) => h * Dh + e }),
        inputNormBackward: (dy) => rmsBackward(s.ln1, ln1w, dy, frozen),
      },
      dResidPre,
    );
    setLayerHooks(gradients, l, {
      ...attentionGradients,
      'ln1_post.hook_scale': ln1Post.ds,
      'ln2_post.hook_scale': ln2Post.ds,
      hook_attn_out: dAttnOut,
      hook_resid_mid: dMid,
      'ln2.hook_scale': ln2.ds,
      hook_mlp_in: ln2.dx,
      'mlp.hook_pre': dGate,
      'mlp.hook_pre_linear': dUp,
      'mlp.hook_post': dPost,
      hook_mlp_out: dMlpOut,
      hook_resid_pre: dResidPre,
    });
    G = dResidPre;
  }
  return { metric: value, values, gradients };
}

/** The token embeddings of `ids` times sqrt(d_model), as HF's float32 product (the normalizer rounded to float32 too), [pos, d_model]. */
export function referenceGemmaEmbeddings(tensors: Map<string, ReferenceWeightTensor>, ids: readonly number[]): Float64Array {
  const D = tensors.get('model.embed_tokens.weight')!.shape[1]!;
  const normalizer = Math.fround(Math.sqrt(D));
  return embeddingRows(tensors, 'model.embed_tokens.weight', ids, (x) => Math.fround(x * normalizer));
}

const C = Math.sqrt(2 / Math.PI);

/** GELU's tanh approximation: 0.5 x (1 + tanh(c (x + 0.044715 x^3))). */
function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(C * (x + 0.044715 * x ** 3)));
}

function geluTanhDerivative(x: number): number {
  const t = Math.tanh(C * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * 0.044715 * x * x);
}
