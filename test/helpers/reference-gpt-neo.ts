/**
 * An independent float64 reference forward of GPT-Neo, written from Hugging Face's
 * modeling_gpt_neo.py and configuration_gpt_neo.py, sharing no code with src/:
 *
 *  - GPTNeoConfig: `attention_types` [[types, n], ...] expands to each `types` list n times, one
 *    type per layer; a "local" layer's causal mask is tril(ones) XOR tril(ones, -window_size), so
 *    query i sees key j when 0 <= i - j < window_size;
 *  - GPTNeoSelfAttention: q, k, v = nn.Linear without bias, out_proj with one; scores q . k are
 *    NOT divided by sqrt(d_head);
 *  - GPTNeoMLP: c_fc and c_proj are nn.Linear (weight [out, in]) with gelu_new between;
 *  - LayerNorms and learned positions as GPT-2; lm_head tied to wte unless tie_word_embeddings
 *    is false.
 *
 * It rewrites the checkpoint's nn.Linear tensors as the Conv1D tensors GPT-2's reference reads
 * (transposes, q | k | v side by side, zero q/k/v biases): the block is otherwise GPT-2's, and
 * that reference already runs it in float64 with the per-layer windows and the unscaled scores.
 */
import { referenceGpt2Forward, type ReferenceForwardOptions, type ReferenceTensor, type ReferenceWeightTensor } from './reference-gpt2.js';

/** The fields of a Hugging Face GPT-Neo config.json the forward needs (HF's defaults when absent). */
export interface ReferenceGptNeoConfig {
  num_layers: number;
  num_heads: number;
  hidden_size: number;
  attention_types: Array<[string[], number]>;
  window_size: number;
  layer_norm_epsilon?: number;
  activation_function?: string;
  tie_word_embeddings?: boolean;
}

/** HF GPTNeoConfig.expand_attention_types_params. */
export function expandGptNeoAttentionTypes(attentionTypes: ReadonlyArray<[string[], number]>): string[] {
  const layers: string[] = [];
  for (const [types, repeats] of attentionTypes) for (let r = 0; r < repeats; r++) layers.push(...types);
  return layers;
}

/** Runs GPT-Neo on one prompt and returns every hook point, named as reference-gpt2.ts names them. */
export function referenceGptNeoForward(
  tensors: Map<string, ReferenceWeightTensor>,
  config: ReferenceGptNeoConfig,
  ids: readonly number[],
  options: ReferenceForwardOptions = {},
): Map<string, ReferenceTensor> {
  if ((config.activation_function ?? 'gelu_new') !== 'gelu_new') throw new Error('reference-gpt-neo: only gelu_new is implemented');
  const layers = expandGptNeoAttentionTypes(config.attention_types);
  if (layers.length !== config.num_layers) throw new Error(`reference-gpt-neo: attention_types name ${layers.length} layers, not ${config.num_layers}`);
  const d = config.hidden_size;
  const byName = new Map<string, ReferenceWeightTensor>();
  for (const [name, t] of tensors) byName.set(name.startsWith('transformer.') ? name.slice('transformer.'.length) : name, t);
  const get = (name: string, shape: number[]): Float32Array => {
    const t = byName.get(name);
    if (!t) throw new Error(`reference-gpt-neo: the checkpoint has no tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
      throw new Error(`reference-gpt-neo: ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    return t.data;
  };
  /** nn.Linear weight [out, in] as Conv1D [in, out]. */
  const conv1d = (linear: Float32Array, nOut: number, nIn: number): Float32Array => {
    const w = new Float32Array(nIn * nOut);
    for (let o = 0; o < nOut; o++) for (let i = 0; i < nIn; i++) w[i * nOut + o] = linear[o * nIn + i]!;
    return w;
  };

  const gpt2 = new Map<string, ReferenceWeightTensor>();
  const put = (name: string, shape: number[], data: Float32Array): void => void gpt2.set(name, { shape, data });
  const wte = byName.get('wte.weight');
  const wpe = byName.get('wpe.weight');
  if (!wte || !wpe) throw new Error('reference-gpt-neo: the checkpoint has no wte.weight or wpe.weight');
  put('wte.weight', wte.shape, wte.data);
  put('wpe.weight', wpe.shape, wpe.data);
  for (let l = 0; l < config.num_layers; l++) {
    const p = `h.${l}.`;
    const attn = `${p}attn.attention.`;
    const cAttn = new Float32Array(d * 3 * d);
    ['q_proj', 'k_proj', 'v_proj'].forEach((proj, part) => {
      const w = conv1d(get(`${attn}${proj}.weight`, [d, d]), d, d); // [in, out]
      for (let i = 0; i < d; i++) cAttn.set(w.subarray(i * d, (i + 1) * d), i * 3 * d + part * d);
    });
    put(`${p}attn.c_attn.weight`, [d, 3 * d], cAttn);
    put(`${p}attn.c_attn.bias`, [3 * d], new Float32Array(3 * d)); // q, k, v have no bias
    put(`${p}attn.c_proj.weight`, [d, d], conv1d(get(`${attn}out_proj.weight`, [d, d]), d, d));
    put(`${p}attn.c_proj.bias`, [d], get(`${attn}out_proj.bias`, [d]));
    const fc = byName.get(`${p}mlp.c_fc.weight`);
    if (!fc) throw new Error(`reference-gpt-neo: the checkpoint has no tensor ${p}mlp.c_fc.weight`);
    const dMlp = fc.shape[0]!;
    put(`${p}mlp.c_fc.weight`, [d, dMlp], conv1d(get(`${p}mlp.c_fc.weight`, [dMlp, d]), dMlp, d));
    put(`${p}mlp.c_fc.bias`, [dMlp], get(`${p}mlp.c_fc.bias`, [dMlp]));
    put(`${p}mlp.c_proj.weight`, [dMlp, d], conv1d(get(`${p}mlp.c_proj.weight`, [d, dMlp]), d, dMlp));
    put(`${p}mlp.c_proj.bias`, [d], get(`${p}mlp.c_proj.bias`, [d]));
    for (const ln of ['ln_1', 'ln_2']) for (const part of ['weight', 'bias']) put(`${p}${ln}.${part}`, [d], get(`${p}${ln}.${part}`, [d]));
  }
  for (const part of ['weight', 'bias']) put(`ln_f.${part}`, [d], get(`ln_f.${part}`, [d]));
  const untied = config.tie_word_embeddings === false;
  if (untied) put('lm_head.weight', wte.shape, get('lm_head.weight', wte.shape));

  return referenceGpt2Forward(
    gpt2,
    {
      n_layer: config.num_layers,
      n_head: config.num_heads,
      n_embd: d,
      layer_norm_epsilon: config.layer_norm_epsilon ?? 1e-5,
      scale_attn_weights: false,
      attention_windows: layers.map((type) => {
        if (type === 'global') return null;
        if (type === 'local') return config.window_size;
        throw new Error(`reference-gpt-neo: unknown attention type ${type}`);
      }),
      tie_word_embeddings: !untied,
    },
    ids,
    options,
  );
}
