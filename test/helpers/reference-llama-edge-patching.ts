/**
 * Float64 reference of edge-level patching on a Llama-family checkpoint (Hanna et al. 2024), written
 * from the definition with naive loops over the HF tensors, independent of the engine: the model
 * runs on the clean prompt, and each reader v (query head h's input, key/value head g's key or value
 * input, MLP L's input, the logits) reads
 *
 *   input_v = Σ over writers u before v of (edge u → v kept ? out_u(this run) : out_u(corrupted run))
 *             + the o_proj biases of the layers before v (when the model has them)
 *
 * where the writers are the token embedding, each head's z_h · o_proj[:, h] and each MLP's output.
 * Reader names as EdgeGraph's: `L1H2.q`, `L1KV0.k` / `L1KV0.v` under grouped-query attention (else
 * `L1H0.k`), `mlp1`, `logits`. The corrupted run's writers come from reference-llama.ts's forward.
 */
import type { KeepEdge, ReferenceMetric } from './reference-edge-patching.js';
import type { ReferenceWeightTensor } from './reference-gpt2.js';
import { referenceLlamaForward } from './reference-llama.js';

/** The metric of the clean prompt with the kept edges carrying this run's writers and the others the corrupted run's. */
export function referenceLlamaEdgePatchedMetric(
  tensors: Map<string, ReferenceWeightTensor>,
  config: Record<string, unknown>,
  clean: readonly number[],
  corrupt: readonly number[],
  keep: KeepEdge,
  metric: ReferenceMetric,
): number {
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
  const P = clean.length;
  const W = (name: string): Float32Array => tensors.get(name)!.data;
  const qkvBias = type === 'qwen2' || config['attention_bias'] === true;
  const oBias = (type === 'llama' || type === 'qwen3') && config['attention_bias'] === true;
  const qkNorm = tensors.has('model.layers.0.self_attn.q_norm.weight');
  const gqa = Hkv !== H;

  /** head h's output z_h · o_proj[:, h] from hook_z [pos, head, d_head], [pos, d_model]. */
  const headOut = (z: Float64Array, layer: number, h: number): Float64Array => {
    const o = W(`model.layers.${layer}.self_attn.o_proj.weight`);
    const out = new Float64Array(P * D);
    for (let p = 0; p < P; p++)
      for (let i = 0; i < D; i++) for (let e = 0; e < Dh; e++) out[p * D + i]! += z[(p * H + h) * Dh + e]! * o[i * H * Dh + h * Dh + e]!;
    return out;
  };
  const corrupted = new Map<string, Float64Array>();
  const ref = referenceLlamaForward(tensors, config, corrupt);
  corrupted.set('embed', ref.get('hook_embed')!.data);
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) corrupted.set(`L${l}H${h}`, headOut(ref.get(`blocks.${l}.attn.hook_z`)!.data, l, h));
    corrupted.set(`mlp${l}`, ref.get(`blocks.${l}.hook_mlp_out`)!.data);
  }

  const current = new Map<string, Float64Array>();
  const E = W('model.embed_tokens.weight');
  const embed = new Float64Array(P * D);
  clean.forEach((id, p) => {
    for (let i = 0; i < D; i++) embed[p * D + i] = E[id * D + i]!;
  });
  current.set('embed', embed);
  const writersBefore = (layer: number, ownHeads: boolean): string[] => {
    const w = ['embed'];
    for (let l = 0; l < layer; l++) w.push(...Array.from({ length: H }, (_, h) => `L${l}H${h}`), `mlp${l}`);
    if (ownHeads) w.push(...Array.from({ length: H }, (_, h) => `L${layer}H${h}`));
    return w;
  };
  /** A reader's input: each writer's value of this run or of the corrupted run, plus the o_proj biases before it. */
  const input = (reader: string, layer: number, ownHeads: boolean): Float64Array => {
    const x = new Float64Array(P * D);
    for (const u of writersBefore(layer, ownHeads)) {
      const value = keep(u, reader) ? current.get(u)! : corrupted.get(u)!;
      for (let n = 0; n < P * D; n++) x[n]! += value[n]!;
    }
    const biasLayers = ownHeads ? layer + 1 : layer;
    if (oBias) for (let l = 0; l < biasLayers; l++) for (let n = 0; n < P * D; n++) x[n]! += W(`model.layers.${l}.self_attn.o_proj.bias`)[n % D]!;
    return x;
  };
  const rms = (x: Float64Array, width: number, w: Float32Array): Float64Array => {
    const y = new Float64Array(x.length);
    for (let r = 0; r < x.length / width; r++) {
      let ss = 0;
      for (let i = 0; i < width; i++) ss += x[r * width + i]! ** 2;
      const s = Math.sqrt(ss / width + eps);
      for (let i = 0; i < width; i++) y[r * width + i] = (x[r * width + i]! / s) * w[i]!;
    }
    return y;
  };
  /** Rows h * d_head .. of an nn.Linear [heads * d_head, d_model] applied to x [pos, d_model]: [pos, d_head]. */
  const project = (x: Float64Array, weight: string, bias: string, h: number): Float64Array => {
    const w = W(weight);
    const b = qkvBias ? W(bias) : null;
    const y = new Float64Array(P * Dh);
    for (let p = 0; p < P; p++)
      for (let e = 0; e < Dh; e++) {
        let s = b ? b[h * Dh + e]! : 0;
        for (let i = 0; i < D; i++) s += x[p * D + i]! * w[(h * Dh + e) * D + i]!;
        y[p * Dh + e] = s;
      }
    return y;
  };
  const invFreq = ropeFrequencies(config, Dh);
  const rope = (x: Float64Array): Float64Array => {
    const half = Dh / 2;
    return x.map((v, n) => {
      const p = Math.floor(n / Dh),
        d = n % Dh;
      const rotated = d < half ? -x[p * Dh + d + half]! : x[p * Dh + d - half]!;
      const a = p * invFreq[d % half]!;
      return v * Math.cos(a) + rotated * Math.sin(a);
    });
  };
  const windowOf = (layer: number): number | null => {
    if (type === 'llama') return null;
    const sw = config['sliding_window'] as number | null | undefined;
    if (sw === null || sw === undefined) return null;
    if (type === 'mistral') return sw;
    return config['use_sliding_window'] === true && layer >= num('max_window_layers', 28) ? sw : null;
  };

  for (let l = 0; l < L; l++) {
    const pre = `model.layers.${l}.self_attn.`;
    const ln1 = W(`model.layers.${l}.input_layernorm.weight`);
    const kvName = (g: number, which: 'k' | 'v'): string => `L${l}${gqa ? 'KV' : 'H'}${g}.${which}`;
    const keys: Float64Array[] = [],
      values: Float64Array[] = [];
    for (let g = 0; g < Hkv; g++) {
      let k = project(rms(input(kvName(g, 'k'), l, false), D, ln1), `${pre}k_proj.weight`, `${pre}k_proj.bias`, g);
      if (qkNorm) k = rms(k, Dh, W(`${pre}k_norm.weight`));
      keys.push(rope(k));
      values.push(project(rms(input(kvName(g, 'v'), l, false), D, ln1), `${pre}v_proj.weight`, `${pre}v_proj.bias`, g));
    }
    const window = windowOf(l);
    for (let h = 0; h < H; h++) {
      let q = project(rms(input(`L${l}H${h}.q`, l, false), D, ln1), `${pre}q_proj.weight`, `${pre}q_proj.bias`, h);
      if (qkNorm) q = rms(q, Dh, W(`${pre}q_norm.weight`));
      q = rope(q);
      const k = keys[Math.floor(h / (H / Hkv))]!,
        v = values[Math.floor(h / (H / Hkv))]!;
      const z = new Float64Array(P * H * Dh); // only head h's columns are set
      for (let i = 0; i < P; i++) {
        const first = window === null ? 0 : Math.max(0, i - window + 1);
        const scores: number[] = [];
        for (let j = first; j <= i; j++) {
          let s = 0;
          for (let e = 0; e < Dh; e++) s += q[i * Dh + e]! * k[j * Dh + e]!;
          scores.push(s / Math.sqrt(Dh));
        }
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let j = first; j <= i; j++) for (let e = 0; e < Dh; e++) z[(i * H + h) * Dh + e]! += (exps[j - first]! / total) * v[j * Dh + e]!;
      }
      current.set(`L${l}H${h}`, headOut(z, l, h));
    }
    const mlpPre = `model.layers.${l}.mlp.`;
    const x2 = rms(input(`mlp${l}`, l, true), D, W(`model.layers.${l}.post_attention_layernorm.weight`));
    const gate = W(`${mlpPre}gate_proj.weight`),
      up = W(`${mlpPre}up_proj.weight`),
      down = W(`${mlpPre}down_proj.weight`);
    const post = new Float64Array(P * M);
    for (let p = 0; p < P; p++)
      for (let n = 0; n < M; n++) {
        let g = 0,
          u = 0;
        for (let i = 0; i < D; i++) {
          g += x2[p * D + i]! * gate[n * D + i]!;
          u += x2[p * D + i]! * up[n * D + i]!;
        }
        post[p * M + n] = (g / (1 + Math.exp(-g))) * u;
      }
    const out = new Float64Array(P * D);
    for (let p = 0; p < P; p++)
      for (let i = 0; i < D; i++) {
        let s = 0;
        for (let n = 0; n < M; n++) s += post[p * M + n]! * down[i * M + n]!;
        out[p * D + i] = s;
      }
    current.set(`mlp${l}`, out);
  }
  const final = rms(input('logits', L, false).subarray((P - 1) * D, P * D), D, W('model.norm.weight'));
  const unembed = config['tie_word_embeddings'] === true ? E : W('lm_head.weight');
  const logit = (t: number): number => {
    let s = 0;
    for (let i = 0; i < D; i++) s += final[i]! * unembed[t * D + i]!;
    return s;
  };
  if (metric.contrastId !== null) return logit(metric.targetId) - logit(metric.contrastId);
  const logits = Array.from({ length: V }, (_, t) => logit(t));
  const max = Math.max(...logits);
  return logits[metric.targetId]! - max - Math.log(logits.reduce((a, x) => a + Math.exp(x - max), 0));
}

/** RoPE's inverse frequencies theta^(-2j / d_head), with llama3 scaling by wavelength. */
function ropeFrequencies(config: Record<string, unknown>, Dh: number): number[] {
  const theta = (config['rope_theta'] as number | undefined) ?? 10000;
  const inv = Array.from({ length: Dh / 2 }, (_, j) => Math.pow(theta, -(2 * j) / Dh));
  const s = config['rope_scaling'] as Record<string, number | string> | null | undefined;
  if (!s || (s['rope_type'] ?? s['type']) !== 'llama3') return inv;
  const factor = s['factor'] as number,
    low = s['low_freq_factor'] as number,
    high = s['high_freq_factor'] as number,
    original = s['original_max_position_embeddings'] as number;
  return inv.map((f) => {
    const wavelength = (2 * Math.PI) / f;
    if (wavelength < original / high) return f;
    if (wavelength > original / low) return f / factor;
    const smooth = (original / wavelength - low) / (high - low);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}
