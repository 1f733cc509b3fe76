/**
 * GPT-Neo adapter: Hugging Face `GPTNeoForCausalLM` checkpoints (roneneldan/TinyStories-1M…33M,
 * EleutherAI/gpt-neo-125M, ...).
 *
 * A GPT-2 block with three differences the forward honours: attention scores are not divided by
 * sqrt(d_head) (useAttnScale false); `attention_types` makes some layers local, attending only to
 * the last `window_size` keys (ModelConfig.attentionWindow); and every projection is an nn.Linear,
 * weight [out, in] (y = x W^T + b), the transpose of GPT-2's Conv1D. Q, K and V have no bias
 * (b_Q, b_K, b_V are zeros), out_proj has one. Tensors sit under `transformer.` (or not, for a bare
 * GPTNeoModel); the `attn.attention.bias` / `masked_bias` mask buffers of older checkpoints are
 * ignored; the unembedding is `wte` unless `tie_word_embeddings` is false, when it is `lm_head.weight`.
 */
import { EngineError } from '../../errors.js';
import { tensor, type Tensor } from '../../tensor.js';
import type { ModelConfig } from '../config.js';
import type { BlockWeights, CanonicalModel } from '../weights.js';
import type { ArchitectureAdapter } from './adapter.js';
import { checkedTensorGetter, transposeMatrix } from './checked-tensor.js';

export const gptNeoAdapter: ArchitectureAdapter = {
  modelTypes: ['gpt_neo'],
  adapt(raw, source) {
    const { config, tied } = gptNeoConfig(raw);
    const names = new Set(source.names());
    const prefix = names.has('transformer.wte.weight') ? 'transformer.' : '';
    const checked = checkedTensorGetter(source, 'a GPT-Neo checkpoint');
    const get = (name: string, shape: readonly number[]): Tensor => checked(prefix + name, shape);
    const { dModel: D, nHeads: H, dHead: Dh, dMlp: M, dVocab: V, nCtx } = config;

    const W_E = get('wte.weight', [V, D]);
    const W_pos = get('wpe.weight', [nCtx, D]);
    const blocks: BlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) {
      const p = `h.${l}.`;
      const attn = `${p}attn.attention.`;
      // W_QKV [d_model, 3 * d_model]: column which * D + h * Dh + j is row h * Dh + j of the
      // q/k/v_proj weight [out, in], the layout the block graph runs (GPT-2's c_attn).
      const qkv = new Float32Array(D * 3 * D);
      (['q_proj', 'k_proj', 'v_proj'] as const).forEach((proj, which) => {
        const w = get(`${attn}${proj}.weight`, [D, D]).data; // [out, in]
        for (let out = 0; out < D; out++) {
          for (let i = 0; i < D; i++) qkv[i * 3 * D + which * D + out] = w[out * D + i]!;
        }
      });
      const W_QKV = tensor(qkv, [D, 3 * D]);
      // W[h, i, j] = W_QKV[i, which * D + h * Dh + j] -> [head, d_model, d_head], built when first read.
      const splitW = (which: 0 | 1 | 2): (() => Tensor) => {
        let W: Tensor | undefined;
        return () => {
          if (W) return W;
          const data = new Float32Array(H * D * Dh);
          for (let h = 0; h < H; h++) {
            for (let i = 0; i < D; i++) {
              const from = i * 3 * D + which * D + h * Dh;
              data.set(qkv.subarray(from, from + Dh), (h * D + i) * Dh);
            }
          }
          return (W = tensor(data, [H, D, Dh]));
        };
      };
      const q = splitW(0),
        k = splitW(1),
        v = splitW(2);
      const noBias = (): Tensor => tensor(new Float32Array(H * Dh), [H, Dh]); // [head, d_head]
      const block: BlockWeights = {
        ln1: { w: get(`${p}ln_1.weight`, [D]), b: get(`${p}ln_1.bias`, [D]) },
        get W_Q() {
          return q();
        },
        get W_K() {
          return k();
        },
        get W_V() {
          return v();
        },
        b_Q: noBias(),
        b_K: noBias(),
        b_V: noBias(),
        // out_proj [out d_model, in head * d_head] transposed is [head, d_head, d_model].
        W_O: transposed(get(`${attn}out_proj.weight`, [D, D]), [H, Dh, D]),
        b_O: get(`${attn}out_proj.bias`, [D]),
        ln2: { w: get(`${p}ln_2.weight`, [D]), b: get(`${p}ln_2.bias`, [D]) },
        W_in: transposed(get(`${p}mlp.c_fc.weight`, [M, D]), [D, M]),
        b_in: get(`${p}mlp.c_fc.bias`, [M]),
        W_out: transposed(get(`${p}mlp.c_proj.weight`, [D, M]), [M, D]),
        b_out: get(`${p}mlp.c_proj.bias`, [D]),
      };
      // Not enumerable: a copy with other W_Q/W_K/W_V ({ ...block, W_Q }) must not carry it.
      Object.defineProperty(block, 'W_QKV', { value: W_QKV, enumerable: false });
      blocks.push(block);
    }
    let W_U_T = W_E;
    if (!tied) {
      // HF ties lm_head to wte unless told not to; untied, the unembedding is its own tensor.
      if (!names.has('lm_head.weight')) {
        throw new EngineError(
          'BAD_CONFIG',
          'config.json: "tie_word_embeddings": false, but the checkpoint has no lm_head.weight.',
          'An untied GPT-Neo needs its unembedding; the model.safetensors file is incomplete.',
        );
      }
      W_U_T = source.get('lm_head.weight'); // nn.Linear [vocab, d_model]: rows are token directions
      if (W_U_T.shape.length !== 2 || W_U_T.shape[0] !== V || W_U_T.shape[1] !== D) {
        throw new EngineError('WRONG_SHAPE', `Tensor "lm_head.weight" has shape [${W_U_T.shape.join(', ')}], expected [${V}, ${D}] from config.json.`);
      }
    }
    return {
      config,
      weights: {
        W_E,
        W_pos,
        blocks,
        ln_final: { w: get('ln_f.weight', [D]), b: get('ln_f.bias', [D]) },
        W_U_T,
        b_U: tensor(new Float32Array(V), [V]),
      },
    } satisfies CanonicalModel;
  },
};

/** A 2-D [rows, cols] tensor transposed, read as `shape` (whose size is rows * cols). */
function transposed(t: Tensor, shape: number[]): Tensor {
  return tensor(transposeMatrix(t), shape);
}

/** HF ACT2FN names the graph implements. gelu_pytorch_tanh is torch's tanh approximation: gelu_new's formula. */
const HF_ACTIVATIONS: Record<string, ModelConfig['actFn']> = { gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', gelu: 'gelu', relu: 'relu' };

/** GPT-Neo's attention layer types (HF GPTNeoAttention accepts these two only). */
const ATTENTION_TYPES = ['global', 'local'] as const;

/**
 * Reads GPTNeoConfig (HF configuration_gpt_neo.py, whose defaults apply to absent keys) into the
 * canonical config. Every field that changes the forward's maths is honoured or refused:
 *   honoured: num_layers, num_heads, hidden_size, intermediate_size (null: 4 hidden_size),
 *     vocab_size, max_position_embeddings, attention_types (expanded per layer as HF's
 *     expand_attention_types_params does), window_size, layer_norm_epsilon, activation_function,
 *     tie_word_embeddings;
 *   refused: an attention type other than global or local, attention_types that do not cover
 *     num_layers, attention_layers that disagree with them, add_cross_attention, pruned_heads;
 *   irrelevant to an inference forward: the dropouts, summary_* and classifier_dropout (heads for
 *     other tasks), initializer_range, use_cache, eos/pad token ids.
 */
function gptNeoConfig(raw: Record<string, unknown>): { config: ModelConfig; tied: boolean } {
  const value = (key: string, fallback: unknown): unknown => (raw[key] === undefined ? fallback : raw[key]);
  const int = (key: string, fallback: number): number => {
    const v = value(key, fallback);
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new EngineError('BAD_CONFIG', `config.json: "${key}" must be a positive integer (got ${JSON.stringify(raw[key])}).`);
    }
    return v;
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const v = value(key, fallback);
    if (typeof v !== 'boolean') throw new EngineError('BAD_CONFIG', `config.json: "${key}" must be true or false (got ${JSON.stringify(raw[key])}).`);
    return v;
  };
  const refuse = (key: string, why: string): never => {
    throw new EngineError(
      'BAD_CONFIG',
      `config.json: "${key}": ${JSON.stringify(raw[key])} is not supported: ${why}.`,
      'Circuit Trace runs decoder-only GPT-Neo models whose config changes nothing it does not implement.',
    );
  };

  const nLayers = int('num_layers', 24);
  const nHeads = int('num_heads', 16);
  const dModel = int('hidden_size', 2048);
  if (dModel % nHeads !== 0) throw new EngineError('BAD_CONFIG', `config.json: hidden_size (${dModel}) is not divisible by num_heads (${nHeads}).`);
  const dMlp = raw['intermediate_size'] === null || raw['intermediate_size'] === undefined ? 4 * dModel : int('intermediate_size', 0);
  const act = value('activation_function', 'gelu_new');
  const actFn =
    (typeof act === 'string' && Object.hasOwn(HF_ACTIVATIONS, act) ? HF_ACTIVATIONS[act] : undefined) ??
    refuse('activation_function', `the MLP runs ${Object.keys(HF_ACTIVATIONS).join(', ')}`);
  const eps = value('layer_norm_epsilon', 1e-5);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) {
    throw new EngineError('BAD_CONFIG', `config.json: "layer_norm_epsilon" must be a positive number (got ${JSON.stringify(raw['layer_norm_epsilon'])}).`);
  }
  const window = int('window_size', 256);
  const layerTypes = expandAttentionTypes(value('attention_types', [[['global', 'local'], 12]]), (why) => refuse('attention_types', why));
  if (layerTypes.length !== nLayers) refuse('attention_types', `it names ${layerTypes.length} layers, and num_layers is ${nLayers}`);
  // HF writes the expansion beside attention_types; one that disagrees leaves the layers' types open.
  const written = raw['attention_layers'];
  if (written !== undefined && JSON.stringify(written) !== JSON.stringify(layerTypes)) {
    refuse('attention_layers', `it disagrees with attention_types, which expand to ${JSON.stringify(layerTypes)}`);
  }
  if (flag('add_cross_attention', false))
    refuse('add_cross_attention', "its blocks also attend to an encoder's states, which a decoder-only forward does not have");
  const pruned = raw['pruned_heads'];
  if (pruned !== undefined && pruned !== null && (typeof pruned !== 'object' || Object.keys(pruned).length > 0)) {
    refuse('pruned_heads', 'its layers have fewer heads than num_heads');
  }
  const bos = value('bos_token_id', 50256);
  const config: ModelConfig = {
    modelType: 'gpt_neo',
    nLayers,
    nHeads,
    dModel,
    dHead: dModel / nHeads,
    dMlp,
    dVocab: int('vocab_size', 50257),
    nCtx: int('max_position_embeddings', 2048),
    eps,
    actFn,
    bosTokenId: typeof bos === 'number' ? bos : null,
    // HF GPTNeoSelfAttention multiplies q by k and masks; it never divides by sqrt(d_head).
    useAttnScale: false,
    scaleAttnByInverseLayerIdx: false,
    attentionWindow: layerTypes.map((type) => (type === 'local' ? window : null)),
  };
  return { config, tied: flag('tie_word_embeddings', true) };
}

/**
 * HF's expand_attention_types_params: [[types, n], ...] is each `types` list repeated n times, in
 * order, e.g. [[["global", "local"], 2]] -> global, local, global, local.
 */
function expandAttentionTypes(spec: unknown, refuse: (why: string) => never): Array<(typeof ATTENTION_TYPES)[number]> {
  if (!Array.isArray(spec)) return refuse('it must be a list of [[attention types], repeats]');
  const layers: Array<(typeof ATTENTION_TYPES)[number]> = [];
  for (const item of spec as unknown[]) {
    if (!Array.isArray(item) || item.length !== 2 || !Array.isArray(item[0]) || !Number.isInteger(item[1]) || (item[1] as number) < 0) {
      return refuse(`${JSON.stringify(item)} is not [[attention types], repeats]`);
    }
    const types = item[0] as unknown[];
    for (const type of types) {
      if (!ATTENTION_TYPES.includes(type as never)) return refuse(`attention type ${JSON.stringify(type)} is not one of ${ATTENTION_TYPES.join(', ')}`);
    }
    for (let r = 0; r < (item[1] as number); r++) layers.push(...(types as Array<(typeof ATTENTION_TYPES)[number]>));
  }
  return layers;
}
