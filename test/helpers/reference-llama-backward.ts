/**
 * An independent float64 reverse pass of a Llama-family checkpoint (llama, mistral, qwen2, qwen3),
 * the known answer for the engine's Llama gradient graphs and the attribution built on them. Written
 * from HF's modeling_llama.py / modeling_mistral.py / modeling_qwen2.py / modeling_qwen3.py with naive
 * loops over the HF tensors and config.json, sharing no code with src/ (nor with the Tape): a forward
 * that keeps what the reverse pass needs, then the chain rule applied by hand, from the metric back
 * to the input embeddings.
 *
 *   RMSNorm   y = x / s * w, s = sqrt(mean(x^2) + eps):  dx = w dy / s − x Σ(w dy x) / (n s^3), ds = −Σ(w dy x) / s^2
 *   RoPE      y = x cos + rotate_half(x) sin, rotate_half(x) = (−x[n/2:], x[:n/2]) (llama3 scaling of the frequencies)
 *   attention query head h reads kv head floor(h / (H / H_kv)); scores q·k / sqrt(d_head), causal, with a
 *             sliding window key j visible from query i iff i − j < W; softmax: dS = A (dA − Σ A dA)
 *   MLP       down(silu(gate(x)) * up(x)), silu'(g) = σ(g) (1 + g (1 − σ(g)))
 *
 * The metric at the last position is m = Σ_t c_t · logits[t] + Σ_t d_t · log_softmax(logits)[t]. Every
 * query head reads its own copy of resid_pre through its own input_layernorm, and so do each kv head's
 * key and its value (split inputs); the MLP reads its own copy of resid_mid.
 *
 * Values and gradients by TransformerLens name, batch dropped (L the layer):
 *   blocks.L.hook_resid_pre, hook_attn_out, hook_resid_mid, hook_mlp_out, hook_resid_post   [pos, d_model]
 *   blocks.L.ln1.hook_scale, ln2.hook_scale                                               [pos, 1]
 *   blocks.L.attn.hook_q, hook_rot_q, hook_z                                              [pos, head, d_head]
 *   blocks.L.attn.hook_k, hook_v, hook_rot_k                                              [pos, kv_head, d_head]
 *   blocks.L.attn.hook_pattern                                                            [head, query, key]
 *   blocks.L.mlp.hook_pre (gate), mlp.hook_pre_linear (up), mlp.hook_post                 [pos, d_mlp]
 * gradients only:
 *   blocks.L.hook_q_input [pos, head, d_model]; hook_k_input, hook_v_input [pos, kv_head, d_model]
 *   blocks.L.hook_mlp_in [pos, d_model]; final_resid [pos, d_model]
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
} from './reference-backward-ops.js';

/** The attention's projections, in the order of rotaryAttentionBackward's `which`. */
const PROJECTIONS = ['q_proj', 'k_proj', 'v_proj'];

/** Runs the model from input embeddings [pos, d_model] (the token embeddings) and returns the metric's gradients. */
export function referenceLlamaGradients(
  tensors: Map<string, ReferenceWeightTensor>,
  config: Record<string, unknown>,
  embeddings: Float64Array,
  metric: ReferenceMetric,
  options: ReferenceBackwardOptions = {},
): ReferenceGradients {
  const num = (key: string, fallback?: number): number => (config[key] ?? fallback) as number;
  const type = config['model_type'] as string;
  const { nLayers, D, H, Hkv, M, V, eps, Dh, P } = rmsFamilySizes(config, embeddings);
  const frozen = options.frozen ?? false;
  const W = tensorLookup(tensors, 'reference-llama-backward');
  const qkvBias = type === 'qwen2' || config['attention_bias'] === true;
  const oBias = (type === 'llama' || type === 'qwen3') && config['attention_bias'] === true;
  const qkNorm = tensors.has('model.layers.0.self_attn.q_norm.weight');

  // ---- RoPE angles: inv_freq_j = theta^(-2j / d_head), llama3 scaling by wavelength ----
  const theta = num('rope_theta', 10000);
  const half = Dh / 2;
  const invFreq = Array.from({ length: half }, (_, j) => Math.pow(theta, -(2 * j) / Dh));
  const scaling = config['rope_scaling'] as Record<string, number | string> | null | undefined;
  if (scaling && (scaling['rope_type'] ?? scaling['type']) === 'llama3') {
    const factor = scaling['factor'] as number,
      lowFactor = scaling['low_freq_factor'] as number,
      highFactor = scaling['high_freq_factor'] as number,
      original = scaling['original_max_position_embeddings'] as number;
    for (let j = 0; j < half; j++) {
      const wavelength = (2 * Math.PI) / invFreq[j]!;
      if (wavelength < original / highFactor) continue;
      if (wavelength > original / lowFactor) invFreq[j] = invFreq[j]! / factor;
      else {
        const smooth = (original / wavelength - lowFactor) / (highFactor - lowFactor);
        invFreq[j] = (1 - smooth) * (invFreq[j]! / factor) + smooth * invFreq[j]!;
      }
    }
  }
  const qRope = { positions: P, heads: H, headDim: Dh, rotary: Dh, invFreq };
  const ropes = { q: qRope, k: { ...qRope, heads: Hkv } };
  const attention = { positions: P, heads: H, kvHeads: Hkv, headDim: Dh };
  const windowOf = (layer: number): number | null => {
    if (type === 'llama') return null;
    const sw = config['sliding_window'] as number | null | undefined;
    if (sw === null || sw === undefined) return null;
    if (type === 'mistral') return sw;
    return config['use_sliding_window'] === true && layer >= num('max_window_layers', 28) ? sw : null;
  };

  // ---- forward ----
  interface Saved {
    ln1: RmsSaved;
    qNorm: RmsSaved | null;
    kNorm: RmsSaved | null;
    rq: Float64Array;
    rk: Float64Array;
    v: Float64Array;
    A: Float64Array;
    ln2: RmsSaved;
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
    const y1 = rmsNormed(ln1, W(`${pre}input_layernorm.weight`));
    const bias = (proj: string): Float32Array | undefined => (qkvBias ? W(`${pre}self_attn.${proj}.bias`) : undefined);
    const q = linear(y1, W(`${pre}self_attn.q_proj.weight`), D, H * Dh, bias('q_proj'));
    const k = linear(y1, W(`${pre}self_attn.k_proj.weight`), D, Hkv * Dh, bias('k_proj'));
    const v = linear(y1, W(`${pre}self_attn.v_proj.weight`), D, Hkv * Dh, bias('v_proj'));
    const qkWeights = qkNorm ? { q: W(`${pre}self_attn.q_norm.weight`), k: W(`${pre}self_attn.k_norm.weight`) } : null;
    const { qn, kn, qNorm, kNorm } = qkNormsForward(q, k, Dh, eps, qkWeights);
    const { rq, rk, A, z, hooks } = rotaryAttentionForward(qn, kn, v, ropes, attention, windowOf(l), (dot) => dot / Math.sqrt(Dh));
    const attnOut = linear(z, W(`${pre}self_attn.o_proj.weight`), H * Dh, D, oBias ? W(`${pre}self_attn.o_proj.bias`) : undefined);
    const mid = x.map((xi, n) => xi + attnOut[n]!);
    const ln2 = rmsForward(mid, D, eps);
    const y2 = rmsNormed(ln2, W(`${pre}post_attention_layernorm.weight`));
    const gate = linear(y2, W(`${pre}mlp.gate_proj.weight`), D, M);
    const up = linear(y2, W(`${pre}mlp.up_proj.weight`), D, M);
    const post = gate.map((g, n) => silu(g) * up[n]!);
    const mlpOut = linear(post, W(`${pre}mlp.down_proj.weight`), M, D);
    const next = mid.map((m, n) => m + mlpOut[n]!);
    setLayerHooks(values, l, {
      ...hooks,
      'attn.hook_q': q,
      'attn.hook_k': k,
      'ln1.hook_scale': ln1.s,
      hook_attn_out: attnOut,
      hook_resid_mid: mid,
      'ln2.hook_scale': ln2.s,
      'mlp.hook_pre': gate,
      'mlp.hook_pre_linear': up,
      'mlp.hook_post': post,
      hook_mlp_out: mlpOut,
      hook_resid_post: next,
    });
    saved.push({ ln1, qNorm, kNorm, rq, rk, v, A, ln2, gate, up });
    x = next;
  }

  // ---- metric and its gradient at the last position ----
  const unembed = config['tie_word_embeddings'] === true ? W('model.embed_tokens.weight') : W('lm_head.weight');
  const finalWeight = W('model.norm.weight');
  const lnF = rmsForward(x.slice((P - 1) * D, P * D), D, eps);
  const yF = rmsNormed(lnF, finalWeight);
  const logits = linear(yF, unembed, D, V);
  const { value, dLogits } = metricGradient(logits, metric);
  const dFinal = new Float64Array(P * D);
  dFinal.set(rmsBackward(lnF, finalWeight, linearBackward(dLogits, unembed, D, V), frozen).dx, (P - 1) * D);
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
    const dPost = linearBackward(dMlpOut, W(`${pre}mlp.down_proj.weight`), M, D);
    const {
      dGate,
      dUp,
      dIn: dY2,
    } = gatedMlpBackward(
      dPost,
      s,
      { gate: W(`${pre}mlp.gate_proj.weight`), up: W(`${pre}mlp.up_proj.weight`) },
      { value: silu, derivative: siluDerivative },
      D,
      M,
    );
    const ln2 = rmsBackward(s.ln2, W(`${pre}post_attention_layernorm.weight`), dY2, frozen);
    const dMid = G.map((g, n) => g + ln2.dx[n]!);
    // attention
    const dAttnOut = dMid.map((g) => g * keep);
    const dZ = linearBackward(dAttnOut, W(`${pre}self_attn.o_proj.weight`), H * Dh, D);
    const dResidPre = Float64Array.from(dMid);
    const ln1w = W(`${pre}input_layernorm.weight`);
    const { qNorm, kNorm } = s;
    const attentionGradients = rotaryAttentionBackward(
      dZ,
      s,
      {
        attention,
        dModel: D,
        ropes,
        frozen,
        scoreGradient: (g) => g / Math.sqrt(Dh),
        ...(qNorm && kNorm
          ? {
              qkNormBackward: (dQ: Float64Array, dK: Float64Array) => ({
                dQ: rmsBackward(qNorm, W(`${pre}self_attn.q_norm.weight`), dQ, frozen).dx,
                dK: rmsBackward(kNorm, W(`${pre}self_attn.k_norm.weight`), dK, frozen).dx,
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

/** The token embeddings of `ids`, [pos, d_model] (no position embedding: the positions are RoPE's). */
export function referenceLlamaEmbeddings(tensors: Map<string, ReferenceWeightTensor>, ids: readonly number[]): Float64Array {
  return embeddingRows(tensors, 'model.embed_tokens.weight', ids);
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function silu(x: number): number {
  return x * sigmoid(x);
}

function siluDerivative(x: number): number {
  const s = sigmoid(x);
  return s * (1 + x * (1 - s));
}
