/**
 * An independent float64 reference of an attribution graph's adjacency (circuit-tracer's method),
 * written from the definition and none of the engine's code:
 *
 * The local replacement model of a prompt freezes the clean run's attention patterns and every
 * norm's scale (its centring and weight stay), and cuts each MLP: its output is the transcoder's
 * decoder writes (activation · W_dec[f]), b_dec, the skip path x_in · W_skip and the error node
 * (true MLP output − reconstruction). That model is affine in the residual stream; sources are the
 * token embeddings (hook_embed), the error nodes and the features' writes; targets read the
 * features' pre-activations (x_in · W_enc[:, f]) and the demeaned logits (ln_final(x) · (u_t −
 * mean_v u_v)). The direct effect A[t, s] is computed here FORWARDS: source s's vector is pushed
 * alone through the frozen linear model (no biases) and every target's change read off. The bias
 * of a target is the affine model's value with every source at zero.
 *
 * Positions with the BOS at 0 have their features and errors zeroed (circuit-tracer's zero_bos): the
 * BOS position's true MLP output then enters the affine model as a constant.
 */
import type { Dictionary } from '../../src/engine/features/dictionary.js';
import type { ReferenceTensor, ReferenceWeightTensor } from './reference-gpt2.js';

/** One layer of the model as the reference reads it. */
export interface ReferenceLinearLayer {
  ln1: { w: Float64Array; b: Float64Array };
  ln2: { w: Float64Array; b: Float64Array };
  /** Per query head: [d_model, d_head] and its bias [d_head] (grouped-query heads already resolved). */
  W_V: Float64Array[];
  b_V: Float64Array[];
  /** Per head: [d_head, d_model]. */
  W_O: Float64Array[];
  b_O: Float64Array;
  /** Gemma's post-attention RMSNorm weight (as applied: 1 + w), or null. */
  post1: Float64Array | null;
}

export interface ReferenceLinearModel {
  nLayers: number;
  dModel: number;
  nHeads: number;
  dHead: number;
  rms: boolean;
  eps: number;
  parallel: boolean;
  layers: ReferenceLinearLayer[];
  lnFinal: { w: Float64Array; b: Float64Array };
  /** [vocab, d_model] */
  unembed: Float32Array;
  /** [vocab] */
  unembedBias: Float64Array;
  /** Added to the embedding stream besides hook_embed (GPT-2's position embeddings; zeros for rotary models), [pos, d_model]. */
  positionStream: (P: number) => Float64Array;
  bosTokenId: number | null;
}

const f64 = (x: ArrayLike<number>): Float64Array => Float64Array.from(x);

/** A GPT-2 checkpoint (HF Conv1D layout, [in, out]) as the reference reads it. */
export function gpt2LinearModel(
  tensors: Map<string, ReferenceWeightTensor>,
  config: { n_layer: number; n_head: number; n_embd: number; layer_norm_epsilon: number },
  bos: number,
): ReferenceLinearModel {
  const W = (name: string): Float32Array => {
    const t = tensors.get(name) ?? tensors.get(`transformer.${name}`);
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t.data;
  };
  const D = config.n_embd;
  const H = config.n_head;
  const Dh = D / H;
  const layers: ReferenceLinearLayer[] = [];
  for (let l = 0; l < config.n_layer; l++) {
    const cAttn = W(`h.${l}.attn.c_attn.weight`); // [d, 3d]
    const cAttnB = W(`h.${l}.attn.c_attn.bias`);
    const cProj = W(`h.${l}.attn.c_proj.weight`); // [d, d]
    const W_V: Float64Array[] = [];
    const b_V: Float64Array[] = [];
    const W_O: Float64Array[] = [];
    for (let h = 0; h < H; h++) {
      const v = new Float64Array(D * Dh);
      for (let i = 0; i < D; i++) for (let j = 0; j < Dh; j++) v[i * Dh + j] = cAttn[i * 3 * D + 2 * D + h * Dh + j]!;
      W_V.push(v);
      b_V.push(f64(cAttnB.subarray(2 * D + h * Dh, 2 * D + (h + 1) * Dh)));
      const o = new Float64Array(Dh * D);
      for (let j = 0; j < Dh; j++) for (let i = 0; i < D; i++) o[j * D + i] = cProj[(h * Dh + j) * D + i]!;
      W_O.push(o);
    }
    layers.push({
      ln1: { w: f64(W(`h.${l}.ln_1.weight`)), b: f64(W(`h.${l}.ln_1.bias`)) },
      ln2: { w: f64(W(`h.${l}.ln_2.weight`)), b: f64(W(`h.${l}.ln_2.bias`)) },
      W_V,
      b_V,
      W_O,
      b_O: f64(W(`h.${l}.attn.c_proj.bias`)),
      post1: null,
    });
  }
  const wpe = W('wpe.weight');
  const wte = W('wte.weight');
  return {
    nLayers: config.n_layer,
    dModel: D,
    nHeads: H,
    dHead: Dh,
    rms: false,
    eps: config.layer_norm_epsilon,
    parallel: false,
    layers,
    lnFinal: { w: f64(W('ln_f.weight')), b: f64(W('ln_f.bias')) },
    unembed: wte,
    unembedBias: new Float64Array(wte.length / D),
    positionStream: (P) => f64(wpe.subarray(0, P * D)),
    bosTokenId: bos,
  };
}

/** A Llama-family checkpoint (nn.Linear [out, in]) as the reference reads it. */
export function llamaLinearModel(tensors: Map<string, ReferenceWeightTensor>, config: Record<string, unknown>): ReferenceLinearModel {
  const W = (name: string): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t.data;
  };
  const num = (k: string): number => config[k] as number;
  const D = num('hidden_size');
  const H = num('num_attention_heads');
  const KV = (config['num_key_value_heads'] as number | undefined) ?? H;
  const Dh = (config['head_dim'] as number | undefined) ?? D / H;
  const layers: ReferenceLinearLayer[] = [];
  const zeros = (): Float64Array => new Float64Array(D);
  for (let l = 0; l < num('num_hidden_layers'); l++) {
    const pre = `model.layers.${l}.`;
    const vProj = W(`${pre}self_attn.v_proj.weight`); // [kv * d_head, d]
    const vBias = tensors.get(`${pre}self_attn.v_proj.bias`)?.data ?? null;
    const oProj = W(`${pre}self_attn.o_proj.weight`); // [d, head * d_head]
    const oBias = tensors.get(`${pre}self_attn.o_proj.bias`)?.data ?? null;
    const W_V: Float64Array[] = [];
    const b_V: Float64Array[] = [];
    const W_O: Float64Array[] = [];
    for (let h = 0; h < H; h++) {
      const kv = Math.floor(h / (H / KV));
      const v = new Float64Array(D * Dh);
      for (let i = 0; i < D; i++) for (let j = 0; j < Dh; j++) v[i * Dh + j] = vProj[(kv * Dh + j) * D + i]!;
      W_V.push(v);
      b_V.push(vBias ? f64(vBias.subarray(kv * Dh, (kv + 1) * Dh)) : new Float64Array(Dh));
      const o = new Float64Array(Dh * D);
      for (let j = 0; j < Dh; j++) for (let i = 0; i < D; i++) o[j * D + i] = oProj[i * H * Dh + h * Dh + j]!;
      W_O.push(o);
    }
    layers.push({
      ln1: { w: f64(W(`${pre}input_layernorm.weight`)), b: zeros() },
      ln2: { w: f64(W(`${pre}post_attention_layernorm.weight`)), b: zeros() },
      W_V,
      b_V,
      W_O,
      b_O: oBias ? f64(oBias) : zeros(),
      post1: null,
    });
  }
  const tied = config['tie_word_embeddings'] !== false && !tensors.has('lm_head.weight');
  const unembed = tied ? W('model.embed_tokens.weight') : W('lm_head.weight');
  return {
    nLayers: num('num_hidden_layers'),
    dModel: D,
    nHeads: H,
    dHead: Dh,
    rms: true,
    eps: num('rms_norm_eps'),
    parallel: false,
    layers,
    lnFinal: { w: f64(W('model.norm.weight')), b: zeros() },
    unembed,
    unembedBias: new Float64Array(unembed.length / D),
    positionStream: (P) => new Float64Array(P * D),
    bosTokenId: (config['bos_token_id'] as number | undefined) ?? null,
  };
}

export interface ReferenceFeature {
  layer: number;
  position: number;
  feature: number;
  activation: number;
  pre: number;
}

export interface ReferenceGraph {
  /** Every active feature, in (layer, position, feature) order. */
  features: ReferenceFeature[];
  logitTokens: number[];
  logitProbabilities: number[];
  /** [n, n], n = features + layers · pos + pos + logits; row = target, column = source. */
  adjacency: Float64Array;
  nodes: number;
  /** Per node: the value the affine model gives with every source at zero (targets only: features and logits). */
  bias: Float64Array;
  /** Per node: the feature's pre-activation or the demeaned logit in the clean run. */
  value: Float64Array;
  /**
   * Per node: the affine model's value with every source present except the features in
   * `ablated` (their writes removed, every other feature's activation held): targets only.
   */
  ablatedValues: (ablated: ReadonlySet<number>) => Float64Array;
}

type Stream = Float64Array; // [pos, d_model]

/** The frozen model's pieces of the clean run. */
interface Frozen {
  patterns: Float64Array[]; // per layer [head, q, k]
  scale1: Float64Array[];
  scale2: Float64Array[];
  scalePost1: (Float64Array | null)[];
  scaleFinal: number;
}

function normScale(x: Float64Array, P: number, D: number, rms: boolean, eps: number): Float64Array {
  const s = new Float64Array(P);
  for (let p = 0; p < P; p++) {
    let mean = 0;
    if (!rms) {
      for (let i = 0; i < D; i++) mean += x[p * D + i]!;
      mean /= D;
    }
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[p * D + i]! - mean) ** 2;
    s[p] = Math.sqrt(v / D + eps);
  }
  return s;
}

/** The frozen norm applied to a stream: centre (LayerNorm), divide by the frozen scale, times w, plus b when `affine`. */
function frozenNorm(x: Stream, s: Float64Array, w: Float64Array | null, b: Float64Array | null, rms: boolean, P: number, D: number): Stream {
  const y = new Float64Array(P * D);
  for (let p = 0; p < P; p++) {
    let mean = 0;
    if (!rms) {
      for (let i = 0; i < D; i++) mean += x[p * D + i]!;
      mean /= D;
    }
    for (let i = 0; i < D; i++) y[p * D + i] = ((x[p * D + i]! - mean) / s[p]!) * (w ? w[i]! : 1) + (b ? b[i]! : 0);
  }
  return y;
}

/**
 * The reference graph of `ids`: `hooks` are a float64 reference forward's hook points of the clean
 * run (hook_embed, hook_resid_pre/mid/post, attn.hook_pattern [head, q, k], hook_mlp_out, logits,
 * and Gemma's ln1_post.hook_scale), `dictionary` the transcoder (read through its arrays only).
 */
export function referenceAttributionGraph(
  model: ReferenceLinearModel,
  hooks: Map<string, ReferenceTensor>,
  ids: readonly number[],
  dictionary: Dictionary,
  options: { maxLogits?: number; logitProbability?: number; zeroBos?: boolean } = {},
): ReferenceGraph {
  const { nLayers: L, dModel: D, nHeads: H, dHead: Dh, rms, eps } = model;
  const P = ids.length;
  const hook = (name: string): Float64Array => {
    const t = hooks.get(name);
    if (!t) throw new Error(`reference: no hook ${name}`);
    return t.data;
  };
  const zeroBos = (options.zeroBos ?? true) && model.bosTokenId !== null && ids[0] === model.bosTokenId;
  const layers = [...dictionary.layers].sort((a, b) => a.layer - b.layer);
  const inputKind = (l: number): 'stream' | 'normalized' | 'in' => {
    const h = layers[l]!.inputHook;
    return h.endsWith('ln2.hook_normalized') ? 'normalized' : h.endsWith('mlp.hook_in') ? 'in' : 'stream';
  };

  // Frozen patterns and scales of the clean run.
  const frozen: Frozen = { patterns: [], scale1: [], scale2: [], scalePost1: [], scaleFinal: 0 };
  for (let l = 0; l < L; l++) {
    frozen.patterns.push(hook(`blocks.${l}.attn.hook_pattern`));
    const pre = hook(`blocks.${l}.hook_resid_pre`);
    frozen.scale1.push(normScale(pre, P, D, rms, eps));
    frozen.scale2.push(normScale(model.parallel ? pre : hook(`blocks.${l}.hook_resid_mid`), P, D, rms, eps));
    frozen.scalePost1.push(model.layers[l]!.post1 ? hook(`blocks.${l}.ln1_post.hook_scale`) : null);
  }
  const finalStream = hook(`blocks.${L - 1}.hook_resid_post`);
  frozen.scaleFinal = normScale(finalStream, P, D, rms, eps)[P - 1]!;

  // TransformerLens's processing of the transcoder's model: center_writing_weights centres every
  // residual-stream value (LayerNorm models only); without fold_ln, LayerNorm's hook_normalized is after its weight and bias.
  const centred = (l: number): boolean => layers[l]!.processing.centerWritingWeights && !rms;
  const centre = (x: Stream): Stream => {
    const y = new Float64Array(x.length);
    for (let p = 0; p < P; p++) {
      let mean = 0;
      for (let i = 0; i < D; i++) mean += x[p * D + i]! / D;
      for (let i = 0; i < D; i++) y[p * D + i] = x[p * D + i]! - mean;
    }
    return y;
  };

  // The encoder input per layer in the clean run, the features, the writes and the errors.
  const encoderIn = (l: number, stream: Stream, affine: boolean): Stream => {
    const kind = inputKind(l);
    if (kind === 'stream') return centred(l) ? centre(stream) : stream;
    const ln2 = model.layers[l]!.ln2;
    const weighted = kind === 'in' || (!layers[l]!.processing.foldLn && !rms);
    return frozenNorm(stream, frozen.scale2[l]!, weighted ? ln2.w : null, weighted && affine ? ln2.b : null, rms, P, D);
  };
  const features: ReferenceFeature[] = [];
  const writes: Array<Array<{ node: number; position: number; vector: Float64Array }>> = Array.from({ length: L }, () => []);
  const reconstruction = Array.from({ length: L }, () => new Float64Array(P * D));
  for (let l = 0; l < L; l++) {
    const layer = layers[l]!;
    const S = layer.dSae;
    const x = encoderIn(l, model.parallel ? hook(`blocks.${l}.hook_resid_pre`) : hook(`blocks.${l}.hook_resid_mid`), true);
    const decoders = layer.outputHooks.map((_, i) => layer.decoder(i).all());
    for (let p = 0; p < P; p++) {
      const pre = new Float64Array(S);
      for (let f = 0; f < S; f++) {
        let v = layer.b_enc[f]!;
        for (let i = 0; i < D; i++) v += x[p * D + i]! * layer.W_enc[i * S + f]!;
        pre[f] = v;
      }
      const act = new Float64Array(S);
      if (layer.activation.kind === 'relu') for (let f = 0; f < S; f++) act[f] = Math.max(0, pre[f]!);
      else if (layer.activation.kind === 'jumprelu') for (let f = 0; f < S; f++) act[f] = pre[f]! > layer.activation.threshold[f]! ? pre[f]! : 0;
      else {
        const k = layer.activation.k;
        const order = Array.from({ length: S }, (_, f) => f).sort((a, b) => pre[b]! - pre[a]! || a - b);
        for (const f of order.slice(0, k)) act[f] = Math.max(0, pre[f]!);
      }
      if (zeroBos && p === 0) act.fill(0);
      for (let f = 0; f < S; f++) {
        if (act[f] === 0) continue;
        const node = features.length;
        features.push({ layer: l, position: p, feature: f, activation: act[f]!, pre: pre[f]! });
        decoders.forEach((dec, i) => {
          const v = new Float64Array(D);
          for (let j = 0; j < D; j++) v[j] = act[f]! * dec[f * D + j]!;
          writes[l + i]!.push({ node, position: p, vector: v });
        });
      }
    }
    layer.outputHooks.forEach((_, i) => {
      for (let p = 0; p < P; p++) for (let j = 0; j < D; j++) reconstruction[l + i]![p * D + j]! += layer.b_dec[i]![j]!;
    });
    if (layer.W_skip)
      for (let p = 0; p < P; p++)
        for (let j = 0; j < D; j++) {
          let v = 0;
          for (let i = 0; i < D; i++) v += x[p * D + i]! * layer.W_skip[i * D + j]!;
          reconstruction[l]![p * D + j]! += v;
        }
  }
  for (let l = 0; l < L; l++) for (const w of writes[l]!) for (let j = 0; j < D; j++) reconstruction[l]![w.position * D + j]! += w.vector[j]!;
  const errors = Array.from({ length: L }, (_, l) => {
    // The true MLP output as the transcoder's model holds it, as its reconstruction is.
    const out = centred(l) ? centre(hook(`blocks.${l}.hook_mlp_out`)) : hook(`blocks.${l}.hook_mlp_out`);
    const e = new Float64Array(P * D);
    for (let i = zeroBos ? D : 0; i < P * D; i++) e[i] = out[i]! - reconstruction[l]![i]!;
    return e;
  });

  // Logit targets: most probable until 0.95 cumulative, at most 10; demeaned unembedding columns.
  const logitsAll = hook('logits');
  const V = model.unembed.length / D;
  const last = logitsAll.subarray((P - 1) * V, P * V);
  let max = -Infinity;
  for (const v of last) max = Math.max(max, v);
  let z = 0;
  for (const v of last) z += Math.exp(v - max);
  const order = Array.from({ length: V }, (_, t) => t).sort((a, b) => last[b]! - last[a]! || a - b);
  const logitTokens: number[] = [];
  const logitProbabilities: number[] = [];
  let cumulative = 0;
  for (const t of order.slice(0, options.maxLogits ?? 10)) {
    const p = Math.exp(last[t]! - max) / z;
    logitTokens.push(t);
    logitProbabilities.push(p);
    cumulative += p;
    if (cumulative >= (options.logitProbability ?? 0.95)) break;
  }
  const meanU = new Float64Array(D);
  for (let t = 0; t < V; t++) for (let i = 0; i < D; i++) meanU[i]! += model.unembed[t * D + i]! / V;
  let meanBias = 0;
  for (const b of model.unembedBias) meanBias += b / V;

  const nF = features.length;
  const errorStart = nF;
  const tokenStart = errorStart + L * P;
  const logitStart = tokenStart + P;
  const n = logitStart + logitTokens.length;

  /**
   * The affine (or, with `affine` false, linear) frozen model run from an embedding stream, with
   * extra writes at each layer's MLP output; returns every target's value: [features..., logits...].
   */
  const run = (embed: Stream, mlpWrites: (l: number) => Stream, affine: boolean): { features: Float64Array; logits: Float64Array } => {
    const featureValues = new Float64Array(nF);
    let x = embed;
    for (let l = 0; l < L; l++) {
      const ml = model.layers[l]!;
      const n1 = frozenNorm(x, frozen.scale1[l]!, ml.ln1.w, affine ? ml.ln1.b : null, rms, P, D);
      const attn = new Float64Array(P * D);
      const pattern = frozen.patterns[l]!;
      for (let h = 0; h < H; h++) {
        const v = new Float64Array(P * Dh);
        for (let k = 0; k < P; k++)
          for (let j = 0; j < Dh; j++) {
            let s = affine ? ml.b_V[h]![j]! : 0;
            for (let i = 0; i < D; i++) s += n1[k * D + i]! * ml.W_V[h]![i * Dh + j]!;
            v[k * Dh + j] = s;
          }
        for (let q = 0; q < P; q++) {
          const zq = new Float64Array(Dh);
          for (let k = 0; k < P; k++) {
            const a = pattern[(h * P + q) * P + k]!;
            if (a !== 0) for (let j = 0; j < Dh; j++) zq[j]! += a * v[k * Dh + j]!;
          }
          for (let i = 0; i < D; i++) {
            let s = 0;
            for (let j = 0; j < Dh; j++) s += zq[j]! * ml.W_O[h]![j * D + i]!;
            attn[q * D + i]! += s;
          }
        }
      }
      if (affine) for (let q = 0; q < P; q++) for (let i = 0; i < D; i++) attn[q * D + i]! += ml.b_O[i]!;
      if (ml.post1) {
        const s = frozen.scalePost1[l]!;
        for (let q = 0; q < P; q++) for (let i = 0; i < D; i++) attn[q * D + i] = (attn[q * D + i]! / s[q]!) * ml.post1[i]!;
      }
      const mid = new Float64Array(P * D);
      for (let i = 0; i < P * D; i++) mid[i] = x[i]! + attn[i]!;
      const mlpIn = encoderIn(l, model.parallel ? x : mid, affine);
      const layer = layers[l]!;
      const S = layer.dSae;
      features.forEach((f, idx) => {
        if (f.layer !== l) return;
        let v = affine ? layer.b_enc[f.feature]! : 0;
        for (let i = 0; i < D; i++) v += mlpIn[f.position * D + i]! * layer.W_enc[i * S + f.feature]!;
        featureValues[idx] = v;
      });
      const out = mlpWrites(l);
      const mlp = Float64Array.from(out);
      if (layer.W_skip)
        for (let p = 0; p < P; p++)
          for (let j = 0; j < D; j++) {
            let v = 0;
            for (let i = 0; i < D; i++) v += mlpIn[p * D + i]! * layer.W_skip[i * D + j]!;
            mlp[p * D + j]! += v;
          }
      const next = new Float64Array(P * D);
      for (let i = 0; i < P * D; i++) next[i] = (model.parallel ? x[i]! + attn[i]! : mid[i]!) + mlp[i]!;
      x = next;
    }
    const fin = frozenNorm(
      x,
      Float64Array.from({ length: P }, () => frozen.scaleFinal),
      model.lnFinal.w,
      affine ? model.lnFinal.b : null,
      rms,
      P,
      D,
    );
    const logitValues = Float64Array.from(logitTokens, (t) => {
      let v = affine ? model.unembedBias[t]! - meanBias : 0;
      for (let i = 0; i < D; i++) v += fin[(P - 1) * D + i]! * (model.unembed[t * D + i]! - meanU[i]!);
      return v;
    });
    return { features: featureValues, logits: logitValues };
  };

  const zero = (): Stream => new Float64Array(P * D);
  const adjacency = new Float64Array(n * n);
  const record = (col: number, values: { features: Float64Array; logits: Float64Array }): void => {
    values.features.forEach((v, r) => (adjacency[r * n + col] = v));
    values.logits.forEach((v, k) => (adjacency[(logitStart + k) * n + col] = v));
  };
  // Feature sources: their writes alone.
  for (let s = 0; s < nF; s++)
    record(
      s,
      run(
        zero(),
        (l) => {
          const m = zero();
          for (const w of writes[l]!) if (w.node === s) for (let j = 0; j < D; j++) m[w.position * D + j]! += w.vector[j]!;
          return m;
        },
        false,
      ),
    );
  // Error sources.
  for (let l = 0; l < L; l++)
    for (let p = 0; p < P; p++)
      record(
        errorStart + l * P + p,
        run(
          zero(),
          (k) => {
            const m = zero();
            if (k === l) for (let j = 0; j < D; j++) m[p * D + j] = errors[l]![p * D + j]!;
            return m;
          },
          false,
        ),
      );
  // Token sources: hook_embed at one position.
  const embed = hook('hook_embed');
  for (let p = 0; p < P; p++) {
    const e = zero();
    for (let j = 0; j < D; j++) e[p * D + j] = embed[p * D + j]!;
    record(
      tokenStart + p,
      run(e, () => zero(), false),
    );
  }

  // Bias: the affine model with every source at zero (position embeddings, biases, b_dec, the BOS position's MLP output).
  const bosMlp = (l: number): Stream => {
    const m = zero();
    layers.forEach((layer, src) => {
      const i = l - src;
      if (i < 0 || i >= layer.outputHooks.length) return;
      for (let p = 0; p < P; p++) for (let j = 0; j < D; j++) m[p * D + j]! += layer.b_dec[i]![j]!;
    });
    if (zeroBos) {
      const out = hook(`blocks.${l}.hook_mlp_out`);
      for (let j = 0; j < D; j++) m[j] = out[j]!;
      // The BOS row's skip path is recomputed by run(); subtract it so that the row holds the true output.
      const layer = layers[l]!;
      if (layer.W_skip) {
        const x = encoderIn(l, model.parallel ? hook(`blocks.${l}.hook_resid_pre`) : hook(`blocks.${l}.hook_resid_mid`), true);
        for (let j = 0; j < D; j++) {
          let v = 0;
          for (let i = 0; i < D; i++) v += x[i]! * layer.W_skip[i * D + j]!;
          m[j]! -= v;
        }
      }
    }
    return m;
  };
  const biasRun = run(model.positionStream(P), bosMlp, true);
  const bias = new Float64Array(n);
  const value = new Float64Array(n);
  biasRun.features.forEach((v, r) => (bias[r] = v));
  biasRun.logits.forEach((v, k) => (bias[logitStart + k] = v));
  features.forEach((f, r) => (value[r] = f.pre));
  logitTokens.forEach((t, k) => {
    let mean = 0;
    for (let v = 0; v < V; v++) mean += last[v]! / V;
    value[logitStart + k] = last[t]! - mean;
  });
  const ablatedValues = (ablated: ReadonlySet<number>): Float64Array => {
    const positions = model.positionStream(P);
    const start = new Float64Array(P * D);
    for (let i = 0; i < P * D; i++) start[i] = positions[i]! + embed[i]!;
    const values = run(
      start,
      (l) => {
        const m = bosMlp(l);
        for (let i = 0; i < P * D; i++) m[i]! += errors[l]![i]!;
        for (const w of writes[l]!) if (!ablated.has(w.node)) for (let j = 0; j < D; j++) m[w.position * D + j]! += w.vector[j]!;
        return m;
      },
      true,
    );
    const out = new Float64Array(n);
    values.features.forEach((v, r) => (out[r] = v));
    values.logits.forEach((v, k) => (out[logitStart + k] = v));
    return out;
  };
  return { features, logitTokens, logitProbabilities, adjacency, nodes: n, bias, value, ablatedValues };
}

/** A GPT-NeoX checkpoint (query_key_value viewed as [head, 3 · d_head], nn.Linear [out, in]) as the reference reads it. */
export function gptNeoxLinearModel(tensors: Map<string, ReferenceWeightTensor>, config: Record<string, unknown>): ReferenceLinearModel {
  const W = (name: string): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t.data;
  };
  const num = (k: string): number => config[k] as number;
  const D = num('hidden_size');
  const H = num('num_attention_heads');
  const Dh = D / H;
  const layers: ReferenceLinearLayer[] = [];
  for (let l = 0; l < num('num_hidden_layers'); l++) {
    const pre = `gpt_neox.layers.${l}.`;
    const qkv = W(`${pre}attention.query_key_value.weight`); // [3d, d]
    const qkvBias = tensors.get(`${pre}attention.query_key_value.bias`)?.data ?? null;
    const dense = W(`${pre}attention.dense.weight`); // [d, d]
    const W_V: Float64Array[] = [];
    const b_V: Float64Array[] = [];
    const W_O: Float64Array[] = [];
    for (let h = 0; h < H; h++) {
      const v = new Float64Array(D * Dh);
      const bv = new Float64Array(Dh);
      for (let j = 0; j < Dh; j++) {
        const row = h * 3 * Dh + 2 * Dh + j;
        for (let i = 0; i < D; i++) v[i * Dh + j] = qkv[row * D + i]!;
        bv[j] = qkvBias ? qkvBias[row]! : 0;
      }
      W_V.push(v);
      b_V.push(bv);
      const o = new Float64Array(Dh * D);
      for (let j = 0; j < Dh; j++) for (let i = 0; i < D; i++) o[j * D + i] = dense[i * D + h * Dh + j]!;
      W_O.push(o);
    }
    const denseBias = tensors.get(`${pre}attention.dense.bias`)?.data;
    layers.push({
      ln1: { w: f64(W(`${pre}input_layernorm.weight`)), b: f64(W(`${pre}input_layernorm.bias`)) },
      ln2: { w: f64(W(`${pre}post_attention_layernorm.weight`)), b: f64(W(`${pre}post_attention_layernorm.bias`)) },
      W_V,
      b_V,
      W_O,
      b_O: denseBias ? f64(denseBias) : new Float64Array(D),
      post1: null,
    });
  }
  const unembed = config['tie_word_embeddings'] === true ? W('gpt_neox.embed_in.weight') : W('embed_out.weight');
  return {
    nLayers: num('num_hidden_layers'),
    dModel: D,
    nHeads: H,
    dHead: Dh,
    rms: false,
    eps: num('layer_norm_eps'),
    parallel: config['use_parallel_residual'] !== false,
    layers,
    lnFinal: { w: f64(W('gpt_neox.final_layer_norm.weight')), b: f64(W('gpt_neox.final_layer_norm.bias')) },
    unembed,
    unembedBias: new Float64Array(unembed.length / D),
    positionStream: (P) => new Float64Array(P * D),
    bosTokenId: (config['bos_token_id'] as number | undefined) ?? null,
  };
}

/** A Gemma checkpoint (RMSNorm weights applied as 1 + w, the post-attention norm kept) as the reference reads it. */
export function gemmaLinearModel(tensors: Map<string, ReferenceWeightTensor>, config: Record<string, unknown>): ReferenceLinearModel {
  const base = llamaLinearModel(tensors, config);
  const W = (name: string): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`reference: no tensor ${name}`);
    return t.data;
  };
  const onePlus = (w: Float32Array): Float64Array => Float64Array.from(w, (x) => 1 + x);
  const D = base.dModel;
  const zeros = new Float64Array(D);
  return {
    ...base,
    layers: base.layers.map((layer, l) => {
      const pre = `model.layers.${l}.`;
      return {
        ...layer,
        ln1: { w: onePlus(W(`${pre}input_layernorm.weight`)), b: zeros },
        ln2: { w: onePlus(W(`${pre}pre_feedforward_layernorm.weight`)), b: zeros },
        post1: onePlus(W(`${pre}post_attention_layernorm.weight`)),
      };
    }),
    lnFinal: { w: onePlus(W('model.norm.weight')), b: zeros },
    unembed: W('model.embed_tokens.weight'),
  };
}
