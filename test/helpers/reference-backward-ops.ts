/**
 * Float64 forward and reverse-pass primitives shared by the rotary families' independent references
 * (reference-llama-backward.ts, reference-gemma-backward.ts, reference-gpt-neox-backward.ts). Naive loops
 * written from the published definitions, sharing no code with src/ (nor with the Tape):
 *
 *   nn.Linear  y = x Wᵀ + b, W [out, in]:                       dx = dy W
 *   RMSNorm    y = x / s * w, s = sqrt(mean(x^2) + eps):         dx = w dy / s − x Σ(w dy x) / (n s^3), ds = −Σ(w dy x) / s^2
 *   LayerNorm  y = n w + b, n = (x − mean) / s, s = sqrt(var + eps):
 *              dx = (dn − mean(dn) − n mean(dn n)) / s with dn = w dy, ds = −Σ dn n / s
 *   RoPE       on the first R dims of every head: x cos + rotate_half(x) sin, angle p · inv_freq[d mod R/2]
 *   attention  query head h reads kv head floor(h / (H / H_kv)), causal with an optional window of W keys
 *              (key j visible from query i iff i − W < j ≤ i); softmax: dS = A (dA − Σ A dA)
 *   metric     m = Σ_t c_t logits[t] + Σ_t d_t log_softmax(logits)[t] at the last position
 *
 * `frozen` everywhere holds the norm scales and the attention patterns constant (the linearised model).
 */
import type { ReferenceWeightTensor } from './reference-gpt2.js';
import type { ReferenceMetric } from './reference-gpt2-backward.js';

/** nn.Linear: y[r, o] = Σ_i x[r, i] W[o, i] (+ b[o]), W [out, in]. */
export function linear(x: Float64Array, w: Float32Array, inDim: number, outDim: number, b?: Float32Array): Float64Array {
  const rows = x.length / inDim;
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outDim; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inDim; i++) s += x[r * inDim + i]! * w[o * inDim + i]!;
      y[r * outDim + o] = s;
    }
  return y;
}

/** The transpose of nn.Linear: dx[r, i] = Σ_o dy[r, o] W[o, i]. */
export function linearBackward(dy: Float64Array, w: Float32Array, inDim: number, outDim: number): Float64Array {
  const rows = dy.length / outDim;
  const dx = new Float64Array(rows * inDim);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outDim; o++) {
      const g = dy[r * outDim + o]!;
      if (g === 0) continue;
      for (let i = 0; i < inDim; i++) dx[r * inDim + i]! += g * w[o * inDim + i]!;
    }
  return dx;
}

/** What an RMSNorm's reverse pass needs: its input and every row's scale s. */
export interface RmsSaved {
  x: Float64Array;
  s: Float64Array; // per row
  width: number;
}

/** s = sqrt(mean(x^2) + eps) of every `width`-wide row. */
export function rmsForward(x: Float64Array, width: number, eps: number): RmsSaved {
  const rows = x.length / width;
  const s = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < width; i++) ss += x[r * width + i]! ** 2;
    s[r] = Math.sqrt(ss / width + eps);
  }
  return { x, s, width };
}

/** x / s, row by row. */
export function normalised(saved: RmsSaved): Float64Array {
  return saved.x.map((v, n) => v / saved.s[Math.floor(n / saved.width)]!);
}

/** x[r, i] · w[i]. */
export function scaleColumns(x: Float64Array, w: Float32Array): Float64Array {
  return x.map((v, n) => v * w[n % w.length]!);
}

/** RMSNorm's output x / s * w. */
export function rmsNormed(saved: RmsSaved, w: Float32Array): Float64Array {
  return scaleColumns(normalised(saved), w);
}

/**
 * y = x / s * w: dx_i = w_i dy_i / s + (ds) x_i / (n s), ds = −Σ_j w_j dy_j x_j / s^2 (the gradient of s);
 * frozen: s is a constant, dx_i = w_i dy_i / s.
 */
export function rmsBackward(saved: RmsSaved, w: Float32Array, dy: Float64Array, frozen: boolean): { dx: Float64Array; ds: Float64Array } {
  const { x, s, width: n } = saved;
  const rows = s.length;
  const dx = new Float64Array(x.length),
    ds = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let t = 0;
    for (let i = 0; i < n; i++) t += w[i]! * dy[r * n + i]! * x[r * n + i]!;
    ds[r] = -t / s[r]! ** 2;
    for (let i = 0; i < n; i++) {
      // ∂s/∂x_i = x_i / (n s)
      dx[r * n + i] = (w[i]! * dy[r * n + i]!) / s[r]! + (frozen ? 0 : (ds[r]! * x[r * n + i]!) / (n * s[r]!));
    }
  }
  return { dx, ds };
}

/** What a LayerNorm's reverse pass needs: the normalised rows and every row's scale s. */
export interface LnSaved {
  n: Float64Array;
  s: Float64Array;
}

/** n = (x − mean) / s, s = sqrt(var + eps), of every D-wide row. */
export function lnForward(x: Float64Array, D: number, eps: number): LnSaved {
  const rows = x.length / D;
  const n = new Float64Array(x.length),
    s = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[r * D + i]!;
    mean /= D;
    let variance = 0;
    for (let i = 0; i < D; i++) variance += (x[r * D + i]! - mean) ** 2;
    s[r] = Math.sqrt(variance / D + eps);
    for (let i = 0; i < D; i++) n[r * D + i] = (x[r * D + i]! - mean) / s[r]!;
  }
  return { n, s };
}

/** LayerNorm's output n w + b. */
export function affineOf(saved: LnSaved, w: Float32Array, b: Float32Array, D: number): Float64Array {
  return saved.n.map((v, i) => v * w[i % D]! + b[i % D]!);
}

/** LayerNorm's reverse pass (frozen s: dx = (dn − mean(dn)) / s). */
export function lnBackward(saved: LnSaved, w: Float32Array, dy: Float64Array, D: number, frozen: boolean): { dx: Float64Array; ds: Float64Array } {
  const rows = saved.s.length;
  const dx = new Float64Array(rows * D),
    ds = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let meanDn = 0,
      meanDnN = 0;
    for (let i = 0; i < D; i++) {
      const dn = dy[r * D + i]! * w[i]!;
      meanDn += dn;
      meanDnN += dn * saved.n[r * D + i]!;
    }
    // y depends on s through n = (x − mean) / s: ∂y_i/∂s = −w_i n_i / s (meanDnN still holds Σ dn n here).
    ds[r] = -meanDnN / saved.s[r]!;
    meanDn /= D;
    meanDnN /= D;
    for (let i = 0; i < D; i++) {
      const dn = dy[r * D + i]! * w[i]!;
      dx[r * D + i] = (dn - meanDn - (frozen ? 0 : saved.n[r * D + i]! * meanDnN)) / saved.s[r]!;
    }
  }
  return { dx, ds };
}

/** The shape RoPE acts on: rows [pos, heads, d_head], rotating the first `rotary` dims with the frequencies `invFreq` [rotary / 2]. */
export interface RopeShape {
  positions: number;
  heads: number;
  headDim: number;
  rotary: number;
  invFreq: readonly number[];
}

/** RoPE of [pos, heads, d_head]: x cos + rotate_half(x) sin on the first `rotary` dims, rotate_half(x) = (−x[R/2:], x[:R/2]); the rest passed through. */
export function rope(x: Float64Array, shape: RopeShape): Float64Array {
  const { positions: P, heads, headDim: Dh, rotary: R, invFreq } = shape;
  const half = R / 2;
  const angle = (p: number, d: number): number => p * invFreq[d % half]!;
  const y = x.slice();
  for (let p = 0; p < P; p++)
    for (let h = 0; h < heads; h++) {
      const b = (p * heads + h) * Dh;
      for (let d = 0; d < R; d++) {
        const rotated = d < half ? -x[b + d + half]! : x[b + d - half]!;
        y[b + d] = x[b + d]! * Math.cos(angle(p, d)) + rotated * Math.sin(angle(p, d));
      }
    }
  return y;
}

/** The transpose of RoPE: x_d collects dy_d cos_d, and from rotate_half dy_{d+R/2} sin_{d+R/2} (d < R/2) or −dy_{d−R/2} sin_{d−R/2}; dims past R pass through. */
export function ropeBackward(dy: Float64Array, shape: RopeShape): Float64Array {
  const { positions: P, heads, headDim: Dh, rotary: R, invFreq } = shape;
  const half = R / 2;
  const angle = (p: number, d: number): number => p * invFreq[d % half]!;
  const dx = dy.slice();
  for (let p = 0; p < P; p++)
    for (let h = 0; h < heads; h++) {
      const b = (p * heads + h) * Dh;
      for (let d = 0; d < R; d++) {
        const fromRotated = d < half ? dy[b + d + half]! * Math.sin(angle(p, d + half)) : -dy[b + d - half]! * Math.sin(angle(p, d - half));
        dx[b + d] = dy[b + d]! * Math.cos(angle(p, d)) + fromRotated;
      }
    }
  return dx;
}

/** The attention's sizes: H query heads, H_kv key/value heads, P positions, d_head. */
export interface AttentionShape {
  positions: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/**
 * Causal attention of rq [pos, head, d_head] over rk, v [pos, kv_head, d_head]: the pattern A [head, query, key]
 * and z [pos, head, d_head]. `score(dot, h, i, j)` turns q_i · k_j into the logit (scaling, soft-capping);
 * `window` keys at the most (null: all earlier ones).
 */
export function attentionForward(
  rq: Float64Array,
  rk: Float64Array,
  v: Float64Array,
  shape: AttentionShape,
  window: number | null,
  score: (dot: number, h: number, i: number, j: number) => number,
): { A: Float64Array; z: Float64Array } {
  const { positions: P, heads: H, kvHeads: Hkv, headDim: Dh } = shape;
  const group = H / Hkv;
  const A = new Float64Array(H * P * P);
  const z = new Float64Array(P * H * Dh);
  for (let h = 0; h < H; h++) {
    const kh = Math.floor(h / group);
    for (let i = 0; i < P; i++) {
      const first = window === null ? 0 : Math.max(0, i - window + 1);
      const scores: number[] = [];
      for (let j = first; j <= i; j++) {
        let s = 0;
        for (let e = 0; e < Dh; e++) s += rq[(i * H + h) * Dh + e]! * rk[(j * Hkv + kh) * Dh + e]!;
        scores.push(score(s, h, i, j));
      }
      const max = Math.max(...scores);
      const exps = scores.map((s) => Math.exp(s - max));
      const total = exps.reduce((a, b) => a + b, 0);
      exps.forEach((e, n) => (A[(h * P + i) * P + first + n] = e / total));
      for (let j = first; j <= i; j++) for (let e = 0; e < Dh; e++) z[(i * H + h) * Dh + e]! += A[(h * P + i) * P + j]! * v[(j * Hkv + kh) * Dh + e]!;
    }
  }
  return { A, z };
}

/**
 * The reverse pass of attentionForward from dZ [pos, head, d_head]: dA [head, query, key] (every entry, the
 * masked ones too: ∂m/∂A_ij = dz_i · v_j), dV, and unless frozen dRq, dRk through the softmax, where
 * `scoreGradient(g, h, i, j)` carries g = ∂m/∂logit back through `score` to ∂m/∂(q_i · k_j).
 */
export function attentionBackward(
  dZ: Float64Array,
  saved: { A: Float64Array; rq: Float64Array; rk: Float64Array; v: Float64Array },
  shape: AttentionShape,
  frozen: boolean,
  scoreGradient: (g: number, h: number, i: number, j: number) => number,
): { dA: Float64Array; dRq: Float64Array; dRk: Float64Array; dV: Float64Array } {
  const { positions: P, heads: H, kvHeads: Hkv, headDim: Dh } = shape;
  const { A, rq, rk, v } = saved;
  const group = H / Hkv;
  const dA = new Float64Array(H * P * P);
  const dRq = new Float64Array(P * H * Dh),
    dRk = new Float64Array(P * Hkv * Dh),
    dV = new Float64Array(P * Hkv * Dh);
  for (let h = 0; h < H; h++) {
    const kh = Math.floor(h / group);
    for (let i = 0; i < P; i++) {
      for (let j = 0; j < P; j++) {
        const a = A[(h * P + i) * P + j]!;
        let g = 0;
        for (let e = 0; e < Dh; e++) {
          g += dZ[(i * H + h) * Dh + e]! * v[(j * Hkv + kh) * Dh + e]!;
          dV[(j * Hkv + kh) * Dh + e]! += a * dZ[(i * H + h) * Dh + e]!;
        }
        dA[(h * P + i) * P + j] = g;
      }
      if (frozen) continue;
      let dot = 0;
      for (let j = 0; j <= i; j++) dot += A[(h * P + i) * P + j]! * dA[(h * P + i) * P + j]!;
      for (let j = 0; j <= i; j++) {
        const dS = scoreGradient(A[(h * P + i) * P + j]! * (dA[(h * P + i) * P + j]! - dot), h, i, j);
        if (dS === 0) continue;
        for (let e = 0; e < Dh; e++) {
          dRq[(i * H + h) * Dh + e]! += dS * rk[(j * Hkv + kh) * Dh + e]!;
          dRk[(j * Hkv + kh) * Dh + e]! += dS * rq[(i * H + h) * Dh + e]!;
        }
      }
    }
  }
  return { dA, dRq, dRk, dV };
}

/** The sizes of the split inputs: P positions, d_model, d_head. */
export interface SplitInputShape {
  positions: number;
  dModel: number;
  headDim: number;
}

/**
 * The split inputs' gradients of one projection (q, k or v), whose `heads` readers each read their own copy of
 * the block's input through their own norm. dX [pos, heads, d_head]; `weightRow(h, e)` the row of head h's dim e
 * in the projection weight w [row, d_model]; `normBackward` a reader's norm's dx from its output's gradient.
 * Adds every reader's norm-output gradient to `dNormOutTotal` and its input gradient to `dInput` (both
 * [pos, d_model]); returns the readers' input gradients [pos, heads, d_model].
 */
export function splitInputGradients(
  dX: Float64Array,
  heads: number,
  shape: SplitInputShape,
  w: Float32Array,
  weightRow: (h: number, e: number) => number,
  normBackward: (dy: Float64Array) => Float64Array,
  dNormOutTotal: Float64Array,
  dInput: Float64Array,
): Float64Array {
  const { positions: P, dModel: D, headDim: Dh } = shape;
  const out = new Float64Array(P * heads * D); // [pos, heads, d_model]
  for (let h = 0; h < heads; h++) {
    const dY = new Float64Array(P * D);
    for (let p = 0; p < P; p++)
      for (let i = 0; i < D; i++) {
        let g = 0;
        for (let e = 0; e < Dh; e++) g += dX[(p * heads + h) * Dh + e]! * w[weightRow(h, e) * D + i]!;
        dY[p * D + i] = g;
      }
    const dIn = normBackward(dY);
    for (let n = 0; n < P * D; n++) {
      dNormOutTotal[n]! += dY[n]!;
      dInput[n]! += dIn[n]!;
    }
    for (let p = 0; p < P; p++) for (let i = 0; i < D; i++) out[(p * heads + h) * D + i] = dIn[p * D + i]!;
  }
  return out;
}

/** The metric m of the last position's logits [vocab] and dm/dlogits. */
export function metricGradient(logits: Float64Array, metric: ReferenceMetric): { value: number; dLogits: Float64Array } {
  const V = logits.length;
  const max = logits.reduce((a, c) => Math.max(a, c), -Infinity);
  const logZ = max + Math.log(logits.reduce((a, c) => a + Math.exp(c - max), 0));
  let value = 0,
    logProbWeight = 0;
  const dLogits = new Float64Array(V);
  for (const [t, c] of metric.logit) {
    value += c * logits[t]!;
    dLogits[t]! += c;
  }
  for (const [t, c] of metric.logProb) {
    value += c * (logits[t]! - logZ);
    dLogits[t]! += c;
    logProbWeight += c;
  }
  for (let u = 0; u < V; u++) dLogits[u]! -= logProbWeight * Math.exp(logits[u]! - logZ);
  return { value, dLogits };
}

/** The rows of embedding matrix `name` [vocab, d_model] for `ids`, [pos, d_model], each value through `map`. */
export function embeddingRows(
  tensors: Map<string, ReferenceWeightTensor>,
  name: string,
  ids: readonly number[],
  map: (x: number) => number = (x) => x,
): Float64Array {
  const E = tensors.get(name)!;
  const D = E.shape[1]!;
  const out = new Float64Array(ids.length * D);
  ids.forEach((id, p) => {
    for (let i = 0; i < D; i++) out[p * D + i] = map(E.data[id * D + i]!);
  });
  return out;
}

/** The reverse pass of a rotary attention whose every q, k and v head reads its own copy of the block's input through its own norm. */
export interface RotaryAttentionBackward {
  attention: AttentionShape;
  dModel: number;
  ropes: { q: RopeShape; k: RopeShape };
  frozen: boolean;
  /** ∂m/∂logit to ∂m/∂(q_i · k_j), as attentionBackward's. */
  scoreGradient: (g: number, h: number, i: number, j: number) => number;
  /** q/k norms between the projections and RoPE (Qwen3, Gemma 3): RoPE's input gradients back to the projections' outputs. */
  qkNormBackward?: (dQ: Float64Array, dK: Float64Array) => { dQ: Float64Array; dK: Float64Array };
  /** Projection `which` (0 q, 1 k, 2 v): its weight [row, d_model] and the row of head h's dim e. */
  projection: (which: number) => { w: Float32Array; row: (h: number, e: number) => number };
  /** The block's input norm (ln1): dx and ds from its output's gradient. */
  inputNormBackward: (dy: Float64Array) => { dx: Float64Array; ds: Float64Array };
}

/**
 * From dZ [pos, head, d_head] back to the split inputs: the gradients by TransformerLens hook name within the block
 * (attn.hook_z, hook_pattern, hook_rot_q/k, hook_q/k/v, hook_{q,k,v}_input, ln1.hook_scale). Adds every reader's
 * input gradient to `dInput` [pos, d_model].
 */
export function rotaryAttentionBackward(
  dZ: Float64Array,
  saved: { A: Float64Array; rq: Float64Array; rk: Float64Array; v: Float64Array },
  spec: RotaryAttentionBackward,
  dInput: Float64Array,
): Record<string, Float64Array> {
  const { attention, frozen } = spec;
  const { dA, dRq, dRk, dV } = attentionBackward(dZ, saved, attention, frozen, spec.scoreGradient);
  let dQ = ropeBackward(dRq, spec.ropes.q),
    dK = ropeBackward(dRk, spec.ropes.k);
  if (spec.qkNormBackward) ({ dQ, dK } = spec.qkNormBackward(dQ, dK));
  // Each reader's own input: its rows of the projection, then its own input norm.
  const dNormOutTotal = new Float64Array(dInput.length);
  const shape = { positions: attention.positions, dModel: spec.dModel, headDim: attention.headDim };
  const readerInputs = (dX: Float64Array, which: number, heads: number): Float64Array => {
    const { w, row } = spec.projection(which);
    return splitInputGradients(dX, heads, shape, w, row, (dy) => spec.inputNormBackward(dy).dx, dNormOutTotal, dInput);
  };
  return {
    hook_q_input: readerInputs(dQ, 0, attention.heads),
    hook_k_input: readerInputs(dK, 1, attention.kvHeads),
    hook_v_input: readerInputs(dV, 2, attention.kvHeads),
    'ln1.hook_scale': spec.inputNormBackward(dNormOutTotal).ds,
    'attn.hook_q': dQ,
    'attn.hook_k': dK,
    'attn.hook_v': dV,
    'attn.hook_rot_q': dRq,
    'attn.hook_rot_k': dRk,
    'attn.hook_pattern': dA,
    'attn.hook_z': dZ,
  };
}

/** Records a block's tensors by hook name: `blocks.${layer}.${hook}`. */
export function setLayerHooks(into: Map<string, Float64Array>, layer: number, hooks: Record<string, Float64Array>): void {
  for (const [hook, tensor] of Object.entries(hooks)) into.set(`blocks.${layer}.${hook}`, tensor);
}

/**
 * RoPE on q [pos, head, d_head] and k [pos, kv_head, d_head], then attentionForward: rq, rk, A, z and the hooks
 * attn.hook_q/k/v, hook_rot_q/k, hook_pattern, hook_z.
 */
export function rotaryAttentionForward(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  ropes: { q: RopeShape; k: RopeShape },
  attention: AttentionShape,
  window: number | null,
  score: (dot: number, h: number, i: number, j: number) => number,
): { rq: Float64Array; rk: Float64Array; A: Float64Array; z: Float64Array; hooks: Record<string, Float64Array> } {
  const rq = rope(q, ropes.q),
    rk = rope(k, ropes.k);
  const { A, z } = attentionForward(rq, rk, v, attention, window, score);
  const hooks = {
    'attn.hook_q': q,
    'attn.hook_k': k,
    'attn.hook_v': v,
    'attn.hook_rot_q': rq,
    'attn.hook_rot_k': rk,
    'attn.hook_pattern': A,
    'attn.hook_z': z,
  };
  return { rq, rk, A, z, hooks };
}

/** The tensor `name`'s data, or an Error naming the reference (`label`) and the missing tensor. */
export function tensorLookup(tensors: Map<string, ReferenceWeightTensor>, label: string): (name: string) => Float32Array {
  return (name) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${label}: no tensor ${name}`);
    return t.data;
  };
}

/** The sizes of an HF Llama-style config.json (Llama family, Gemma), P from the embeddings [pos, d_model]. */
export function rmsFamilySizes(config: Record<string, unknown>, embeddings: Float64Array) {
  const num = (key: string, fallback?: number): number => (config[key] ?? fallback) as number;
  const D = num('hidden_size'),
    H = num('num_attention_heads');
  return {
    nLayers: num('num_hidden_layers'),
    D,
    H,
    Hkv: num('num_key_value_heads', H),
    M: num('intermediate_size'),
    V: num('vocab_size'),
    eps: num('rms_norm_eps'),
    Dh: (config['head_dim'] as number | null | undefined) ?? D / H,
    P: embeddings.length / D,
  };
}

/** Per-head RMSNorms of q [pos, head, d_head] and k (Qwen3's, Gemma 3's q_norm / k_norm), or q and k as they are without weights. */
export function qkNormsForward(
  q: Float64Array,
  k: Float64Array,
  headDim: number,
  eps: number,
  weights: { q: Float32Array; k: Float32Array } | null,
): { qn: Float64Array; kn: Float64Array; qNorm: RmsSaved | null; kNorm: RmsSaved | null } {
  if (!weights) return { qn: q, kn: k, qNorm: null, kNorm: null };
  const qNorm = rmsForward(q, headDim, eps),
    kNorm = rmsForward(k, headDim, eps);
  return { qn: rmsNormed(qNorm, weights.q), kn: rmsNormed(kNorm, weights.k), qNorm, kNorm };
}

/**
 * The reverse pass of a gated MLP down(act(gate(x)) * up(x)) from dPost = ∂m/∂(act(gate) * up) [pos, d_mlp]:
 * dGate, dUp [pos, d_mlp] and the gradient of its input x [pos, d_model]. W_gate, W_up [d_mlp, d_model].
 */
export function gatedMlpBackward(
  dPost: Float64Array,
  saved: { gate: Float64Array; up: Float64Array },
  weights: { gate: Float32Array; up: Float32Array },
  act: { value: (x: number) => number; derivative: (x: number) => number },
  dModel: number,
  dMlp: number,
): { dGate: Float64Array; dUp: Float64Array; dIn: Float64Array } {
  const dGate = dPost.map((g, n) => g * saved.up[n]! * act.derivative(saved.gate[n]!));
  const dUp = dPost.map((g, n) => g * act.value(saved.gate[n]!));
  const dInFromUp = linearBackward(dUp, weights.up, dModel, dMlp);
  const dIn = linearBackward(dGate, weights.gate, dModel, dMlp).map((g, n) => g + dInFromUp[n]!);
  return { dGate, dUp, dIn };
}
