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
        throw new EngineError('MISSING_TENSOR', `The checkpoint has no tensor "${full}".`, 'The model.safetensors file is incomplete or not a GPT-2 checkpoint.');
      }
      const t = source.get(names.has(full) ? full : name);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new EngineError('WRONG_SHAPE', `Tensor "${full}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] from config.json.`, 'config.json and model.safetensors do not belong together.');
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
      const q = splitW(0), k = splitW(1), v = splitW(2);
      const block: BlockWeights = {
        ln1: { w: get(`${p}ln_1.weight`, [D]), b: get(`${p}ln_1.bias`, [D]) },
        get W_Q() { return q(); },
        get W_K() { return k(); },
        get W_V() { return v(); },
        b_Q: splitB(0), b_K: splitB(1), b_V: splitB(2),
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
    const W_U_T = hasLmHead ? source.get('lm_head.weight') : W_E;
    if (W_U_T.shape[0] !== V || W_U_T.shape[1] !== D) {
      throw new EngineError('WRONG_SHAPE', `lm_head.weight has shape [${W_U_T.shape.join(', ')}], expected [${V}, ${D}].`);
    }
    const model: CanonicalModel = {
      config,
      weights: {
        W_E, W_pos, blocks,
        ln_final: { w: get('ln_f.weight', [D]), b: get('ln_f.bias', [D]) },
        W_U_T,
        b_U: tensor(new Float32Array(V), [V]),
      },
    };
    return model;
  },
};

function gpt2Config(raw: Record<string, unknown>): ModelConfig {
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new EngineError('BAD_CONFIG', `config.json: "${key}" must be a positive integer (got ${JSON.stringify(raw[key])}).`);
    }
    return v;
  };
  const nLayers = int('n_layer');
  const nHeads = int('n_head');
  const dModel = int('n_embd');
  if (dModel % nHeads !== 0) throw new EngineError('BAD_CONFIG', `config.json: n_embd (${dModel}) is not divisible by n_head (${nHeads}).`);
  const nInner = raw['n_inner'];
  const act = String(raw['activation_function'] ?? 'gelu_new');
  const actFn: ModelConfig['actFn'] = act === 'relu' ? 'relu' : act === 'gelu' ? 'gelu' : 'gelu_new';
  if (!['relu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh'].includes(act)) {
    throw new EngineError('BAD_CONFIG', `config.json: activation_function "${act}" is not supported (gelu_new, gelu, relu).`);
  }
  const eps = raw['layer_norm_epsilon'];
  const bos = raw['bos_token_id'];
  return {
    modelType: 'gpt2',
    nLayers,
    nHeads,
    dModel,
    dHead: dModel / nHeads,
    dMlp: typeof nInner === 'number' ? nInner : 4 * dModel,
    dVocab: int('vocab_size'),
    nCtx: int('n_positions', typeof raw['n_ctx'] === 'number' ? raw['n_ctx'] : undefined),
    eps: typeof eps === 'number' ? eps : 1e-5,
    actFn,
    bosTokenId: typeof bos === 'number' ? bos : null,
  };
}
