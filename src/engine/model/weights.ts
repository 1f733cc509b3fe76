/**
 * The canonical weights of a model, named and shaped as in TransformerLens
 * (HookedTransformer state dict), with one deliberate difference: the unembedding is held
 * as `W_U_T [vocab, d_model]` (rows are token directions). Tied checkpoints such as GPT-2 store
 * it that way (W_U = W_E^T), and the analyses read whole token rows; keeping it transposed avoids
 * a 150 MB copy for GPT-2 small.
 *
 * Every array is float32. Tensors may be views into the checkpoint's file buffer (no copy), and
 * a block's matrices may be getters that read them from the checkpoint on each access (the Llama
 * family's and Gemma's: a load then streams them into ONNX Runtime block by block); read each one once.
 */
import type { Tensor } from '../tensor.js';
import type { ModelConfig } from './config.js';

export interface LayerNormWeights {
  /** [d_model] */
  w: Tensor;
  /** [d_model] */
  b: Tensor;
}

export interface BlockWeights {
  ln1: LayerNormWeights;
  /** [head, d_model, d_head] */
  W_Q: Tensor;
  /** [head, d_model, d_head] */
  W_K: Tensor;
  /** [head, d_model, d_head] */
  W_V: Tensor;
  /** [head, d_head] */
  b_Q: Tensor;
  /** [head, d_head] */
  b_K: Tensor;
  /** [head, d_head] */
  b_V: Tensor;
  /** [head, d_head, d_model] */
  W_O: Tensor;
  /** [d_model] */
  b_O: Tensor;
  ln2: LayerNormWeights;
  /** [d_model, d_mlp] */
  W_in: Tensor;
  /** [d_mlp] */
  b_in: Tensor;
  /** [d_mlp, d_model] */
  W_out: Tensor;
  /** [d_model] */
  b_out: Tensor;
  /**
   * W_Q, W_K and W_V side by side, [d_model, 3 * head * d_head] (column (which * head + h) * d_head
   * + j), when the checkpoint stores them so (GPT-2's c_attn): the engine's graph then uses this
   * array as it is instead of building it, and an adapter may compute W_Q/W_K/W_V only when read.
   * Adapters define it non-enumerable, so that a copy with other W_Q/W_K/W_V ({ ...block, W_Q })
   * drops it rather than carrying a fusion of the old ones.
   */
  W_QKV?: Tensor;
  /**
   * Llama family (config.gatedMlp): the gate of the gated MLP, [d_model, d_mlp] (HF gate_proj
   * transposed; TransformerLens's W_gate). There W_K, W_V are [kv_head, d_model, d_head] and b_K,
   * b_V [kv_head, d_head] (TransformerLens's _W_K, _W_V), and ln1/ln2's b are zeros (RMSNorm).
   */
  W_gate?: Tensor;
  /** Qwen3 (config.qkNorm): per-head RMSNorm weights of the queries and keys, [d_head] each. */
  q_norm?: Tensor;
  k_norm?: Tensor;
  /** Gemma (config.postNorms): RMSNorm of the attention output and of the MLP output (b zeros), TransformerLens's ln1_post, ln2_post. */
  ln1_post?: LayerNormWeights;
  ln2_post?: LayerNormWeights;
}

export interface ModelWeights {
  /** [vocab, d_model] */
  W_E: Tensor;
  /** [n_ctx, d_model] */
  W_pos: Tensor;
  blocks: BlockWeights[];
  ln_final: LayerNormWeights;
  /** The unembedding, transposed: [vocab, d_model]. W_U[:, t] in TransformerLens is W_U_T row t. */
  W_U_T: Tensor;
  /** [vocab] (zeros for GPT-2, which has no unembedding bias). */
  b_U: Tensor;
  /**
   * What each embedding row is multiplied by (in float32) as the residual stream starts: Gemma's
   * sqrt(d_model), which TransformerLens folds into its W_E. Kept apart so that a tied W_E stays the
   * unembedding as it is. Absent: 1.
   */
  embedScale?: number;
}

/** A model ready to run: its shape, its canonical weights and where it came from. */
export interface CanonicalModel {
  config: ModelConfig;
  weights: ModelWeights;
}

/**
 * The weights the analyses read once a model is running. The rest (W_Q, W_K, W_in, W_out, ...) live
 * only inside ONNX Runtime's sessions, so that a loaded model holds them once, not twice.
 */
export type AnalysisBlockWeights = Pick<BlockWeights, 'ln1' | 'W_V' | 'b_V' | 'W_O' | 'b_O' | 'ln2' | 'b_out' | 'ln1_post'>;

export interface AnalysisWeights extends Omit<ModelWeights, 'blocks'> {
  blocks: AnalysisBlockWeights[];
}
