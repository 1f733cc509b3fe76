/**
 * An independent reference forward pass of GPT-2, used by the engine's tests as the known answer
 * the ONNX engine must match (to 1e-4).
 *
 * It is written straight from the GPT-2 architecture and the Hugging Face checkpoint layout, and
 * deliberately shares no code with src/ (not even types): a bug in the engine's weight conversion,
 * graph building or hook extraction cannot also hide here. Everything is float64 and naive loops,
 * so that it reads like the paper, not like an optimised kernel.
 *
 * Activations are returned under TransformerLens hook names with the batch dimension dropped:
 *
 *   hook_embed                      [pos, d_model]
 *   hook_pos_embed                  [pos, d_model]
 *   blocks.L.hook_resid_pre         [pos, d_model]
 *   blocks.L.attn.hook_q / hook_k / hook_v   [pos, head, d_head]
 *   blocks.L.attn.hook_pattern      [head, query, key]
 *   blocks.L.attn.hook_z            [pos, head, d_head]
 *   blocks.L.hook_attn_out          [pos, d_model]
 *   blocks.L.hook_resid_mid         [pos, d_model]
 *   blocks.L.hook_mlp_out           [pos, d_model]
 *   blocks.L.hook_resid_post        [pos, d_model]
 *   ln_final.hook_scale             [pos, 1]
 *   logits                          [pos, vocab]
 */

/** A checkpoint tensor as read from model.safetensors: row-major float32. */
export interface ReferenceWeightTensor {
  shape: number[];
  data: Float32Array;
}

/** An activation of the reference pass: row-major float64. */
export interface ReferenceTensor {
  shape: number[];
  data: Float64Array;
}

/** The fields of a Hugging Face GPT-2 config.json that the forward pass needs. */
export interface ReferenceGpt2Config {
  n_layer: number;
  n_head: number;
  n_embd: number;
  /** 1e-5 for every released GPT-2. */
  layer_norm_epsilon: number;
  /** Divide attention scores by sqrt(d_head); HF's default is true. */
  scale_attn_weights?: boolean;
  /** Also divide layer L's attention scores by L + 1 (L from 0); HF's default is false. */
  scale_attn_by_inverse_layer_idx?: boolean;
  /**
   * Per layer, null for causal attention over every earlier key, or a window w: query q sees only
   * keys k with q - w < k <= q (GPT-Neo's local layers). Absent: every layer global.
   */
  attention_windows?: readonly (number | null)[];
  /** false: the unembedding is `lm_head.weight` [vocab, d] instead of `wte`. HF's default is true. */
  tie_word_embeddings?: boolean;
}

/**
 * Called at each hook point in forward order, like a TransformerLens forward hook. Return a tensor
 * of the same shape to replace the activation (the rest of the pass then uses the replacement), or
 * nothing to leave it; mutating `tensor.data` in place also works.
 */
export type ReferenceHookCallback = (hookName: string, tensor: ReferenceTensor) => ReferenceTensor | void;

export interface ReferenceForwardOptions {
  intervene?: ReferenceHookCallback;
}

/** The checkpoint's tensors of one block, in the checkpoint's own (Conv1D: [in, out]) layout. */
export interface ReferenceBlock {
  ln1Weight: Float32Array; // [d]
  ln1Bias: Float32Array; // [d]
  attnWeight: Float32Array; // [d, 3d]: Q | K | V column blocks, head h owns columns h*d_head..(h+1)*d_head-1 of each
  attnBias: Float32Array; // [3d]
  attnProjWeight: Float32Array; // [d, d]
  attnProjBias: Float32Array; // [d]
  ln2Weight: Float32Array; // [d]
  ln2Bias: Float32Array; // [d]
  fcWeight: Float32Array; // [d, 4d]
  fcBias: Float32Array; // [4d]
  mlpProjWeight: Float32Array; // [4d, d]
  mlpProjBias: Float32Array; // [d]
}

export interface ReferenceWeights {
  wte: Float32Array; // [vocab, d]
  wpe: Float32Array; // [n_ctx, d]
  vocab: number;
  nCtx: number;
  blocks: ReferenceBlock[];
  lnFWeight: Float32Array; // [d]
  lnFBias: Float32Array; // [d]
  lmHead: Float32Array | null; // [vocab, d] when untied
}

/**
 * Runs GPT-2 on one prompt and returns every hook point.
 *
 * `tensors` are the checkpoint's tensors by their Hugging Face names, with or without the
 * `transformer.` prefix; extra tensors (the `attn.bias` causal-mask buffers, `lm_head.weight`) are
 * ignored because GPT-2's unembedding is tied to `wte`, unless `tie_word_embeddings` is false.
 */
export function referenceGpt2Forward(
  tensors: Map<string, ReferenceWeightTensor>,
  config: ReferenceGpt2Config,
  ids: readonly number[],
  options: ReferenceForwardOptions = {},
): Map<string, ReferenceTensor> {
  const d = config.n_embd;
  const nHeads = config.n_head;
  if (!Number.isInteger(nHeads) || nHeads <= 0 || d % nHeads !== 0) {
    throw new Error(`reference-gpt2: n_embd ${d} is not divisible by n_head ${nHeads}`);
  }
  const dHead = d / nHeads;
  const eps = config.layer_norm_epsilon;
  const weights = readWeights(tensors, config);
  const nPos = ids.length;
  if (nPos === 0) throw new Error('reference-gpt2: the prompt has no tokens');
  if (nPos > weights.nCtx) throw new Error(`reference-gpt2: ${nPos} tokens exceed the context of ${weights.nCtx}`);
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= weights.vocab) throw new Error(`reference-gpt2: token id ${id} is outside the vocabulary of ${weights.vocab}`);
  }

  const cache = new Map<string, ReferenceTensor>();
  /** Records an activation after giving the intervention callback its chance to replace it. */
  const hook = (name: string, value: ReferenceTensor): ReferenceTensor => {
    const replaced = options.intervene?.(name, value);
    const used = replaced ?? value;
    if (used.shape.length !== value.shape.length || used.shape.some((n, i) => n !== value.shape[i]) || used.data.length !== value.data.length) {
      throw new Error(`reference-gpt2: the replacement for ${name} has shape [${used.shape.join(', ')}], expected [${value.shape.join(', ')}]`);
    }
    cache.set(name, used);
    return used;
  };

  // Embeddings. [pos, d]
  const embed = newTensor([nPos, d]);
  const posEmbed = newTensor([nPos, d]);
  for (let p = 0; p < nPos; p++) {
    const token = ids[p] as number;
    for (let i = 0; i < d; i++) {
      embed.data[p * d + i] = at(weights.wte, token * d + i);
      posEmbed.data[p * d + i] = at(weights.wpe, p * d + i);
    }
  }
  const embedUsed = hook('hook_embed', embed);
  const posEmbedUsed = hook('hook_pos_embed', posEmbed);
  let resid = add(embedUsed, posEmbedUsed); // [pos, d]

  for (let layer = 0; layer < weights.blocks.length; layer++) {
    const block = weights.blocks[layer] as ReferenceBlock;
    const name = (h: string): string => `blocks.${layer}.${h}`;
    const residPre = hook(name('hook_resid_pre'), resid);

    // Attention. ln1: [pos, d]; qkv: [pos, 3d]
    const ln1 = layerNorm(residPre, block.ln1Weight, block.ln1Bias, eps);
    const qkv = conv1d(ln1, block.attnWeight, block.attnBias, 3 * d);
    // hook_q / hook_k / hook_v [pos, head, d_head]: the Q, K or V column block of qkv.
    const part = (which: number): ReferenceTensor => {
      const t = newTensor([nPos, nHeads, dHead]);
      for (let p = 0; p < nPos; p++) for (let i = 0; i < d; i++) t.data[p * d + i] = at(qkv.data, p * 3 * d + which * d + i);
      return t;
    };
    const qUsed = hook(name('attn.hook_q'), part(0));
    const kUsed = hook(name('attn.hook_k'), part(1));
    const vUsed = hook(name('attn.hook_v'), part(2));
    const qAt = (p: number, h: number, e: number): number => at(qUsed.data, (p * nHeads + h) * dHead + e);
    const kAt = (p: number, h: number, e: number): number => at(kUsed.data, (p * nHeads + h) * dHead + e);
    const vAt = (p: number, h: number, e: number): number => at(vUsed.data, (p * nHeads + h) * dHead + e);

    const pattern = newTensor([nHeads, nPos, nPos]); // [head, query, key]
    for (let h = 0; h < nHeads; h++) {
      for (let q = 0; q < nPos; q++) {
        // Causal mask: only keys first..q take part (first > 0 on a local layer); masked entries stay exactly 0.
        const window = config.attention_windows?.[layer] ?? null;
        const first = window === null ? 0 : Math.max(0, q - window + 1);
        const scores: number[] = [];
        for (let k = first; k <= q; k++) {
          let dot = 0;
          for (let e = 0; e < dHead; e++) dot += qAt(q, h, e) * kAt(k, h, e);
          // HF GPT2Attention: each division applies on its own flag.
          let score = dot;
          if (config.scale_attn_weights ?? true) score /= Math.sqrt(dHead);
          if (config.scale_attn_by_inverse_layer_idx ?? false) score /= layer + 1;
          scores.push(score);
        }
        const probs = softmax(scores);
        for (let k = first; k <= q; k++) pattern.data[(h * nPos + q) * nPos + k] = probs[k - first] as number;
      }
    }
    const patternUsed = hook(name('attn.hook_pattern'), pattern);

    const z = newTensor([nPos, nHeads, dHead]); // [pos, head, d_head]
    for (let q = 0; q < nPos; q++) {
      for (let h = 0; h < nHeads; h++) {
        for (let e = 0; e < dHead; e++) {
          let sum = 0;
          for (let k = 0; k < nPos; k++) sum += at(patternUsed.data, (h * nPos + q) * nPos + k) * vAt(k, h, e);
          z.data[(q * nHeads + h) * dHead + e] = sum;
        }
      }
    }
    const zUsed = hook(name('attn.hook_z'), z);

    // hook_z flattened per position is [head * d_head] = [d], the input of c_proj.
    const zFlat: ReferenceTensor = { shape: [nPos, d], data: zUsed.data };
    const attnOut = hook(name('hook_attn_out'), conv1d(zFlat, block.attnProjWeight, block.attnProjBias, d));
    const residMid = hook(name('hook_resid_mid'), add(residPre, attnOut));

    // MLP. hidden: [pos, 4d]
    const ln2 = layerNorm(residMid, block.ln2Weight, block.ln2Bias, eps);
    const dMlp = block.fcBias.length;
    const hidden = conv1d(ln2, block.fcWeight, block.fcBias, dMlp);
    for (let i = 0; i < hidden.data.length; i++) hidden.data[i] = geluNew(at(hidden.data, i));
    const mlpOut = hook(name('hook_mlp_out'), conv1d(hidden, block.mlpProjWeight, block.mlpProjBias, d));
    resid = hook(name('hook_resid_post'), add(residMid, mlpOut));
  }

  // Final LayerNorm, split as TransformerLens does: centre, divide by hook_scale, then weight and bias.
  const centred = newTensor([nPos, d]);
  const scale = newTensor([nPos, 1]);
  for (let p = 0; p < nPos; p++) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += at(resid.data, p * d + i);
    mean /= d;
    let variance = 0;
    for (let i = 0; i < d; i++) {
      const c = at(resid.data, p * d + i) - mean;
      centred.data[p * d + i] = c;
      variance += c * c;
    }
    variance /= d; // biased variance, as torch.nn.LayerNorm
    scale.data[p] = Math.sqrt(variance + eps);
  }
  const scaleUsed = hook('ln_final.hook_scale', scale);
  const finalNormed = newTensor([nPos, d]);
  for (let p = 0; p < nPos; p++) {
    for (let i = 0; i < d; i++) {
      finalNormed.data[p * d + i] = (at(centred.data, p * d + i) / at(scaleUsed.data, p)) * at(weights.lnFWeight, i) + at(weights.lnFBias, i);
    }
  }

  // Tied unembedding: logits[p, t] = ln_f(x)[p] . wte[t] (or lm_head[t] when untied); no unembedding bias. [pos, vocab]
  const unembed = weights.lmHead ?? weights.wte;
  const logits = newTensor([nPos, weights.vocab]);
  for (let p = 0; p < nPos; p++) {
    for (let t = 0; t < weights.vocab; t++) {
      let sum = 0;
      for (let i = 0; i < d; i++) sum += at(finalNormed.data, p * d + i) * at(unembed, t * d + i);
      logits.data[p * weights.vocab + t] = sum;
    }
  }
  hook('logits', logits);
  return cache;
}

/** GPT-2's MLP activation, the tanh approximation of GELU ("gelu_new"). */
export function geluNew(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** Row-wise LayerNorm of [rows, d] with biased variance, as torch.nn.LayerNorm. */
export function layerNorm(x: ReferenceTensor, weight: Float32Array, bias: Float32Array, eps: number): ReferenceTensor {
  const [rows, d] = x.shape as [number, number];
  const normalized = newTensor([rows, d]);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += at(x.data, r * d + i);
    mean /= d;
    let variance = 0;
    for (let i = 0; i < d; i++) variance += (at(x.data, r * d + i) - mean) ** 2;
    variance /= d;
    const s = Math.sqrt(variance + eps);
    for (let i = 0; i < d; i++) normalized.data[r * d + i] = ((at(x.data, r * d + i) - mean) / s) * at(weight, i) + at(bias, i);
  }
  return normalized;
}

/** Hugging Face Conv1D: y = x @ W + b with W stored [in, out]. x: [rows, in] -> [rows, out]. */
export function conv1d(x: ReferenceTensor, weight: Float32Array, bias: Float32Array, nOut: number): ReferenceTensor {
  const [rows, nIn] = x.shape as [number, number];
  const y = newTensor([rows, nOut]);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < nOut; o++) y.data[r * nOut + o] = at(bias, o);
    for (let i = 0; i < nIn; i++) {
      const xi = at(x.data, r * nIn + i);
      for (let o = 0; o < nOut; o++) y.data[r * nOut + o] = at(y.data, r * nOut + o) + xi * at(weight, i * nOut + o);
    }
  }
  return y;
}

export function softmax(scores: readonly number[]): number[] {
  const max = Math.max(...scores);
  const exps = scores.map((s) => Math.exp(s - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

function add(a: ReferenceTensor, b: ReferenceTensor): ReferenceTensor {
  const out = newTensor([...a.shape]);
  for (let i = 0; i < out.data.length; i++) out.data[i] = at(a.data, i) + at(b.data, i);
  return out;
}

function newTensor(shape: number[]): ReferenceTensor {
  return { shape, data: new Float64Array(shape.reduce((n, s) => n * s, 1)) };
}

/** Indexed read that fails loudly instead of yielding NaN from an out-of-range index. */
function at(array: Float32Array | Float64Array, index: number): number {
  const value = array[index];
  if (value === undefined) throw new Error(`reference-gpt2: index ${index} is outside an array of ${array.length}`);
  return value;
}

/** Looks up and shape-checks the checkpoint tensors the forward pass reads. */
export function readWeights(tensors: Map<string, ReferenceWeightTensor>, config: ReferenceGpt2Config): ReferenceWeights {
  const byName = new Map<string, ReferenceWeightTensor>();
  for (const [name, t] of tensors) byName.set(name.startsWith('transformer.') ? name.slice('transformer.'.length) : name, t);
  const d = config.n_embd;

  const get = (name: string, expected: (number | null)[]): ReferenceWeightTensor => {
    const t = byName.get(name);
    if (!t) throw new Error(`reference-gpt2: the checkpoint has no tensor ${name}`);
    const fits = t.shape.length === expected.length && expected.every((n, i) => n === null || n === t.shape[i]);
    if (!fits) throw new Error(`reference-gpt2: ${name} has shape [${t.shape.join(', ')}], expected [${expected.map((n) => n ?? '?').join(', ')}]`);
    if (t.data.length !== t.shape.reduce((n, s) => n * s, 1))
      throw new Error(`reference-gpt2: ${name} holds ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    return t;
  };

  const wte = get('wte.weight', [null, d]);
  const wpe = get('wpe.weight', [null, d]);
  const blocks: ReferenceBlock[] = [];
  for (let l = 0; l < config.n_layer; l++) {
    const p = `h.${l}.`;
    const fc = get(`${p}mlp.c_fc.weight`, [d, null]);
    const dMlp = fc.shape[1] as number;
    blocks.push({
      ln1Weight: get(`${p}ln_1.weight`, [d]).data,
      ln1Bias: get(`${p}ln_1.bias`, [d]).data,
      attnWeight: get(`${p}attn.c_attn.weight`, [d, 3 * d]).data,
      attnBias: get(`${p}attn.c_attn.bias`, [3 * d]).data,
      attnProjWeight: get(`${p}attn.c_proj.weight`, [d, d]).data,
      attnProjBias: get(`${p}attn.c_proj.bias`, [d]).data,
      ln2Weight: get(`${p}ln_2.weight`, [d]).data,
      ln2Bias: get(`${p}ln_2.bias`, [d]).data,
      fcWeight: fc.data,
      fcBias: get(`${p}mlp.c_fc.bias`, [dMlp]).data,
      mlpProjWeight: get(`${p}mlp.c_proj.weight`, [dMlp, d]).data,
      mlpProjBias: get(`${p}mlp.c_proj.bias`, [d]).data,
    });
  }
  return {
    wte: wte.data,
    wpe: wpe.data,
    vocab: wte.shape[0] as number,
    nCtx: wpe.shape[0] as number,
    blocks,
    lnFWeight: get('ln_f.weight', [d]).data,
    lnFBias: get('ln_f.bias', [d]).data,
    lmHead: config.tie_word_embeddings === false ? get('lm_head.weight', [wte.shape[0] as number, d]).data : null,
  };
}
