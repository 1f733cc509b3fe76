/**
 * Float64 reference of edge-level patching on a GPT-2 checkpoint, written from the definition
 * (Hanna et al. 2024), independent of the engine: the model runs on the clean prompt, and each
 * reader v (head h's query, key or value input at layer L, MLP L's input, the logits) reads
 *
 *   input_v = Σ over writers u before v of (edge u → v kept ? out_u(this run) : out_u(corrupted run))
 *             + the attention output biases b_O of the layers before v
 *
 * where the writers are the embedding (token + position), each head's z_h · W_O[h] and each MLP's
 * output (with its bias). Nothing is computed as a difference from another run.
 */
import {
  conv1d,
  geluNew,
  layerNorm,
  readWeights,
  softmax,
  type ReferenceGpt2Config,
  type ReferenceTensor,
  type ReferenceWeights,
  type ReferenceWeightTensor,
} from './reference-gpt2.js';

/** Whether the edge from writer `from` to reader `to` (names as in the issue: embed, L1H2, mlp1; L1H2.q, mlp1, logits) is kept. */
export type KeepEdge = (from: string, to: string) => boolean;

export type ReferenceMetric = { targetId: number; contrastId: number } | { targetId: number; contrastId: null };

interface Writers {
  /** By writer name, [pos, d] */
  out: Map<string, Float64Array>;
}

/** The metric of the clean prompt with the kept edges carrying the clean run's values and the others the corrupted run's. */
export function referenceEdgePatchedMetric(
  tensors: Map<string, ReferenceWeightTensor>,
  config: ReferenceGpt2Config,
  clean: readonly number[],
  corrupt: readonly number[],
  keep: KeepEdge,
  metric: ReferenceMetric,
): number {
  const w = readWeights(tensors, config);
  const corrupted = run(w, config, corrupt, null);
  const logits = run(w, config, clean, { corrupted, keep }).logits;
  const { targetId, contrastId } = metric;
  if (contrastId !== null) return logits[targetId]! - logits[contrastId]!;
  const max = Math.max(...logits);
  const logSumExp = max + Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0));
  return logits[targetId]! - logSumExp;
}

/** One run; with `patch`, every reader mixes this run's writers and the corrupted run's as `keep` says. */
function run(
  w: ReferenceWeights,
  config: ReferenceGpt2Config,
  ids: readonly number[],
  patch: { corrupted: Writers; keep: KeepEdge } | null,
): Writers & { logits: Float64Array } {
  const d = config.n_embd,
    H = config.n_head,
    dh = d / H,
    n = ids.length,
    eps = config.layer_norm_epsilon;
  const out = new Map<string, Float64Array>();
  const order: string[] = [];
  const biases: Float64Array[] = []; // b_O of each layer run so far, broadcast [pos, d]
  const write = (name: string, value: Float64Array): void => {
    out.set(name, value);
    order.push(name);
  };
  /** What reader `reader` sees: every writer so far (this run's or the corrupted run's), plus the b_O so far. */
  const read = (reader: string, writers: readonly string[]): ReferenceTensor => {
    const x = new Float64Array(n * d);
    for (const u of writers) {
      const source = patch === null || patch.keep(u, reader) ? out.get(u)! : patch.corrupted.out.get(u)!;
      for (let i = 0; i < x.length; i++) x[i]! += source[i]!;
    }
    for (const b of biases) for (let i = 0; i < x.length; i++) x[i]! += b[i]!;
    return { shape: [n, d], data: x };
  };

  const embed = new Float64Array(n * d);
  for (let p = 0; p < n; p++) for (let i = 0; i < d; i++) embed[p * d + i] = w.wte[ids[p]! * d + i]! + w.wpe[p * d + i]!;
  write('embed', embed);

  for (let layer = 0; layer < w.blocks.length; layer++) {
    const b = w.blocks[layer]!;
    const before = [...order];
    const window = config.attention_windows?.[layer] ?? null;
    // Head h's q, k or v: LayerNorm of its own input, then its own columns of c_attn. [pos, d_head]
    const project = (h: number, which: 0 | 1 | 2): Float64Array => {
      const name = `L${layer}H${h}.${'qkv'[which]}`;
      const qkv = conv1d(layerNorm(read(name, before), b.ln1Weight, b.ln1Bias, eps), b.attnWeight, b.attnBias, 3 * d).data;
      const y = new Float64Array(n * dh);
      for (let p = 0; p < n; p++) for (let e = 0; e < dh; e++) y[p * dh + e] = qkv[p * 3 * d + which * d + h * dh + e]!;
      return y;
    };
    for (let h = 0; h < H; h++) {
      const [q, k, v] = [project(h, 0), project(h, 1), project(h, 2)];
      const z = new Float64Array(n * dh);
      for (let i = 0; i < n; i++) {
        const first = window === null ? 0 : Math.max(0, i - window + 1);
        const scores: number[] = [];
        for (let j = first; j <= i; j++) {
          let dot = 0;
          for (let e = 0; e < dh; e++) dot += q[i * dh + e]! * k[j * dh + e]!;
          if (config.scale_attn_weights ?? true) dot /= Math.sqrt(dh);
          if (config.scale_attn_by_inverse_layer_idx ?? false) dot /= layer + 1;
          scores.push(dot);
        }
        const p = softmax(scores);
        for (let j = first; j <= i; j++) for (let e = 0; e < dh; e++) z[i * dh + e]! += p[j - first]! * v[j * dh + e]!;
      }
      // z_h · W_O[h]: rows h*d_head.. of c_proj, no bias. [pos, d]
      const result = new Float64Array(n * d);
      for (let p = 0; p < n; p++)
        for (let e = 0; e < dh; e++) for (let o = 0; o < d; o++) result[p * d + o]! += z[p * dh + e]! * b.attnProjWeight[(h * dh + e) * d + o]!;
      write(`L${layer}H${h}`, result);
    }
    const bias = new Float64Array(n * d);
    for (let p = 0; p < n; p++) for (let o = 0; o < d; o++) bias[p * d + o] = b.attnProjBias[o]!;
    biases.push(bias);
    const mlpName = `mlp${layer}`;
    const hidden = conv1d(layerNorm(read(mlpName, [...order]), b.ln2Weight, b.ln2Bias, eps), b.fcWeight, b.fcBias, b.fcBias.length);
    hidden.data.forEach((x, i) => (hidden.data[i] = geluNew(x)));
    write(mlpName, conv1d(hidden, b.mlpProjWeight, b.mlpProjBias, d).data);
  }

  // The logits at the last position: ln_final of what the logits read, then the (tied) unembedding.
  const final = layerNorm(read('logits', [...order]), w.lnFWeight, w.lnFBias, eps).data;
  const unembed = w.lmHead ?? w.wte;
  const logits = new Float64Array(w.vocab);
  for (let t = 0; t < w.vocab; t++) {
    let sum = 0;
    for (let i = 0; i < d; i++) sum += final[(n - 1) * d + i]! * unembed[t * d + i]!;
    logits[t] = sum;
  }
  return { out, logits };
}
