/**
 * The architecture-independent description of a model's shape, named as TransformerLens names
 * its HookedTransformerConfig fields. Adapters produce it from a checkpoint's config.json.
 */
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
  /** Activation function of the MLP; GPT-2 uses the tanh approximation ("gelu_new"). */
  actFn: 'gelu_new' | 'gelu' | 'relu';
  /** Token id prepended as BOS when asked for (GPT-2: <|endoftext|> = 50256). */
  bosTokenId: number | null;
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
}

/** Layer `layer`'s attention window (see ModelConfig.attentionWindow), or null when it is global. */
export function attentionWindowOf(config: Pick<ModelConfig, 'attentionWindow'>, layer: number): number | null {
  return config.attentionWindow?.[layer] ?? null;
}

/**
 * The factor layer `layer`'s attention scores q . k are multiplied by before the softmax:
 * 1 / sqrt(d_head) unless `useAttnScale` is false, and then 1 / (layer + 1) more when
 * `scaleAttnByInverseLayerIdx` is set (HF GPT2Attention applies the two divisions independently;
 * its docstring says sqrt(hidden_size), but its code divides by sqrt(head_dim)).
 */
export function attentionScoreScale(config: Pick<ModelConfig, 'dHead' | 'useAttnScale' | 'scaleAttnByInverseLayerIdx'>, layer: number): number {
  const headScale = config.useAttnScale === false ? 1 : 1 / Math.sqrt(config.dHead);
  return config.scaleAttnByInverseLayerIdx === true ? headScale / (layer + 1) : headScale;
}
