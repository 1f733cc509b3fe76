/**
 * GPT-2 adapter: Hugging Face `GPT2LMHeadModel` checkpoints (openai-community/gpt2*, distilgpt2, ...).
 *
 * HF GPT-2 uses Conv1D layers whose weights are [in, out], so `x @ W + b`. The fused attention
 * projection `attn.c_attn.weight [d_model, 3 d_model]` holds Q, K, V side by side, and within each,
 * head h owns columns h*d_head .. (h+1)*d_head - 1. Checkpoints may carry a `transformer.` prefix,
 * causal-mask buffers (`h.L.attn.bias`, `h.L.attn.masked_bias`) that we ignore, and usually no
 * `lm_head.weight` because the unembedding is tied to `wte`.
 */
import { EngineError } from '../../errors.js';
import { tensor, type Tensor } from '../../tensor.js';
import type { ModelConfig } from '../config.js';
import type { BlockWeights, CanonicalModel } from '../weights.js';
import type { ArchitectureAdapter } from './adapter.js';

export const gpt2Adapter: ArchitectureAdapter = {
  modelTypes: ['gpt2'],
  adapt(raw, source) {
    const config = gpt2Config(raw);
    const names = new Set(source.names());
    const prefix = names.has('transformer.wte.weight') ? 'transformer.' : '';
    const get = (name: string, shape: readonly number[]): Tensor => {
      const full = prefix + name;
      if (!names.has(full) && !names.has(name)) {
        throw new EngineError(
          'MISSING_TENSOR',
          `The checkpoint has no tensor "${full}".`,
          'The model.safetensors file is incomplete or not a GPT-2 checkpoint.',
        );
      }
      const t = source.get(names.has(full) ? full : name);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new EngineError(
          'WRONG_SHAPE',
          `Tensor "${full}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] from config.json.`,
          'config.json and model.safetensors do not belong together.',
        );
      }
      return t;
    };
    const { dModel: D, nHeads: H, dHead: Dh, dMlp: M, dVocab: V, nCtx } = config;

    const W_E = get('wte.weight', [V, D]);
    const W_pos = get('wpe.weight', [nCtx, D]);
    const blocks: BlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) {
      const p = `h.${l}.`;
      const cAttnW = get(`${p}attn.c_attn.weight`, [D, 3 * D]); // [d_model, 3 d_model]
      const cAttnB = get(`${p}attn.c_attn.bias`, [3 * D]);
      // W[h, i, j] = c_attn[i, which*D + h*Dh + j]   ->   [head, d_model, d_head]. Computed when first
      // read: the engine runs c_attn as it is (W_QKV) and keeps only W_V, so W_Q and W_K are never
      // built, and loading allocates (and frees) nothing beside the checkpoint's own tensors.
      const splitW = (which: 0 | 1 | 2): (() => Tensor) => {
        let W: Tensor | undefined;
        return () => {
          if (W) return W;
          const data = new Float32Array(H * D * Dh);
          const src = cAttnW.data;
          for (let h = 0; h < H; h++) {
            for (let i = 0; i < D; i++) {
              const from = i * 3 * D + which * D + h * Dh;
              data.set(src.subarray(from, from + Dh), (h * D + i) * Dh);
            }
          }
          return (W = tensor(data, [H, D, Dh]));
        };
      };
      const splitB = (which: 0 | 1 | 2): Tensor => tensor(cAttnB.data.slice(which * D, (which + 1) * D), [H, Dh]); // [head, d_head]
      const q = splitW(0),
        k = splitW(1),
        v = splitW(2);
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
        b_Q: splitB(0),
        b_K: splitB(1),
        b_V: splitB(2),
        // c_proj rows are indexed by h*Dh + j, so [d_model, d_model] is [head, d_head, d_model] as is.
        W_O: tensor(get(`${p}attn.c_proj.weight`, [D, D]).data, [H, Dh, D]),
        b_O: get(`${p}attn.c_proj.bias`, [D]),
        ln2: { w: get(`${p}ln_2.weight`, [D]), b: get(`${p}ln_2.bias`, [D]) },
        W_in: get(`${p}mlp.c_fc.weight`, [D, M]),
        b_in: get(`${p}mlp.c_fc.bias`, [M]),
        W_out: get(`${p}mlp.c_proj.weight`, [M, D]),
        b_out: get(`${p}mlp.c_proj.bias`, [D]),
      };
      // Not enumerable: a copy with other W_Q/W_K/W_V ({ ...block, W_Q }) must not carry it.
      Object.defineProperty(block, 'W_QKV', { value: cAttnW, enumerable: false });
      blocks.push(block);
    }
    const hasLmHead = names.has('lm_head.weight');
    // An untied model's unembedding is its own tensor: HF would start it from random values.
    if (raw['tie_word_embeddings'] === false && !hasLmHead) {
      throw new EngineError(
        'BAD_CONFIG',
        'config.json: "tie_word_embeddings": false, but the checkpoint has no lm_head.weight.',
        'An untied GPT-2 needs its unembedding; the model.safetensors file is incomplete.',
      );
    }
    const W_U_T = hasLmHead ? source.get('lm_head.weight') : W_E;
    if (W_U_T.shape[0] !== V || W_U_T.shape[1] !== D) {
      throw new EngineError('WRONG_SHAPE', `lm_head.weight has shape [${W_U_T.shape.join(', ')}], expected [${V}, ${D}].`);
    }
    const model: CanonicalModel = {
      config,
      weights: {
        W_E,
        W_pos,
        blocks,
        ln_final: { w: get('ln_f.weight', [D]), b: get('ln_f.bias', [D]) },
        W_U_T,
        b_U: tensor(new Float32Array(V), [V]),
      },
    };
    return model;
  },
};

/** HF ACT2FN names the graph implements. gelu_pytorch_tanh is torch's tanh approximation: gelu_new's formula. */
const HF_ACTIVATIONS: Record<string, ModelConfig['actFn']> = { gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', gelu: 'gelu', relu: 'relu' };

/**
 * Reads GPT2Config (HF configuration_gpt2.py) into the canonical config. Every field that changes
 * the forward's maths is either honoured or refused with BAD_CONFIG naming it:
 *   honoured: n_layer, n_head, n_embd, n_inner (null: 4 n_embd), vocab_size, n_positions (n_ctx is
 *     its legacy alias), layer_norm_epsilon, activation_function (the GELUs and ReLU the graph has),
 *     scale_attn_weights, scale_attn_by_inverse_layer_idx, tie_word_embeddings (see adapt);
 *   accepted, because in fp32 it changes only rounding: reorder_and_upcast_attn. HF's reordered
 *     path folds the same scale into the score product (baddbmm's alpha) and runs it in fp32 so
 *     that fp16 training does not overflow; the engine computes in fp32 whatever the checkpoint's
 *     dtype, so it is the same function, with a different rounding order, as any other kernel has;
 *   refused: add_cross_attention (blocks that attend to an encoder we do not have) and
 *     pruned_heads (layers with fewer heads than n_head);
 *   irrelevant to an inference forward: the *_pdrop dropouts, summary_* (the double-heads
 *     model's classifier), initializer_range, use_cache, eos_token_id, attention implementations.
 */
function gpt2Config(raw: Record<string, unknown>): ModelConfig {
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new EngineError('BAD_CONFIG', `config.json: "${key}" must be a positive integer (got ${JSON.stringify(raw[key])}).`);
    }
    return v;
  };
  /** A boolean flag with HF's default when absent; anything else but true or false is refused (HF reads null as false). */
  const flag = (key: string, fallback: boolean): boolean => {
    const v = raw[key] === undefined ? fallback : raw[key];
    if (typeof v !== 'boolean') throw new EngineError('BAD_CONFIG', `config.json: "${key}" must be true or false (got ${JSON.stringify(raw[key])}).`);
    return v;
  };
  const refuse = (key: string, why: string): never => {
    throw new EngineError(
      'BAD_CONFIG',
      `config.json: "${key}": ${JSON.stringify(raw[key])} is not supported: ${why}.`,
      'Circuit Trace runs decoder-only GPT-2 models whose config changes nothing it does not implement.',
    );
  };

  const nLayers = int('n_layer');
  const nHeads = int('n_head');
  const dModel = int('n_embd');
  if (dModel % nHeads !== 0) throw new EngineError('BAD_CONFIG', `config.json: n_embd (${dModel}) is not divisible by n_head (${nHeads}).`);
  // HF: n_inner null or absent means 4 * n_embd.
  const dMlp = raw['n_inner'] === null || raw['n_inner'] === undefined ? 4 * dModel : int('n_inner');
  const act = raw['activation_function'] ?? 'gelu_new';
  const actFn =
    (typeof act === 'string' && Object.hasOwn(HF_ACTIVATIONS, act) ? HF_ACTIVATIONS[act] : undefined) ??
    refuse('activation_function', `the MLP runs ${Object.keys(HF_ACTIVATIONS).join(', ')}`);
  const eps = raw['layer_norm_epsilon'] ?? 1e-5;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) {
    throw new EngineError('BAD_CONFIG', `config.json: "layer_norm_epsilon" must be a positive number (got ${JSON.stringify(raw['layer_norm_epsilon'])}).`);
  }
  if (flag('add_cross_attention', false))
    refuse('add_cross_attention', "its blocks also attend to an encoder's states, which a decoder-only forward does not have");
  const pruned = raw['pruned_heads'];
  if (pruned !== undefined && pruned !== null && (typeof pruned !== 'object' || Object.keys(pruned).length > 0)) {
    refuse('pruned_heads', 'its layers have fewer heads than n_head');
  }
  flag('reorder_and_upcast_attn', false); // checked, then ignored: exact in fp32 (see above)
  flag('tie_word_embeddings', true); // honoured in adapt()
  const bos = raw['bos_token_id'];
  return {
    modelType: 'gpt2',
    nLayers,
    nHeads,
    dModel,
    dHead: dModel / nHeads,
    dMlp,
    dVocab: int('vocab_size'),
    nCtx: int('n_positions', typeof raw['n_ctx'] === 'number' ? raw['n_ctx'] : undefined),
    eps,
    actFn,
    bosTokenId: typeof bos === 'number' ? bos : null,
    useAttnScale: flag('scale_attn_weights', true),
    scaleAttnByInverseLayerIdx: flag('scale_attn_by_inverse_layer_idx', false),
  };
}
