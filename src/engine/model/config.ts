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
}
