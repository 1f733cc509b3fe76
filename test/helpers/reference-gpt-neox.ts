/**
 * An independent float64 forward of a GPT-NeoX checkpoint (Pythia), written from HF's
 * modeling_gpt_neox.py and read straight from the HF tensors and config.json (none of the engine's
 * adapter, config or graph code), returning every hook point by its TransformerLens name, batch dropped:
 *   LayerNorm     (x - mean) / sqrt(var + eps) * w + b                 hook_scale = sqrt(var + eps)
 *   q, k, v       query_key_value(x) viewed as [pos, head, 3 * d_head]: q = [..., :d_head], k, v after
 *   RoPE          on the first rotary_ndims = int(d_head * rotary_pct) dims only: x cos + rotate_half(x) sin,
 *                 rotate_half over those dims, inv_freq = base^(-2j / rotary_ndims); the rest passed through
 *   attention     scores / sqrt(d_head), causal; attention.dense with its bias
 *   MLP           dense_4h_to_h(gelu(dense_h_to_4h(x))), exact gelu 0.5 x (1 + erf(x / sqrt 2))
 *   residual      use_parallel_residual: x + attn(ln1(x)) + mlp(ln2(x)); else h = x + attn(ln1(x)), h + mlp(ln2(h))
 * An intervention replaces hook_resid_pre, attn.hook_q/k/v, attn.hook_z, hook_attn_out or hook_mlp_out, and the
 * forward goes on with the replaced value (TransformerLens's hooks).
 */
import type { ReferenceHookCallback, ReferenceTensor, ReferenceWeightTensor } from './reference-gpt2.js';
import { attentionForward, linear, rope } from './reference-backward-ops.js';

export interface ReferenceGptNeoxOptions {
  /** Replaces a patchable hook's value (hook_resid_pre, attn.hook_q/k/v, attn.hook_z, hook_attn_out, hook_mlp_out) when it returns one. */
  intervene?: ReferenceHookCallback;
}

export function referenceGptNeoxForward(
  weights: Map<string, ReferenceWeightTensor>,
  config: Record<string, unknown>,
  ids: readonly number[],
  options: ReferenceGptNeoxOptions = {},
): Map<string, ReferenceTensor> {
  const { nLayers: L, D, H, M, V, eps, Dh, R, base, parallel, bias } = gptNeoxSizes(config);
  const P = ids.length;
  const W = (name: string): Float32Array => {
    const t = weights.get(name);
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t.data;
  };
  const out = new Map<string, ReferenceTensor>();
  const put = (name: string, data: Float64Array, shape: number[]): void => void out.set(name, { data, shape });
  /** Records a patchable hook and returns the value the forward goes on with (the intervention's, if any). */
  const hook = (name: string, data: Float64Array, shape: number[]): Float64Array => {
    const replaced = options.intervene?.(name, { data, shape });
    const used = replaced ? Float64Array.from(replaced.data) : data;
    put(name, used, shape);
    return used;
  };

  const layerNorm = (x: Float64Array, prefix: string): { y: Float64Array; scale: Float64Array } => {
    const w = W(`${prefix}.weight`),
      b = W(`${prefix}.bias`);
    const y = new Float64Array(x.length),
      scale = new Float64Array(P);
    for (let p = 0; p < P; p++) {
      let mean = 0;
      for (let i = 0; i < D; i++) mean += x[p * D + i]!;
      mean /= D;
      let variance = 0;
      for (let i = 0; i < D; i++) variance += (x[p * D + i]! - mean) ** 2;
      scale[p] = Math.sqrt(variance / D + eps);
      for (let i = 0; i < D; i++) y[p * D + i] = ((x[p * D + i]! - mean) / scale[p]!) * w[i]! + b[i]!;
    }
    return { y, scale };
  };
  const ropeShape = { positions: P, heads: H, headDim: Dh, rotary: R, invFreq: Array.from({ length: R / 2 }, (_, j) => base ** (-(2 * j) / R)) };

  let resid: Float64Array = new Float64Array(P * D);
  const E = W('gpt_neox.embed_in.weight');
  for (let p = 0; p < P; p++) for (let i = 0; i < D; i++) resid[p * D + i] = E[ids[p]! * D + i]!;
  put('hook_embed', resid.slice(), [P, D]);

  for (let l = 0; l < L; l++) {
    const pre = `gpt_neox.layers.${l}.`;
    const name = (hook: string): string => `blocks.${l}.${hook}`;
    resid = hook(name('hook_resid_pre'), resid.slice(), [P, D]);
    const ln1 = layerNorm(resid, `${pre}input_layernorm`);
    put(name('ln1.hook_scale'), ln1.scale, [P, 1]);
    const qkv = linear(ln1.y, W(`${pre}attention.query_key_value.weight`), D, 3 * D, bias ? W(`${pre}attention.query_key_value.bias`) : undefined);
    const part = (which: number): Float64Array => gptNeoxQkvPart(qkv, P, H, Dh, which);
    // Patchable too (before RoPE), as path patching's receivers.
    const q = hook(name('attn.hook_q'), part(0), [P, H, Dh]),
      k = hook(name('attn.hook_k'), part(1), [P, H, Dh]),
      v = hook(name('attn.hook_v'), part(2), [P, H, Dh]);
    const rq = rope(q, ropeShape),
      rk = rope(k, ropeShape);
    put(name('attn.hook_rot_q'), rq, [P, H, Dh]);
    put(name('attn.hook_rot_k'), rk, [P, H, Dh]);
    const { A: pattern, z } = attentionForward(rq, rk, v, { positions: P, heads: H, kvHeads: H, headDim: Dh }, null, (dot) => dot / Math.sqrt(Dh));
    put(name('attn.hook_pattern'), pattern, [H, P, P]);
    const zUsed = hook(name('attn.hook_z'), z, [P, H, Dh]);
    const attnOut = hook(name('hook_attn_out'), linear(zUsed, W(`${pre}attention.dense.weight`), D, D, bias ? W(`${pre}attention.dense.bias`) : undefined), [
      P,
      D,
    ]);
    const mid = resid.map((x, i) => x + attnOut[i]!);
    if (!parallel) put(name('hook_resid_mid'), mid, [P, D]);
    const ln2 = layerNorm(parallel ? resid : mid, `${pre}post_attention_layernorm`);
    put(name('ln2.hook_scale'), ln2.scale, [P, 1]);
    const hidden = linear(ln2.y, W(`${pre}mlp.dense_h_to_4h.weight`), D, M, W(`${pre}mlp.dense_h_to_4h.bias`));
    put(name('mlp.hook_pre'), hidden, [P, M]);
    const post = hidden.map((x) => 0.5 * x * (1 + erf(x / Math.SQRT2)));
    put(name('mlp.hook_post'), post, [P, M]);
    const mlpOut = hook(name('hook_mlp_out'), linear(post, W(`${pre}mlp.dense_4h_to_h.weight`), M, D, W(`${pre}mlp.dense_4h_to_h.bias`)), [P, D]);
    resid = mid.map((x, i) => x + mlpOut[i]!);
    put(name('hook_resid_post'), resid.slice(), [P, D]);
  }
  const final = layerNorm(resid, 'gpt_neox.final_layer_norm');
  put('ln_final.hook_scale', final.scale, [P, 1]);
  const unembed = config['tie_word_embeddings'] === true ? E : W('embed_out.weight');
  put('logits', linear(final.y, unembed, D, V), [P, V]);
  return out;
}

/** The sizes and switches of a GPT-NeoX config.json: R = rotary_ndims, the RoPE base, the parallel residual, the attention biases. */
export function gptNeoxSizes(config: Record<string, unknown>) {
  const num = (key: string, fallback?: number): number => (config[key] ?? fallback) as number;
  const D = num('hidden_size'),
    H = num('num_attention_heads');
  const Dh = D / H;
  return {
    nLayers: num('num_hidden_layers'),
    D,
    H,
    M: num('intermediate_size'),
    V: num('vocab_size'),
    eps: num('layer_norm_eps', 1e-5),
    Dh,
    R: Math.floor(Dh * num('rotary_pct', 0.25)),
    base: num('rotary_emb_base', 10000),
    parallel: config['use_parallel_residual'] !== false,
    bias: config['attention_bias'] !== false,
  };
}

/** HF's qkv.view(pos, head, 3 * d_head): query = [..., :d_head], key = [..., d_head:2 d_head], value the rest; part `which` [pos, head, d_head]. */
export function gptNeoxQkvPart(qkv: Float64Array, P: number, H: number, Dh: number, which: number): Float64Array {
  const t = new Float64Array(P * H * Dh);
  for (let p = 0; p < P; p++) for (let h = 0; h < H; h++) for (let d = 0; d < Dh; d++) t[(p * H + h) * Dh + d] = qkv[(p * H + h) * 3 * Dh + which * Dh + d]!;
  return t;
}

/**
 * erf in float64: 2 / sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1 3 5 ... (2n+1)), a series of
 * positive terms (no cancellation) that converges for every x; past |x| = 6, erf is +-1 in float64.
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a >= 6) return Math.sign(x);
  let term = a,
    sum = a;
  for (let n = 1; term > sum * 1e-17; n++) {
    term *= (2 * a * a) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum;
}
