/**
 * Reads a Llama-family config.json (HF LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config) into
 * the canonical config. Every field that changes the forward's maths is honoured or refused with
 * BAD_CONFIG naming it:
 *   honoured: hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim,
 *     intermediate_size, vocab_size, max_position_embeddings, rms_norm_eps, rope_theta,
 *     rope_scaling (none, "default" or "llama3"), attention_bias (Llama, Qwen3: q, k, v and o;
 *     Qwen2's q, k, v always have biases), sliding_window (Mistral: every layer; Qwen2/Qwen3 with
 *     use_sliding_window: layers from max_window_layers on), layer_types, tie_word_embeddings;
 *   refused: hidden_act other than silu, mlp_bias, any other rope_scaling type,
 *     partial_rotary_factor other than 1;
 *   irrelevant to an inference forward: dropouts, initializer_range, use_cache, pretraining_tp
 *     (HF's forward no longer reads it), eos/pad token ids, torch_dtype.
 */
import { EngineError } from '../../errors.js';
import type { Llama3RopeScaling, ModelConfig } from '../config.js';

export const LLAMA_FAMILY_TYPES = ['llama', 'mistral', 'qwen2', 'qwen3'] as const;
export type LlamaFamilyType = (typeof LLAMA_FAMILY_TYPES)[number];

/** HF defaults where the four configuration classes differ. */
const DEFAULTS: Record<LlamaFamilyType, { eps: number; theta: number; tied: boolean }> = {
  llama: { eps: 1e-6, theta: 10000, tied: false },
  mistral: { eps: 1e-6, theta: 10000, tied: false },
  qwen2: { eps: 1e-6, theta: 10000, tied: false },
  qwen3: { eps: 1e-6, theta: 10000, tied: false },
};

export function llamaFamilyConfig(raw: Record<string, unknown>): ModelConfig {
  const modelType = raw['model_type'] as LlamaFamilyType;
  const defaults = DEFAULTS[modelType];
  const bad = (key: string, what: string): never => {
    throw new EngineError('BAD_CONFIG', `config.json: "${key}" ${what} (got ${JSON.stringify(raw[key])}).`);
  };
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) bad(key, 'must be a positive integer');
    return v as number;
  };
  const positive = (key: string, fallback: number, from: Record<string, unknown> = raw): number => {
    const v = from[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(key, 'must be a positive number');
    return v as number;
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'boolean') bad(key, 'must be true or false');
    return v as boolean;
  };
  const refuse = (key: string, why: string): never => {
    throw new EngineError(
      'BAD_CONFIG',
      `config.json: "${key}": ${JSON.stringify(raw[key])} is not supported: ${why}.`,
      'Circuit Trace runs Llama-family models whose config changes nothing it does not implement.',
    );
  };

  const nLayers = int('num_hidden_layers');
  const dModel = int('hidden_size');
  const nHeads = int('num_attention_heads');
  const nKvHeads = int('num_key_value_heads', nHeads);
  if (nHeads % nKvHeads !== 0) bad('num_key_value_heads', `must divide num_attention_heads (${nHeads})`);
  // HF: head_dim absent or null means hidden_size / num_attention_heads (Qwen3 sets its own).
  if ((raw['head_dim'] === undefined || raw['head_dim'] === null) && dModel % nHeads !== 0)
    bad('hidden_size', `is not divisible by num_attention_heads (${nHeads})`);
  const dHead = raw['head_dim'] === undefined || raw['head_dim'] === null ? dModel / nHeads : int('head_dim');
  if (dHead % 2 !== 0) bad('head_dim', 'must be even for rotary embeddings');
  const act = raw['hidden_act'] ?? 'silu';
  if (act !== 'silu') refuse('hidden_act', 'the gated MLP runs silu');
  if (flag('mlp_bias', false)) refuse('mlp_bias', 'the MLP projections have no biases here');
  const partial = raw['partial_rotary_factor'];
  if (partial !== undefined && partial !== null && partial !== 1) refuse('partial_rotary_factor', 'RoPE rotates every dimension of a head');

  // Rotary: rope_theta and rope_scaling, or transformers 5's rope_parameters holding both.
  const params = typeof raw['rope_parameters'] === 'object' && raw['rope_parameters'] !== null ? (raw['rope_parameters'] as Record<string, unknown>) : null;
  const theta = positive('rope_theta', params && typeof params['rope_theta'] === 'number' ? params['rope_theta'] : defaults.theta);
  const scalingKey = params ? 'rope_parameters' : 'rope_scaling';
  const llama3 = ropeScaling(raw[scalingKey], scalingKey);

  const attentionBias = flag('attention_bias', false);
  const qkvBias = modelType === 'qwen2' ? true : attentionBias;
  const oBias = modelType === 'qwen2' || modelType === 'mistral' ? false : attentionBias;

  const attentionWindow = slidingWindows(raw, modelType, nLayers, int);
  const bos = raw['bos_token_id'];
  flag('tie_word_embeddings', defaults.tied); // honoured by the adapter
  return {
    modelType,
    nLayers,
    dModel,
    nHeads,
    dHead,
    dMlp: int('intermediate_size'),
    dVocab: int('vocab_size'),
    nCtx: int('max_position_embeddings'),
    eps: positive('rms_norm_eps', defaults.eps),
    actFn: 'silu',
    bosTokenId: typeof bos === 'number' ? bos : null,
    ...(attentionWindow ? { attentionWindow } : {}),
    norm: 'rmsnorm',
    positional: 'rotary',
    rotary: { theta, llama3 },
    nKvHeads,
    gatedMlp: true,
    qkvBias,
    oBias,
    qkNorm: modelType === 'qwen3',
  };
}

/** rope_scaling: null, absent or type "default" is none; "llama3" is read; any other type is refused by name. */
function ropeScaling(value: unknown, key: string): Llama3RopeScaling | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object') throw new EngineError('BAD_CONFIG', `config.json: "${key}" must be an object or null.`);
  const s = value as Record<string, unknown>;
  const type = s['rope_type'] ?? s['type'] ?? 'default';
  if (type === 'default') return null;
  if (type !== 'llama3') {
    throw new EngineError(
      'BAD_CONFIG',
      `config.json: "${key}" has rope type ${JSON.stringify(type)}, which Circuit Trace does not support.`,
      'Supported rope scaling: none ("default") and "llama3".',
    );
  }
  const num = (name: string): number => {
    const v = s[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new EngineError('BAD_CONFIG', `config.json: "${key}.${name}" must be a positive number for llama3 rope scaling (got ${JSON.stringify(v)}).`);
    }
    return v;
  };
  const scaling = {
    factor: num('factor'),
    lowFreqFactor: num('low_freq_factor'),
    highFreqFactor: num('high_freq_factor'),
    originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    throw new EngineError('BAD_CONFIG', `config.json: "${key}.high_freq_factor" must exceed low_freq_factor for llama3 rope scaling.`);
  }
  return scaling;
}

/**
 * Per layer, the sliding window or null. Mistral: `sliding_window` (null: none) on every layer.
 * Qwen2/Qwen3: only with `use_sliding_window`, on layers from `max_window_layers` on. An explicit
 * `layer_types` list ("sliding_attention" / "full_attention") decides per layer, as in HF.
 */
function slidingWindows(
  raw: Record<string, unknown>,
  modelType: LlamaFamilyType,
  nLayers: number,
  int: (key: string, fallback?: number) => number,
): Array<number | null> | null {
  const qwen = modelType === 'qwen2' || modelType === 'qwen3';
  if (modelType === 'llama') return null;
  if (qwen && raw['use_sliding_window'] !== true) return null;
  if (raw['sliding_window'] === null || raw['sliding_window'] === undefined) return null;
  const window = int('sliding_window');
  const types = raw['layer_types'];
  if (Array.isArray(types)) {
    if (types.length !== nLayers) throw new EngineError('BAD_CONFIG', `config.json: "layer_types" has ${types.length} entries for ${nLayers} layers.`);
    return types.map((t, l) => {
      if (t === 'sliding_attention') return window;
      if (t === 'full_attention') return null;
      throw new EngineError('BAD_CONFIG', `config.json: "layer_types"[${l}] is ${JSON.stringify(t)}, not "sliding_attention" or "full_attention".`);
    });
  }
  const from = qwen ? int('max_window_layers', 28) : 0; // HF's default for Qwen2 and Qwen3
  return Array.from({ length: nLayers }, (_, l) => (l >= from ? window : null));
}
