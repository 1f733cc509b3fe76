/**
 * An independent float64 reverse pass of GPT-2, the known answer for the engine's gradient graphs
 * and everything built on them (attribution patching, edge attribution). Written from the
 * definitions with naive loops over the Hugging Face checkpoint layout, sharing no code with src/:
 * a forward that keeps what the reverse pass needs, then the chain rule applied by hand, layer by
 * layer, from the metric back to the input embeddings.
 *
 * The metric at the last position is m = Σ_t c_t · logits[t] + Σ_t d_t · log_softmax(logits)[t].
 * Every head's q, k and v reads its own copy of resid_pre through its own ln1 (TransformerLens's
 * split q/k/v input); the gradients of those copies are returned as `hook_q_input` etc.
 *
 * Values and gradients by TransformerLens name, batch dropped (L the layer):
 *   blocks.L.hook_resid_pre, hook_attn_out, hook_resid_mid, hook_mlp_out, hook_resid_post  [pos, d_model]
 *   blocks.L.attn.hook_q, hook_k, hook_v, hook_z                                        [pos, head, d_head]
 *   blocks.L.attn.hook_pattern                                                          [head, query, key]
 *   blocks.L.mlp.hook_pre, mlp.hook_post                                                [pos, d_mlp]
 * gradients only:
 *   blocks.L.hook_q_input, hook_k_input, hook_v_input                                   [pos, head, d_model]
 *   blocks.L.hook_mlp_in                                                                [pos, d_model]
 *   final_resid                                                                         [pos, d_model]
 */
import type { ReferenceGpt2Config, ReferenceWeightTensor } from './reference-gpt2.js';

export interface ReferenceMetric {
  logit: ReadonlyArray<readonly [number, number]>;
  logProb: ReadonlyArray<readonly [number, number]>;
}

export interface ReferenceBackwardOptions {
  /** Attention patterns and LayerNorm scales held constant in the reverse pass (the linearised model). */
  frozen?: boolean;
  /** GradDrop: the layer whose attention and MLP outputs pass no gradient back. */
  dropLayer?: number;
}

export interface ReferenceGradients {
  metric: number;
  values: Map<string, Float64Array>;
  gradients: Map<string, Float64Array>;
}

interface Block {
  ln1w: Float32Array;
  ln1b: Float32Array;
  attnW: Float32Array; // [d, 3d]
  attnB: Float32Array;
  projW: Float32Array; // [d, d]
  projB: Float32Array;
  ln2w: Float32Array;
  ln2b: Float32Array;
  fcW: Float32Array; // [d, m]
  fcB: Float32Array;
  outW: Float32Array; // [m, d]
  outB: Float32Array;
}

/** Runs GPT-2 from input embeddings `embeddings` [pos, d] (token + position embedding) and returns the metric's gradients. */
export function referenceGpt2Gradients(
  tensors: Map<string, ReferenceWeightTensor>,
  config: ReferenceGpt2Config,
  embeddings: Float64Array,
  metric: ReferenceMetric,
  options: ReferenceBackwardOptions = {},
): ReferenceGradients {
  const byName = new Map<string, Float32Array>();
  for (const [name, t] of tensors) byName.set(name.startsWith('transformer.') ? name.slice(12) : name, t.data);
  const get = (name: string): Float32Array => {
    const t = byName.get(name);
    if (!t) throw new Error(`reference-gpt2-backward: no tensor ${name}`);
    return t;
  };
  const d = config.n_embd,
    H = config.n_head,
    dh = d / H,
    eps = config.layer_norm_epsilon;
  const P = embeddings.length / d;
  const blocks: Block[] = Array.from({ length: config.n_layer }, (_, l) => ({
    ln1w: get(`h.${l}.ln_1.weight`),
    ln1b: get(`h.${l}.ln_1.bias`),
    attnW: get(`h.${l}.attn.c_attn.weight`),
    attnB: get(`h.${l}.attn.c_attn.bias`),
    projW: get(`h.${l}.attn.c_proj.weight`),
    projB: get(`h.${l}.attn.c_proj.bias`),
    ln2w: get(`h.${l}.ln_2.weight`),
    ln2b: get(`h.${l}.ln_2.bias`),
    fcW: get(`h.${l}.mlp.c_fc.weight`),
    fcB: get(`h.${l}.mlp.c_fc.bias`),
    outW: get(`h.${l}.mlp.c_proj.weight`),
    outB: get(`h.${l}.mlp.c_proj.bias`),
  }));
  const m = blocks[0]!.fcB.length;
  const unembed = config.tie_word_embeddings === false ? get('lm_head.weight') : get('wte.weight');
  const vocab = unembed.length / d;
  const values = new Map<string, Float64Array>();
  const gradients = new Map<string, Float64Array>();
  const name = (l: number, h: string): string => `blocks.${l}.${h}`;
  const frozen = options.frozen ?? false;

  // ---- forward ----
  interface Saved {
    x: Float64Array;
    ln1: LnSaved;
    q: Float64Array; // [pos, head, dh]
    k: Float64Array;
    v: Float64Array;
    A: Float64Array; // [head, q, k]
    mid: Float64Array;
    ln2: LnSaved;
    pre: Float64Array; // [pos, m]
  }
  const saved: Saved[] = [];
  let x = Float64Array.from(embeddings);
  blocks.forEach((b, l) => {
    values.set(name(l, 'hook_resid_pre'), x);
    const ln1 = lnForward(x, b.ln1w, b.ln1b, P, d, eps);
    const q = new Float64Array(P * d),
      k = new Float64Array(P * d),
      v = new Float64Array(P * d);
    for (let p = 0; p < P; p++)
      for (let o = 0; o < 3 * d; o++) {
        let s = b.attnB[o]!;
        for (let i = 0; i < d; i++) s += ln1.y[p * d + i]! * b.attnW[i * 3 * d + o]!;
        const target = o < d ? q : o < 2 * d ? k : v;
        target[p * d + (o % d)] = s;
      }
    // [pos, head, dh] is [pos, d] with head-major columns.
    const scale = attentionScale(config, l, dh);
    const window = config.attention_windows?.[l] ?? null;
    const A = new Float64Array(H * P * P);
    for (let h = 0; h < H; h++)
      for (let i = 0; i < P; i++) {
        const first = window === null ? 0 : Math.max(0, i - window + 1);
        let max = -Infinity;
        const row: number[] = [];
        for (let j = first; j <= i; j++) {
          let s = 0;
          for (let e = 0; e < dh; e++) s += q[i * d + h * dh + e]! * k[j * d + h * dh + e]!;
          row.push(s * scale);
          max = Math.max(max, s * scale);
        }
        const exps = row.map((s) => Math.exp(s - max));
        const total = exps.reduce((a, c) => a + c, 0);
        exps.forEach((e, n) => (A[(h * P + i) * P + first + n] = e / total));
      }
    const z = new Float64Array(P * d);
    for (let h = 0; h < H; h++)
      for (let i = 0; i < P; i++)
        for (let j = 0; j < P; j++) {
          const a = A[(h * P + i) * P + j]!;
          if (a === 0) continue;
          for (let e = 0; e < dh; e++) z[i * d + h * dh + e]! += a * v[j * d + h * dh + e]!;
        }
    const attnOut = affine(z, b.projW, b.projB, P, d, d);
    const mid = x.map((xi, n) => xi + attnOut[n]!);
    const ln2 = lnForward(mid, b.ln2w, b.ln2b, P, d, eps);
    const pre = affine(ln2.y, b.fcW, b.fcB, P, d, m);
    const post = pre.map(geluNew);
    const mlpOut = affine(post, b.outW, b.outB, P, m, d);
    const next = mid.map((mi, n) => mi + mlpOut[n]!);
    values.set(name(l, 'attn.hook_q'), q);
    values.set(name(l, 'attn.hook_k'), k);
    values.set(name(l, 'attn.hook_v'), v);
    values.set(name(l, 'attn.hook_pattern'), A);
    values.set(name(l, 'attn.hook_z'), z);
    values.set(name(l, 'hook_attn_out'), attnOut);
    values.set(name(l, 'hook_resid_mid'), mid);
    values.set(name(l, 'mlp.hook_pre'), pre);
    values.set(name(l, 'mlp.hook_post'), post);
    values.set(name(l, 'hook_mlp_out'), mlpOut);
    values.set(name(l, 'hook_resid_post'), next);
    saved.push({ x, ln1, q, k, v, A, mid, ln2, pre });
    x = next;
  });

  // ---- metric and its gradient at the last position ----
  const lnF = lnForward(x.subarray((P - 1) * d, P * d), get('ln_f.weight'), get('ln_f.bias'), 1, d, eps);
  const logits = new Float64Array(vocab);
  for (let t = 0; t < vocab; t++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += lnF.y[i]! * unembed[t * d + i]!;
    logits[t] = s;
  }
  const max = logits.reduce((a, c) => Math.max(a, c), -Infinity);
  const logZ = max + Math.log(logits.reduce((a, c) => a + Math.exp(c - max), 0));
  let value = 0;
  const dLogits = new Float64Array(vocab);
  let logProbWeight = 0;
  for (const [t, c] of metric.logit) {
    value += c * logits[t]!;
    dLogits[t]! += c;
  }
  for (const [t, c] of metric.logProb) {
    value += c * (logits[t]! - logZ);
    dLogits[t]! += c;
    logProbWeight += c;
  }
  // d log_softmax_t / d logit_u = [t = u] - softmax_u
  for (let u = 0; u < vocab; u++) dLogits[u]! -= logProbWeight * Math.exp(logits[u]! - logZ);
  const dY = new Float64Array(d);
  for (let t = 0; t < vocab; t++) {
    const g = dLogits[t]!;
    if (g === 0) continue;
    for (let i = 0; i < d; i++) dY[i]! += g * unembed[t * d + i]!;
  }
  const dFinal = new Float64Array(P * d);
  dFinal.set(lnBackward(lnF, get('ln_f.weight'), dY, 1, d, frozen), (P - 1) * d);
  gradients.set('final_resid', dFinal);

  // ---- blocks, last first ----
  let G = dFinal;
  for (let l = blocks.length - 1; l >= 0; l--) {
    const b = blocks[l]!;
    const s = saved[l]!;
    const gate = options.dropLayer === l ? 0 : 1;
    gradients.set(name(l, 'hook_resid_post'), G);
    const dMlpOut = G.map((g) => g * gate);
    const dPost = affineBackward(dMlpOut, b.outW, P, m, d);
    const dPre = dPost.map((g, n) => g * geluNewDerivative(s.pre[n]!));
    const dMlpIn = lnBackward(s.ln2, b.ln2w, affineBackward(dPre, b.fcW, P, d, m), P, d, frozen);
    const dMid = G.map((g, n) => g + dMlpIn[n]!);
    const dAttnOut = dMid.map((g) => g * gate);
    const dZ = affineBackward(dAttnOut, b.projW, P, d, d);
    const scale = attentionScale(config, l, dh);
    const dA = new Float64Array(H * P * P);
    const dQ = new Float64Array(P * d),
      dK = new Float64Array(P * d),
      dV = new Float64Array(P * d);
    for (let h = 0; h < H; h++)
      for (let i = 0; i < P; i++) {
        for (let j = 0; j < P; j++) {
          let g = 0;
          for (let e = 0; e < dh; e++) g += dZ[i * d + h * dh + e]! * s.v[j * d + h * dh + e]!;
          dA[(h * P + i) * P + j] = g;
          const a = s.A[(h * P + i) * P + j]!;
          for (let e = 0; e < dh; e++) dV[j * d + h * dh + e]! += a * dZ[i * d + h * dh + e]!;
        }
        if (frozen) continue;
        // softmax: dS_j = A_j (dA_j - Σ_k A_k dA_k)
        let dot = 0;
        for (let j = 0; j < P; j++) dot += s.A[(h * P + i) * P + j]! * dA[(h * P + i) * P + j]!;
        for (let j = 0; j < P; j++) {
          const dS = s.A[(h * P + i) * P + j]! * (dA[(h * P + i) * P + j]! - dot) * scale;
          if (dS === 0) continue;
          for (let e = 0; e < dh; e++) {
            dQ[i * d + h * dh + e]! += dS * s.k[j * d + h * dh + e]!;
            dK[j * d + h * dh + e]! += dS * s.q[i * d + h * dh + e]!;
          }
        }
      }
    // Each head's q, k, v input: its gradient through its own columns of c_attn, then ln1.
    const dInputs = [dQ, dK, dV].map((dX, which) => {
      const out = new Float64Array(P * H * d); // [pos, head, d_model]
      for (let h = 0; h < H; h++) {
        const dLn = new Float64Array(P * d);
        for (let p = 0; p < P; p++)
          for (let i = 0; i < d; i++) {
            let g = 0;
            for (let e = 0; e < dh; e++) g += dX[p * d + h * dh + e]! * b.attnW[i * 3 * d + which * d + h * dh + e]!;
            dLn[p * d + i] = g;
          }
        const dIn = lnBackward(s.ln1, b.ln1w, dLn, P, d, frozen);
        for (let p = 0; p < P; p++) for (let i = 0; i < d; i++) out[(p * H + h) * d + i] = dIn[p * d + i]!;
      }
      return out;
    });
    const dResidPre = Float64Array.from(dMid);
    for (const dIn of dInputs)
      for (let p = 0; p < P; p++) for (let h = 0; h < H; h++) for (let i = 0; i < d; i++) dResidPre[p * d + i]! += dIn[(p * H + h) * d + i]!;
    gradients.set(name(l, 'hook_mlp_out'), dMlpOut);
    gradients.set(name(l, 'mlp.hook_post'), dPost);
    gradients.set(name(l, 'mlp.hook_pre'), dPre);
    gradients.set(name(l, 'hook_mlp_in'), dMlpIn);
    gradients.set(name(l, 'hook_resid_mid'), dMid);
    gradients.set(name(l, 'hook_attn_out'), dAttnOut);
    gradients.set(name(l, 'attn.hook_z'), dZ);
    gradients.set(name(l, 'attn.hook_pattern'), dA);
    gradients.set(name(l, 'attn.hook_q'), dQ);
    gradients.set(name(l, 'attn.hook_k'), dK);
    gradients.set(name(l, 'attn.hook_v'), dV);
    gradients.set(name(l, 'hook_q_input'), dInputs[0]!);
    gradients.set(name(l, 'hook_k_input'), dInputs[1]!);
    gradients.set(name(l, 'hook_v_input'), dInputs[2]!);
    gradients.set(name(l, 'hook_resid_pre'), dResidPre);
    G = dResidPre;
  }
  return { metric: value, values, gradients };
}

/** The input embeddings of `ids` (token plus position embedding), [pos, d]. */
export function referenceEmbeddings(tensors: Map<string, ReferenceWeightTensor>, d: number, ids: readonly number[]): Float64Array {
  const find = (n: string): Float32Array => (tensors.get(n) ?? tensors.get(`transformer.${n}`))!.data;
  const wte = find('wte.weight'),
    wpe = find('wpe.weight');
  const out = new Float64Array(ids.length * d);
  ids.forEach((id, p) => {
    for (let i = 0; i < d; i++) out[p * d + i] = wte[id * d + i]! + wpe[p * d + i]!;
  });
  return out;
}

interface LnSaved {
  y: Float64Array;
  /** (x - mean) / s per row */
  n: Float64Array;
  s: Float64Array;
}

function lnForward(x: ArrayLike<number>, w: Float32Array, b: Float32Array, rows: number, d: number, eps: number): LnSaved {
  const y = new Float64Array(rows * d),
    n = new Float64Array(rows * d),
    s = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[r * d + i]!;
    mean /= d;
    let variance = 0;
    for (let i = 0; i < d; i++) variance += (x[r * d + i]! - mean) ** 2;
    s[r] = Math.sqrt(variance / d + eps);
    for (let i = 0; i < d; i++) {
      n[r * d + i] = (x[r * d + i]! - mean) / s[r]!;
      y[r * d + i] = n[r * d + i]! * w[i]! + b[i]!;
    }
  }
  return { y, n, s };
}

/** dx of y = n·w + b, n = (x − mean) / s: (dn − mean(dn) − n·mean(dn·n)) / s; frozen s: (dn − mean(dn)) / s. */
function lnBackward(saved: LnSaved, w: Float32Array, dy: ArrayLike<number>, rows: number, d: number, frozen: boolean): Float64Array {
  const dx = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let meanDn = 0,
      meanDnN = 0;
    for (let i = 0; i < d; i++) {
      const dn = dy[r * d + i]! * w[i]!;
      meanDn += dn;
      meanDnN += dn * saved.n[r * d + i]!;
    }
    meanDn /= d;
    meanDnN /= d;
    for (let i = 0; i < d; i++) {
      const dn = dy[r * d + i]! * w[i]!;
      dx[r * d + i] = (dn - meanDn - (frozen ? 0 : saved.n[r * d + i]! * meanDnN)) / saved.s[r]!;
    }
  }
  return dx;
}

/** y = x W + b with W [nIn, nOut]. */
function affine(x: Float64Array, W: Float32Array, bias: Float32Array, rows: number, nIn: number, nOut: number): Float64Array {
  const y = new Float64Array(rows * nOut);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < nOut; o++) {
      let s = bias[o]!;
      for (let i = 0; i < nIn; i++) s += x[r * nIn + i]! * W[i * nOut + o]!;
      y[r * nOut + o] = s;
    }
  return y;
}

/** dx = dy Wᵀ. */
function affineBackward(dy: Float64Array, W: Float32Array, rows: number, nIn: number, nOut: number): Float64Array {
  const dx = new Float64Array(rows * nIn);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < nIn; i++) {
      let s = 0;
      for (let o = 0; o < nOut; o++) s += dy[r * nOut + o]! * W[i * nOut + o]!;
      dx[r * nIn + i] = s;
    }
  return dx;
}

function attentionScale(config: ReferenceGpt2Config, layer: number, dh: number): number {
  let s = (config.scale_attn_weights ?? true) ? 1 / Math.sqrt(dh) : 1;
  if (config.scale_attn_by_inverse_layer_idx ?? false) s /= layer + 1;
  return s;
}

const C = Math.sqrt(2 / Math.PI);

function geluNew(x: number): number {
  return 0.5 * x * (1 + Math.tanh(C * (x + 0.044715 * x ** 3)));
}

function geluNewDerivative(x: number): number {
  const t = Math.tanh(C * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * 0.044715 * x * x);
}
