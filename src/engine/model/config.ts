/**
 * The architecture-independent description of a model's shape, named as TransformerLens names
 * its HookedTransformerConfig fields. Adapters produce it from a checkpoint's config.json.
 */
import type { HookArchitecture } from '../hooks/registry.js';

export interface ModelConfig {
  /** The Hugging Face `model_type` it came from, e.g. "gpt2". */
  modelType: string;
  nLayers: number;
  dModel: number;
  nHeads: number;
  dHead: number;
  dMlp: number;
  dVocab: number;
  /** Maximum context length (positions in W_pos). */
  nCtx: number;
  /** LayerNorm epsilon. */
  eps: number;
  /** Activation function of the MLP; GPT-2 uses the tanh approximation ("gelu_new"), Llama-family models silu (of the gate). */
  actFn: 'gelu_new' | 'gelu' | 'relu' | 'silu';
  /** Token id prepended as BOS when asked for (GPT-2: <|endoftext|> = 50256). */
  bosTokenId: number | null;
  /**
   * Whether a text prompt gets the BOS when the request does not say (TransformerLens's
   * default_prepend_bos; tokenizer/bos-convention.ts). Absent means true, as for GPT-2; false for
   * Qwen, Pythia, Phi.
   */
  defaultPrependBos?: boolean;
  /**
   * Whether attention scores are divided by sqrt(d_head) (TransformerLens `use_attn_scale`, HF GPT-2
   * `scale_attn_weights`). Absent means true, as in every released GPT-2.
   */
  useAttnScale?: boolean;
  /**
   * Whether layer L's attention scores are also divided by L + 1, counting layers from 0 (HF GPT-2
   * and TransformerLens `scale_attn_by_inverse_layer_idx`; Stanford CRFM's GPT-2s set it). Absent
   * means false.
   */
  scaleAttnByInverseLayerIdx?: boolean;
  /**
   * Per layer, how many of the latest keys a query attends to (GPT-Neo's local layers: key j is
   * visible from query i when i - window < j <= i), or null for ordinary causal attention over every
   * earlier key. Absent means every layer is global, as in GPT-2.
   */
  attentionWindow?: readonly (number | null)[];

  // Llama-family fields (model/adapters/llama.ts). Absent means GPT-2's choice, so a GPT-2 config
  // and the graphs built from it are exactly as before.

  /** `rmsnorm`: x / sqrt(mean(x^2) + eps) * w, no centring and no bias (Llama). Absent: LayerNorm. */
  norm?: 'layernorm' | 'rmsnorm';
  /** `rotary`: RoPE on queries and keys, no W_pos (Llama). Absent: learned position embeddings. */
  positional?: 'learned' | 'rotary';
  rotary?: RotaryConfig;
  /** Key/value heads of grouped-query attention (query head h reads kv head floor(h / (nHeads / nKvHeads))). Absent: nHeads. */
  nKvHeads?: number;
  /** Gated MLP: W_out(act(x W_gate) * (x W_in)) (SwiGLU). Absent: W_out(act(x W_in + b_in)) + b_out. */
  gatedMlp?: boolean;
  /** Whether Q, K and V have biases (Qwen2; Llama's and Qwen3's attention_bias); without them b_Q, b_K, b_V are zeros the graph skips. */
  qkvBias?: boolean;
  /** Whether the attention output has a bias b_O (Llama's and Qwen3's attention_bias); without it b_O is zeros the graph skips. */
  oBias?: boolean;
  /** Per-head RMSNorm of queries and keys before RoPE (Qwen3's q_norm, k_norm). */
  qkNorm?: boolean;

  // GPT-NeoX fields (model/adapters/gpt-neox.ts; Pythia). Absent means GPT-2's and Llama's choice.

  /** Attention and MLP both read resid_pre: resid_post = resid_pre + attn_out + mlp_out, no resid_mid (NeoX's use_parallel_residual). */
  parallelResidual?: boolean;
  /** How many leading dimensions of each head RoPE rotates (NeoX: int(d_head * rotary_pct)); the rest pass through. Absent: d_head. */
  rotaryDims?: number;

  // Gemma fields (model/adapters/gemma.ts; Gemma 2, Gemma 3). Absent means the Llama family's choice.

  /**
   * RMSNorm of the attention output and of the MLP output before each joins the residual stream
   * (HF post_attention_layernorm, post_feedforward_layernorm; TransformerLens ln1_post, ln2_post).
   */
  postNorms?: boolean;
  /** Attention scores are multiplied by queryPreAttnScalar^-0.5 instead of d_head^-0.5 (HF query_pre_attn_scalar). */
  queryPreAttnScalar?: number;
  /** Attention logit soft-capping: scores become cap * tanh(scores / cap) before the mask and softmax. Absent or null: none. */
  attnSoftcap?: number | null;
  /** Final logit soft-capping: logits become cap * tanh(logits / cap). Absent or null: none. */
  finalSoftcap?: number | null;
  /** RoPE of the layers with a sliding window, when it differs from `rotary` (Gemma 3's rope_local_base_freq). */
  localRotary?: RotaryConfig;
}

/** Rotary position embedding (HF rotate_half convention: dimension j pairs with j + d_head / 2). */
export interface RotaryConfig {
  /** `rope_theta`: inverse frequencies theta^(-2j / d_head). */
  theta: number;
  /** HF `rope_scaling` of type `llama3`, or null for none. */
  llama3: Llama3RopeScaling | null;
  /** HF `rope_scaling` of type `linear`: the inverse frequencies divided by this factor. Absent: none. */
  linearFactor?: number;
}

/** HF `rope_scaling: { rope_type: "llama3", ... }` (Llama 3.1): low frequencies divided by `factor`, a smooth band between. */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/**
 * Which graph family runs a model, and so which hook points it has (hooks/registry.ts): LayerNorm
 * with rotary positions is GPT-NeoX's, split by whether the residual is parallel (no resid_mid).
 */
export function graphFamily(config: Pick<ModelConfig, 'norm' | 'positional' | 'parallelResidual' | 'postNorms'>): HookArchitecture {
  if (config.norm === 'rmsnorm') return config.postNorms === true ? 'gemma' : 'llama';
  if (config.positional === 'rotary') return config.parallelResidual === true ? 'neox' : 'neox_sequential';
  return 'gpt2';
}

/** Layer `layer`'s attention window (see ModelConfig.attentionWindow), or null when it is global. */
export function attentionWindowOf(config: Pick<ModelConfig, 'attentionWindow'>, layer: number): number | null {
  return config.attentionWindow?.[layer] ?? null;
}

/**
 * The factor layer `layer`'s attention scores q . k are multiplied by before the softmax:
 * 1 / sqrt(d_head) (Gemma: 1 / sqrt(query_pre_attn_scalar)) unless `useAttnScale` is false, and
 * then 1 / (layer + 1) more when `scaleAttnByInverseLayerIdx` is set (HF GPT2Attention applies the
 * two divisions independently; its docstring says sqrt(hidden_size), but its code divides by
 * sqrt(head_dim)).
 */
export function attentionScoreScale(
  config: Pick<ModelConfig, 'dHead' | 'useAttnScale' | 'scaleAttnByInverseLayerIdx' | 'queryPreAttnScalar'>,
  layer: number,
): number {
  const headScale = config.useAttnScale === false ? 1 : 1 / Math.sqrt(config.queryPreAttnScalar ?? config.dHead);
  return config.scaleAttnByInverseLayerIdx === true ? headScale / (layer + 1) : headScale;
}
