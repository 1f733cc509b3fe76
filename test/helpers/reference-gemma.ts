/**
 * An independent float64 forward of a Gemma checkpoint (gemma2, gemma3_text), written from HF's
 * modeling_gemma2.py / modeling_gemma3.py and read straight from the HF tensors and config.json
 * (none of the engine's adapter, config or graph code), returning every hook point by its
 * TransformerLens name, batch dropped, and the logits before the final soft-cap:
 *   embedding     embed_tokens[id] * sqrt(hidden_size) (rounded to float32, as HF's float32 product)
 *   RMSNorm       x / sqrt(mean(x^2) + eps) * (1 + w)                  hook_scale = sqrt(mean(x^2) + eps)
 *   block         h = x + post_attention_layernorm(attn(input_layernorm(x)))
 *                 out = h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)))
 *                 hook_attn_out / hook_mlp_out are the post-normed outputs (TransformerLens's ln1_post, ln2_post)
 *   attention     Gemma 3: q_norm / k_norm per head (the (1 + w) RMSNorm) before RoPE; RoPE rotate_half,
 *                 inv_freq = theta^(-2j/d) (Gemma 3: theta = rope_local_base_freq on sliding layers, rope_theta
 *                 on global ones, whose inv_freq a linear rope_scaling divides by its factor);
 *                 scores * query_pre_attn_scalar^-0.5, then cap * tanh(scores / cap) with attn_logit_softcapping,
 *                 then the causal mask (and on sliding layers key j visible from query i iff i - j < sliding_window);
 *                 query head h reads kv head floor(h / (H / H_kv))
 *   layer types   layer_types if given; else Gemma 2: `is_sliding = not layer_idx % 2`; Gemma 3: sliding unless
 *                 (i + 1) % sliding_window_pattern == 0 (default 6)
 *   MLP           down(gelu_tanh(gate(x)) * up(x)), gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 *   logits        norm(x) @ embed_tokens^T (tied), then cap * tanh(logits / cap) with final_logit_softcapping
 */
import type { ReferenceHookCallback, ReferenceTensor, ReferenceWeightTensor } from './reference-gpt2.js';

export interface ReferenceGemmaOptions {
  /** Replaces a patchable hook's value (hook_resid_pre, attn.hook_q/k/v, attn.hook_z, hook_attn_out, hook_mlp_out) when it returns one. */
  intervene?: ReferenceHookCallback;
}

export interface ReferenceGemmaResult {
  hooks: Map<string, ReferenceTensor>;
  /** The logits before the final soft-cap, [pos, vocab] (equal to `logits` without one). */
  preSoftcapLogits: Float64Array;
}

export function referenceGemmaForward(
  weights: Map<string, ReferenceWeightTensor>,
  config: Record<string, unknown>,
  ids: readonly number[],
  options: ReferenceGemmaOptions = {},
): ReferenceGemmaResult {
  const num = (key: string, fallback?: number): number => (config[key] ?? fallback) as number;
  const type = config['model_type'] as 'gemma2' | 'gemma3_text';
  const L = num('num_hidden_layers'),
    D = num('hidden_size'),
    H = num('num_attention_heads'),
    Hkv = num('num_key_value_heads', H),
    Dh = num('head_dim', 256),
    M = num('intermediate_size'),
    V = num('vocab_size'),
    eps = num('rms_norm_eps', 1e-6);
  const optional = (key: string, fallback: number | null): number | null => (key in config ? (config[key] as number | null) : fallback);
  const attnCap = optional('attn_logit_softcapping', type === 'gemma2' ? 50 : null);
  const finalCap = optional('final_logit_softcapping', type === 'gemma2' ? 30 : null);
  const scaling = num('query_pre_attn_scalar', 256) ** -0.5;
  const P = ids.length;
  const W = (name: string): Float32Array => {
    const t = weights.get(name);
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t.data;
  };
  const hooks = new Map<string, ReferenceTensor>();
  const put = (name: string, data: Float64Array, shape: number[]): void => void hooks.set(name, { data, shape });
  /** Records a patchable hook and returns the value the forward goes on with (the intervention's, if any). */
  const hook = (name: string, data: Float64Array, shape: number[]): Float64Array => {
    const replaced = options.intervene?.(name, { data, shape });
    const used = replaced ? Float64Array.from(replaced.data) : data;
    put(name, used, shape);
    return used;
  };

  // y[r, o] = sum_i x[r, i] W[o, i], nn.Linear's [out, in] weight (Gemma has no biases).
  const linear = (x: Float64Array, rows: number, w: Float32Array, inDim: number, outDim: number): Float64Array => {
    const y = new Float64Array(rows * outDim);
    for (let r = 0; r < rows; r++)
      for (let o = 0; o < outDim; o++) {
        let s = 0;
        for (let i = 0; i < inDim; i++) s += x[r * inDim + i]! * w[o * inDim + i]!;
        y[r * outDim + o] = s;
      }
    return y;
  };
  // Gemma's RMSNorm of every `width`-wide row, times (1 + w); returns the rows and each row's scale.
  const rms = (x: Float64Array, width: number, w: Float32Array): { y: Float64Array; scale: Float64Array } => {
    const rows = x.length / width;
    const y = new Float64Array(x.length),
      scale = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let ss = 0;
      for (let i = 0; i < width; i++) ss += x[r * width + i]! ** 2;
      scale[r] = Math.sqrt(ss / width + eps);
      for (let i = 0; i < width; i++) y[r * width + i] = (x[r * width + i]! / scale[r]!) * (1 + w[i]!);
    }
    return { y, scale };
  };

  const layerTypes: string[] = Array.isArray(config['layer_types'])
    ? (config['layer_types'] as string[])
    : Array.from({ length: L }, (_, i) =>
        type === 'gemma2'
          ? i % 2 === 0
            ? 'sliding_attention'
            : 'full_attention'
          : (i + 1) % num('sliding_window_pattern', 6) !== 0
            ? 'sliding_attention'
            : 'full_attention',
      );
  const invFreq = (sliding: boolean): number[] => {
    const local = type === 'gemma3_text' && sliding;
    const theta = local ? num('rope_local_base_freq', 10000) : num('rope_theta', type === 'gemma2' ? 10000 : 1_000_000);
    const rs = config['rope_scaling'] as { rope_type?: string; type?: string; factor?: number } | null | undefined;
    const factor = !local && rs && (rs.rope_type ?? rs.type) === 'linear' ? rs.factor! : 1;
    return Array.from({ length: Dh / 2 }, (_, j) => theta ** (-(2 * j) / Dh) / factor);
  };
  const rope = (x: Float64Array, heads: number, inv: number[]): Float64Array => {
    const y = new Float64Array(x.length);
    const half = Dh / 2;
    for (let p = 0; p < P; p++)
      for (let h = 0; h < heads; h++) {
        const base = (p * heads + h) * Dh;
        for (let d = 0; d < Dh; d++) {
          const angle = p * inv[d % half]!;
          const rotated = d < half ? -x[base + d + half]! : x[base + d - half]!;
          y[base + d] = x[base + d]! * Math.cos(angle) + rotated * Math.sin(angle);
        }
      }
    return y;
  };
  const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

  const E = W('model.embed_tokens.weight');
  const normalizer = Math.fround(Math.sqrt(D));
  let resid: Float64Array = new Float64Array(P * D);
  for (let p = 0; p < P; p++) for (let i = 0; i < D; i++) resid[p * D + i] = Math.fround(E[ids[p]! * D + i]! * normalizer);
  put('hook_embed', resid.slice(), [P, D]);

  for (let l = 0; l < L; l++) {
    const pre = `model.layers.${l}.`;
    const name = (h: string): string => `blocks.${l}.${h}`;
    const sliding = layerTypes[l] === 'sliding_attention';
    const window = sliding ? num('sliding_window', 4096) : null;
    resid = hook(name('hook_resid_pre'), resid.slice(), [P, D]);
    const ln1 = rms(resid, D, W(`${pre}input_layernorm.weight`));
    put(name('ln1.hook_scale'), ln1.scale, [P, 1]);
    let q = hook(name('attn.hook_q'), linear(ln1.y, P, W(`${pre}self_attn.q_proj.weight`), D, H * Dh), [P, H, Dh]);
    let k = hook(name('attn.hook_k'), linear(ln1.y, P, W(`${pre}self_attn.k_proj.weight`), D, Hkv * Dh), [P, Hkv, Dh]);
    const v = hook(name('attn.hook_v'), linear(ln1.y, P, W(`${pre}self_attn.v_proj.weight`), D, Hkv * Dh), [P, Hkv, Dh]);
    if (type === 'gemma3_text') {
      q = rms(q, Dh, W(`${pre}self_attn.q_norm.weight`)).y;
      k = rms(k, Dh, W(`${pre}self_attn.k_norm.weight`)).y;
    }
    const inv = invFreq(sliding);
    const rq = rope(q, H, inv),
      rk = rope(k, Hkv, inv);
    put(name('attn.hook_rot_q'), rq, [P, H, Dh]);
    put(name('attn.hook_rot_k'), rk, [P, Hkv, Dh]);
    const pattern = new Float64Array(H * P * P);
    const z = new Float64Array(P * H * Dh);
    const group = H / Hkv;
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / group);
      for (let i = 0; i < P; i++) {
        const scores: number[] = [];
        for (let j = 0; j <= i; j++) {
          if (window !== null && i - j >= window) {
            scores.push(-Infinity);
            continue;
          }
          let s = 0;
          for (let d = 0; d < Dh; d++) s += rq[(i * H + h) * Dh + d]! * rk[(j * Hkv + kh) * Dh + d]!;
          s *= scaling;
          scores.push(attnCap === null ? s : attnCap * Math.tanh(s / attnCap));
        }
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const total = exps.reduce((a, b) => a + b, 0);
        exps.forEach((e, j) => (pattern[(h * P + i) * P + j] = e / total));
        for (let d = 0; d < Dh; d++) {
          let s = 0;
          for (let j = 0; j <= i; j++) s += pattern[(h * P + i) * P + j]! * v[(j * Hkv + kh) * Dh + d]!;
          z[(i * H + h) * Dh + d] = s;
        }
      }
    }
    put(name('attn.hook_pattern'), pattern, [H, P, P]);
    const zUsed = hook(name('attn.hook_z'), z, [P, H, Dh]);
    const attnPost = rms(linear(zUsed, P, W(`${pre}self_attn.o_proj.weight`), H * Dh, D), D, W(`${pre}post_attention_layernorm.weight`));
    put(name('ln1_post.hook_scale'), attnPost.scale, [P, 1]);
    const attnOut = hook(name('hook_attn_out'), attnPost.y, [P, D]);
    const mid = resid.map((x, i) => x + attnOut[i]!);
    put(name('hook_resid_mid'), mid, [P, D]);
    const ln2 = rms(mid, D, W(`${pre}pre_feedforward_layernorm.weight`));
    put(name('ln2.hook_scale'), ln2.scale, [P, 1]);
    const gate = linear(ln2.y, P, W(`${pre}mlp.gate_proj.weight`), D, M);
    const up = linear(ln2.y, P, W(`${pre}mlp.up_proj.weight`), D, M);
    const post = gate.map((g, i) => geluTanh(g) * up[i]!);
    put(name('mlp.hook_pre'), gate, [P, M]);
    put(name('mlp.hook_pre_linear'), up, [P, M]);
    put(name('mlp.hook_post'), post, [P, M]);
    const mlpPost = rms(linear(post, P, W(`${pre}mlp.down_proj.weight`), M, D), D, W(`${pre}post_feedforward_layernorm.weight`));
    put(name('ln2_post.hook_scale'), mlpPost.scale, [P, 1]);
    const mlpOut = hook(name('hook_mlp_out'), mlpPost.y, [P, D]);
    resid = mid.map((x, i) => x + mlpOut[i]!);
    put(name('hook_resid_post'), resid.slice(), [P, D]);
  }
  const final = rms(resid, D, W('model.norm.weight'));
  put('ln_final.hook_scale', final.scale, [P, 1]);
  const unembed = config['tie_word_embeddings'] === false ? W('lm_head.weight') : E;
  const preSoftcapLogits = linear(final.y, P, unembed, D, V);
  put('logits', finalCap === null ? preSoftcapLogits : preSoftcapLogits.map((x) => finalCap * Math.tanh(x / finalCap)), [P, V]);
  return { hooks, preSoftcapLogits };
}
