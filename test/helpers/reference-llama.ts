/**
 * An independent float64 forward of a Llama-family checkpoint (llama, mistral, qwen2, qwen3), written
 * from HF's modeling_llama.py / modeling_mistral.py / modeling_qwen2.py / modeling_qwen3.py and read
 * straight from the HF tensors and config.json (none of the engine's adapter, config or graph code),
 * returning every hook point by its TransformerLens name, batch dropped:
 *   RMSNorm       x / sqrt(mean(x^2) + eps) * w                     hook_scale = sqrt(mean(x^2) + eps)
 *   RoPE          x cos + rotate_half(x) sin, rotate_half(x) = (-x[d/2:], x[:d/2]), angle pos * inv_freq[j mod d/2],
 *                 inv_freq = theta^(-2j/d), llama3 rope_scaling by wavelength
 *   attention     query head h reads kv head floor(h / (H / H_kv)); scores / sqrt(d_head); causal, and
 *                 with a sliding window W key j is visible from query i iff i - j < W
 *   MLP           down(silu(gate(x)) * up(x))
 */
import type { ReferenceHookCallback, ReferenceTensor, ReferenceWeightTensor } from './reference-gpt2.js';

export interface ReferenceLlamaOptions {
  /** Replaces a patchable hook's value (hook_resid_pre, attn.hook_z, hook_attn_out, hook_mlp_out) when it returns one. */
  intervene?: ReferenceHookCallback;
}

export function referenceLlamaForward(
  weights: Map<string, ReferenceWeightTensor>,
  config: Record<string, unknown>,
  ids: readonly number[],
  options: ReferenceLlamaOptions = {},
): Map<string, ReferenceTensor> {
  const num = (key: string, fallback?: number): number => (config[key] ?? fallback) as number;
  const type = config['model_type'] as string;
  const L = num('num_hidden_layers'),
    D = num('hidden_size'),
    H = num('num_attention_heads'),
    Hkv = num('num_key_value_heads', H),
    M = num('intermediate_size'),
    V = num('vocab_size'),
    eps = num('rms_norm_eps');
  const Dh = (config['head_dim'] as number | null | undefined) ?? D / H;
  const P = ids.length;
  const W = (name: string): Float32Array => {
    const t = weights.get(name);
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t.data;
  };
  const has = (name: string): boolean => weights.has(name);
  const out = new Map<string, ReferenceTensor>();
  const put = (name: string, data: Float64Array, shape: number[]): void => void out.set(name, { data, shape });
  /** Records a patchable hook and returns the value the forward goes on with (the intervention's, if any). */
  const hook = (name: string, data: Float64Array, shape: number[]): Float64Array => {
    const replaced = options.intervene?.(name, { data, shape });
    const used = replaced ? Float64Array.from(replaced.data) : data;
    put(name, used, shape);
    return used;
  };

  // y[r, o] = sum_i x[r, i] W[o, i] (+ b[o]), nn.Linear's [out, in] weight.
  const linear = (x: Float64Array, rows: number, w: Float32Array, inDim: number, outDim: number, b?: Float32Array): Float64Array => {
    const y = new Float64Array(rows * outDim);
    for (let r = 0; r < rows; r++)
      for (let o = 0; o < outDim; o++) {
        let s = b ? b[o]! : 0;
        for (let i = 0; i < inDim; i++) s += x[r * inDim + i]! * w[o * inDim + i]!;
        y[r * outDim + o] = s;
      }
    return y;
  };
  // RMSNorm of every `width`-wide row; returns the normalised rows and each row's scale.
  const rms = (x: Float64Array, width: number, w: Float32Array): { y: Float64Array; scale: Float64Array } => {
    const rows = x.length / width;
    const y = new Float64Array(x.length),
      scale = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let ss = 0;
      for (let i = 0; i < width; i++) ss += x[r * width + i]! ** 2;
      scale[r] = Math.sqrt(ss / width + eps);
      for (let i = 0; i < width; i++) y[r * width + i] = (x[r * width + i]! / scale[r]!) * w[i]!;
    }
    return { y, scale };
  };

  // Inverse frequencies, with llama3 scaling.
  const theta = num('rope_theta', 10000);
  const invFreq = Array.from({ length: Dh / 2 }, (_, j) => theta ** (-(2 * j) / Dh));
  const scaling = config['rope_scaling'] as Record<string, number | string> | null | undefined;
  if (scaling && (scaling['rope_type'] ?? scaling['type']) === 'llama3') {
    const factor = scaling['factor'] as number,
      low = scaling['low_freq_factor'] as number,
      high = scaling['high_freq_factor'] as number,
      orig = scaling['original_max_position_embeddings'] as number;
    for (let j = 0; j < invFreq.length; j++) {
      const f = invFreq[j]!;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < orig / high) continue; // high frequency: kept
      if (wavelen > orig / low)
        invFreq[j] = f / factor; // low frequency: scaled
      else {
        const smooth = (orig / wavelen - low) / (high - low);
        invFreq[j] = (1 - smooth) * (f / factor) + smooth * f;
      }
    }
  }
  const rope = (x: Float64Array, heads: number): Float64Array => {
    const y = new Float64Array(x.length);
    const half = Dh / 2;
    for (let p = 0; p < P; p++)
      for (let h = 0; h < heads; h++) {
        const base = (p * heads + h) * Dh;
        for (let d = 0; d < Dh; d++) {
          const angle = p * invFreq[d % half]!;
          const rotated = d < half ? -x[base + d + half]! : x[base + d - half]!;
          y[base + d] = x[base + d]! * Math.cos(angle) + rotated * Math.sin(angle);
        }
      }
    return y;
  };
  const window = (layer: number): number | null => {
    if (type === 'llama') return null;
    const sw = config['sliding_window'] as number | null | undefined;
    if (sw === null || sw === undefined) return null;
    if (type === 'mistral') return sw;
    return config['use_sliding_window'] === true && layer >= num('max_window_layers', 28) ? sw : null;
  };
  const qkvBias = type === 'qwen2' || config['attention_bias'] === true;
  const oBias = (type === 'llama' || type === 'qwen3') && config['attention_bias'] === true;

  let resid: Float64Array = new Float64Array(P * D);
  const E = W('model.embed_tokens.weight');
  for (let p = 0; p < P; p++) for (let i = 0; i < D; i++) resid[p * D + i] = E[ids[p]! * D + i]!;
  put('hook_embed', resid.slice(), [P, D]);

  for (let l = 0; l < L; l++) {
    const pre = `model.layers.${l}.`;
    const name = (hook: string): string => `blocks.${l}.${hook}`;
    resid = hook(name('hook_resid_pre'), resid.slice(), [P, D]);
    const ln1 = rms(resid, D, W(`${pre}input_layernorm.weight`));
    put(name('ln1.hook_scale'), ln1.scale, [P, 1]);
    const bias = (proj: string): Float32Array | undefined => (qkvBias ? W(`${pre}self_attn.${proj}.bias`) : undefined);
    let q = hook(name('attn.hook_q'), linear(ln1.y, P, W(`${pre}self_attn.q_proj.weight`), D, H * Dh, bias('q_proj')), [P, H, Dh]);
    let k = hook(name('attn.hook_k'), linear(ln1.y, P, W(`${pre}self_attn.k_proj.weight`), D, Hkv * Dh, bias('k_proj')), [P, Hkv, Dh]);
    const v = hook(name('attn.hook_v'), linear(ln1.y, P, W(`${pre}self_attn.v_proj.weight`), D, Hkv * Dh, bias('v_proj')), [P, Hkv, Dh]);
    if (has(`${pre}self_attn.q_norm.weight`)) {
      q = rms(q, Dh, W(`${pre}self_attn.q_norm.weight`)).y;
      k = rms(k, Dh, W(`${pre}self_attn.k_norm.weight`)).y;
    }
    const rq = rope(q, H),
      rk = rope(k, Hkv);
    put(name('attn.hook_rot_q'), rq, [P, H, Dh]);
    put(name('attn.hook_rot_k'), rk, [P, Hkv, Dh]);
    const pattern = new Float64Array(H * P * P);
    const z = new Float64Array(P * H * Dh);
    const group = H / Hkv;
    const w = window(l);
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / group);
      for (let i = 0; i < P; i++) {
        const scores: number[] = [];
        for (let j = 0; j <= i; j++) {
          if (w !== null && i - j >= w) {
            scores.push(-Infinity);
            continue;
          }
          let s = 0;
          for (let d = 0; d < Dh; d++) s += rq[(i * H + h) * Dh + d]! * rk[(j * Hkv + kh) * Dh + d]!;
          scores.push(s / Math.sqrt(Dh));
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
    const attnOut0 = linear(zUsed, P, W(`${pre}self_attn.o_proj.weight`), H * Dh, D, oBias ? W(`${pre}self_attn.o_proj.bias`) : undefined);
    const attnOut = hook(name('hook_attn_out'), attnOut0, [P, D]);
    const mid = resid.map((x, i) => x + attnOut[i]!);
    put(name('hook_resid_mid'), mid, [P, D]);
    const ln2 = rms(mid, D, W(`${pre}post_attention_layernorm.weight`));
    put(name('ln2.hook_scale'), ln2.scale, [P, 1]);
    const gate = linear(ln2.y, P, W(`${pre}mlp.gate_proj.weight`), D, M);
    const up = linear(ln2.y, P, W(`${pre}mlp.up_proj.weight`), D, M);
    const post = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
    put(name('mlp.hook_pre'), gate, [P, M]);
    put(name('mlp.hook_pre_linear'), up, [P, M]);
    put(name('mlp.hook_post'), post, [P, M]);
    const mlpOut = hook(name('hook_mlp_out'), linear(post, P, W(`${pre}mlp.down_proj.weight`), M, D), [P, D]);
    resid = mid.map((x, i) => x + mlpOut[i]!);
    put(name('hook_resid_post'), resid.slice(), [P, D]);
  }
  const final = rms(resid, D, W('model.norm.weight'));
  put('ln_final.hook_scale', final.scale, [P, 1]);
  const unembed = config['tie_word_embeddings'] === true ? E : W('lm_head.weight');
  put('logits', linear(final.y, P, unembed, D, V), [P, V]);
  return out;
}
