/**
 * Reads a Gemma config.json (HF Gemma2Config, Gemma3TextConfig; the multimodal Gemma3Config by its
 * text_config, the language model alone) into the canonical config, absent keys taking the HF
 * class's defaults. Every field that changes the forward's maths is honoured or refused with
 * BAD_CONFIG naming it:
 *   honoured: hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim,
 *     intermediate_size, vocab_size, max_position_embeddings, rms_norm_eps, rope_theta,
 *     query_pre_attn_scalar, attn_logit_softcapping, final_logit_softcapping (null: none),
 *     sliding_window with layer_types (else Gemma 2: even layers local, HF's `not layer_idx % 2`;
 *     Gemma 3: `sliding_window_pattern`, layer i global when (i + 1) % pattern == 0),
 *     hidden_activation (gelu_pytorch_tanh), tie_word_embeddings; Gemma 3 also rope_local_base_freq
 *     (RoPE of the sliding layers) and rope_scaling ("default" or "linear", global layers only), or
 *     transformers 5's rope_parameters per layer type;
 *   refused: attention_bias, other activations, other rope types, use_bidirectional_attention;
 *   irrelevant to an inference forward: dropouts, initializer_range, use_cache,
 *     cache_implementation, hidden_act (HF's Gemma 2/3 MLP reads hidden_activation), token ids
 *     other than bos, torch_dtype.
 */
import { EngineError } from '../../errors.js';
import type { ModelConfig, RotaryConfig } from '../config.js';

/** The text models' config classes (Gemma2Config, Gemma3TextConfig). */
export const GEMMA_TYPES = ['gemma2', 'gemma3_text'] as const;
export type GemmaType = (typeof GEMMA_TYPES)[number];
/** The model types the adapter loads: the text models, and the multimodal `gemma3` (its language model only). */
export const GEMMA_MODEL_TYPES = [...GEMMA_TYPES, 'gemma3'] as const;

interface GemmaDefaults {
  theta: number;
  localTheta: number | null;
  attnSoftcap: number | null;
  finalSoftcap: number | null;
  pattern: number;
  /** Shape keys' defaults, by config.json key. */
  dims: Record<string, number>;
}

/** HF's defaults of the two configuration classes. */
const DEFAULTS: Record<GemmaType, GemmaDefaults> = {
  gemma2: {
    theta: 10000,
    localTheta: null,
    attnSoftcap: 50,
    finalSoftcap: 30,
    pattern: 2,
    dims: { ...sharedDims(), vocab_size: 256000, max_position_embeddings: 8192 },
  },
  gemma3_text: {
    theta: 1_000_000,
    localTheta: 10000,
    attnSoftcap: null,
    finalSoftcap: null,
    pattern: 6,
    dims: { ...sharedDims(), vocab_size: 262208, max_position_embeddings: 131072 },
  },
};

function sharedDims(): Record<string, number> {
  return {
    hidden_size: 2304,
    intermediate_size: 9216,
    num_hidden_layers: 26,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    head_dim: 256,
    query_pre_attn_scalar: 256,
    sliding_window: 4096,
  };
}

/**
 * A Gemma config.json as the canonical config. The multimodal Gemma 3 (`gemma3`,
 * Gemma3ForConditionalGeneration) is read through its `text_config` (a Gemma3TextConfig whose
 * absent keys take that class's defaults); its model type stays `gemma3`.
 */
export function gemmaConfig(raw: Record<string, unknown>): ModelConfig {
  if (raw['model_type'] !== 'gemma3') return gemmaTextConfig(raw);
  const text = raw['text_config'];
  if (typeof text !== 'object' || text === null || Array.isArray(text)) {
    throw new EngineError('BAD_CONFIG', 'config.json: a multimodal Gemma 3 (model_type "gemma3") needs a "text_config" object describing its language model.');
  }
  const textConfig = text as Record<string, unknown>;
  if (textConfig['model_type'] !== undefined && textConfig['model_type'] !== 'gemma3_text') {
    throw new EngineError('BAD_CONFIG', `config.json: "text_config.model_type" is ${JSON.stringify(textConfig['model_type'])}, not "gemma3_text".`);
  }
  // HF's Gemma3Config keeps tie_word_embeddings at the top (default true) as well as in text_config.
  const tied = textConfig['tie_word_embeddings'] ?? raw['tie_word_embeddings'];
  return {
    ...gemmaTextConfig({ ...textConfig, model_type: 'gemma3_text', ...(tied !== undefined ? { tie_word_embeddings: tied } : {}) }),
    modelType: 'gemma3',
  };
}

/** Whether a Gemma config ties the unembedding to the embedding (HF's default: yes); for `gemma3`, as gemmaConfig reads it. */
export function gemmaTiedEmbeddings(raw: Record<string, unknown>): boolean {
  const text = raw['model_type'] === 'gemma3' ? ((raw['text_config'] ?? {}) as Record<string, unknown>) : raw;
  return (text['tie_word_embeddings'] ?? raw['tie_word_embeddings'] ?? true) !== false;
}

function gemmaTextConfig(raw: Record<string, unknown>): ModelConfig {
  const modelType = raw['model_type'] as GemmaType;
  const defaults = DEFAULTS[modelType];
  const bad = (key: string, what: string): never => {
    throw new EngineError('BAD_CONFIG', `config.json: "${key}" ${what} (got ${JSON.stringify(raw[key])}).`);
  };
  const int = (key: string, fallback: number | undefined = defaults.dims[key]): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) bad(key, 'must be a positive integer');
    return v as number;
  };
  const positive = (key: string, fallback: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(key, 'must be a positive number');
    return v as number;
  };
  /** A soft-cap: a positive number, or null / absent-with-null-default for none. */
  const softcap = (key: string, fallback: number | null): number | null => {
    const v = key in raw ? raw[key] : fallback;
    if (v === null || v === undefined) return null;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(key, 'must be a positive number or null');
    return v as number;
  };
  const refuse = (key: string, why: string): never => {
    throw new EngineError(
      'BAD_CONFIG',
      `config.json: "${key}": ${JSON.stringify(raw[key])} is not supported: ${why}.`,
      'Circuit Trace runs Gemma models whose config changes nothing it does not implement.',
    );
  };

  const nLayers = int('num_hidden_layers');
  const dModel = int('hidden_size');
  const nHeads = int('num_attention_heads');
  const nKvHeads = int('num_key_value_heads');
  if (nHeads % nKvHeads !== 0) bad('num_key_value_heads', `must divide num_attention_heads (${nHeads})`);
  const dHead = int('head_dim');
  if (dHead % 2 !== 0) bad('head_dim', 'must be even for rotary embeddings');
  if ((raw['hidden_activation'] ?? 'gelu_pytorch_tanh') !== 'gelu_pytorch_tanh')
    refuse('hidden_activation', 'the gated MLP runs gelu_pytorch_tanh (the tanh approximation of GELU)');
  if (raw['attention_bias'] === true) refuse('attention_bias', 'the attention projections have no biases here');
  if (raw['use_bidirectional_attention'] === true) refuse('use_bidirectional_attention', 'attention is causal here');

  const { global, local } = rotaries(raw, modelType, defaults);
  const bos = raw['bos_token_id'];
  const tied = raw['tie_word_embeddings'] ?? true;
  if (typeof tied !== 'boolean') bad('tie_word_embeddings', 'must be true or false');
  return {
    modelType,
    nLayers,
    dModel,
    nHeads,
    dHead,
    dMlp: int('intermediate_size'),
    dVocab: int('vocab_size'),
    nCtx: int('max_position_embeddings'),
    eps: positive('rms_norm_eps', 1e-6),
    actFn: 'gelu_new',
    bosTokenId: typeof bos === 'number' ? bos : null,
    attentionWindow: slidingWindows(raw, nLayers, defaults.pattern, int),
    norm: 'rmsnorm',
    positional: 'rotary',
    rotary: global,
    ...(local ? { localRotary: local } : {}),
    nKvHeads,
    gatedMlp: true,
    qkvBias: false,
    oBias: false,
    qkNorm: modelType === 'gemma3_text',
    postNorms: true,
    queryPreAttnScalar: positive('query_pre_attn_scalar', defaults.dims['query_pre_attn_scalar']!),
    attnSoftcap: softcap('attn_logit_softcapping', defaults.attnSoftcap),
    finalSoftcap: softcap('final_logit_softcapping', defaults.finalSoftcap),
  };
}

/**
 * RoPE of the global layers and (Gemma 3) of the sliding ones. Gemma 2: rope_theta everywhere.
 * Gemma 3: rope_theta with rope_scaling on global layers, rope_local_base_freq unscaled on sliding
 * ones (HF copies the config with rope_scaling "default" for them); transformers 5 writes both as
 * rope_parameters { full_attention: {...}, sliding_attention: {...} }.
 */
function rotaries(
  raw: Record<string, unknown>,
  modelType: GemmaType,
  defaults: (typeof DEFAULTS)[GemmaType],
): { global: RotaryConfig; local: RotaryConfig | null } {
  const params = raw['rope_parameters'];
  if (typeof params === 'object' && params !== null) {
    const byType = params as Record<string, unknown>;
    if ('full_attention' in byType || 'sliding_attention' in byType) {
      const global = rotary(byType['full_attention'], 'rope_parameters.full_attention', defaults.theta);
      const local = rotary(byType['sliding_attention'], 'rope_parameters.sliding_attention', defaults.localTheta ?? defaults.theta);
      return { global, local };
    }
    const one = rotary(params, 'rope_parameters', defaults.theta);
    return { global: one, local: modelType === 'gemma3_text' ? { theta: localTheta(raw, defaults), llama3: null } : null };
  }
  const scaling = raw['rope_scaling'];
  const global = rotary(
    { ...(typeof scaling === 'object' && scaling !== null ? scaling : {}), rope_theta: raw['rope_theta'] },
    'rope_scaling',
    defaults.theta,
    scaling,
  );
  if (modelType === 'gemma2') return { global, local: null };
  return { global, local: { theta: localTheta(raw, defaults), llama3: null } };
}

function localTheta(raw: Record<string, unknown>, defaults: (typeof DEFAULTS)[GemmaType]): number {
  const v = raw['rope_local_base_freq'] ?? defaults.localTheta;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new EngineError('BAD_CONFIG', `config.json: "rope_local_base_freq" must be a positive number (got ${JSON.stringify(v)}).`);
  }
  return v;
}

/** One rope setting: rope_theta, and rope type "default" (none) or "linear" (factor); other types are refused by name. */
function rotary(value: unknown, key: string, defaultTheta: number, shown: unknown = value): RotaryConfig {
  if (value !== undefined && value !== null && typeof value !== 'object')
    throw new EngineError('BAD_CONFIG', `config.json: "${key}" must be an object or null.`);
  const s = (value ?? {}) as Record<string, unknown>;
  const theta = s['rope_theta'] ?? defaultTheta;
  if (typeof theta !== 'number' || !Number.isFinite(theta) || theta <= 0) {
    throw new EngineError('BAD_CONFIG', `config.json: the rope_theta of "${key}" must be a positive number (got ${JSON.stringify(theta)}).`);
  }
  const type = s['rope_type'] ?? s['type'] ?? 'default';
  if (type === 'default') return { theta, llama3: null };
  if (type !== 'linear') {
    throw new EngineError(
      'BAD_CONFIG',
      `config.json: "${key}" has rope type ${JSON.stringify(type)} (${JSON.stringify(shown)}), which Circuit Trace does not support for Gemma.`,
      'Supported rope scaling for Gemma: none ("default") and "linear".',
    );
  }
  const factor = s['factor'];
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 0) {
    throw new EngineError('BAD_CONFIG', `config.json: "${key}.factor" must be a positive number for linear rope scaling (got ${JSON.stringify(factor)}).`);
  }
  return factor === 1 ? { theta, llama3: null } : { theta, llama3: null, linearFactor: factor };
}

/**
 * Per layer, the sliding window or null (global), as HF decides it: an explicit `layer_types`
 * ("sliding_attention" / "full_attention"), else layer i slides unless (i + 1) % pattern == 0 with
 * Gemma 2's pattern 2 (even layers slide) and Gemma 3's `sliding_window_pattern` (default 6).
 */
function slidingWindows(
  raw: Record<string, unknown>,
  nLayers: number,
  defaultPattern: number,
  int: (key: string, fallback?: number) => number,
): Array<number | null> {
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
  if (types !== undefined && types !== null) throw new EngineError('BAD_CONFIG', 'config.json: "layer_types" must be a list or null.');
  const patternKey = '_sliding_window_pattern' in raw && !('sliding_window_pattern' in raw) ? '_sliding_window_pattern' : 'sliding_window_pattern';
  const pattern = defaultPattern === 2 ? 2 : int(patternKey, defaultPattern);
  return Array.from({ length: nLayers }, (_, l) => ((l + 1) % pattern !== 0 ? window : null));
}
