/**
 * Gemma adapter: HF Gemma2ForCausalLM and Gemma3ForCausalLM (model_type gemma3_text) checkpoints,
 * mapped as TransformerLens's Gemma weight conversion maps them; of a multimodal
 * Gemma3ForConditionalGeneration (model_type gemma3), the language model alone, whose tensors carry
 * the prefix `language_model.` (`language_model.model.layers.N...`, as the Hub's checkpoints store
 * them) or, as newer transformers save them, `model.language_model.layers.N...`; the vision tower
 * and projector are not read.
 *
 * Gemma's RMSNorm multiplies by (1 + weight), computed in float32; like TransformerLens, every norm
 * weight here is stored as 1 + weight (rounded to float32, exactly HF's factor), so the canonical
 * norms are ordinary RMSNorms x / scale * w. The four norms of a block: input_layernorm (ln1),
 * post_attention_layernorm (ln1_post, on the attention output), pre_feedforward_layernorm (ln2),
 * post_feedforward_layernorm (ln2_post, on the MLP output). Gemma 3's q_norm and k_norm likewise.
 *
 * The embedding is scaled by sqrt(hidden_size) as the stream starts (weights.embedScale;
 * TransformerLens folds it into W_E), while the tied unembedding is the checkpoint's
 * embed_tokens.weight as it is. Linear layers as in adapters/llama.ts, and like its blocks' matrices
 * checked from the header at once and read as the runtime builds each block's graph (getters).
 */
import { EngineError } from '../../errors.js';
import { tensor, type Tensor } from '../../tensor.js';
import type { LayerNormWeights, BlockWeights, CanonicalModel } from '../weights.js';
import type { ArchitectureAdapter } from './adapter.js';
import { checkedTensorGetter, checkedTensorReader, transposeMatrix } from './checked-tensor.js';
import { GEMMA_MODEL_TYPES, gemmaConfig, gemmaTiedEmbeddings } from './gemma-config.js';
import type { TensorSource } from '../tensor-source.js';
import { headsFromRows } from './llama.js';

export const gemmaAdapter: ArchitectureAdapter = {
  modelTypes: GEMMA_MODEL_TYPES,
  adapt(raw, source) {
    const config = gemmaConfig(raw);
    const stored = storedName(raw, source);
    const checked = checkedTensorGetter(source, 'of the model_type config.json names');
    const checkedLater = checkedTensorReader(source, 'of the model_type config.json names');
    /** A tensor by its Gemma*ForCausalLM name, checked against the shape config.json implies. */
    const get = (name: string, shape: readonly number[]): Tensor => checked(stored(name), shape);
    /** The same, checked now and read (a fresh array) on each call. */
    const read = (name: string, shape: readonly number[]): (() => Tensor) => checkedLater(stored(name), shape);
    const { dModel: D, nHeads: H, dHead: Dh, dMlp: M, dVocab: V } = config;
    const Hkv = config.nKvHeads ?? H;
    const zeros = (...shape: number[]): Tensor => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    /** A Gemma RMSNorm weight w as the factor 1 + w it multiplies by.  [width] */
    const onePlus = (name: string, width: number): Tensor =>
      tensor(
        Float32Array.from(get(name, [width]).data, (w) => 1 + w),
        [width],
      );
    const norm = (name: string): LayerNormWeights => ({ w: onePlus(name, D), b: zeros(D) });

    const W_E = get('model.embed_tokens.weight', [V, D]);
    const blocks: BlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) {
      const p = `model.layers.${l}.`;
      // The matrices are checked now and read when the runtime builds this block's graph, as in
      // adapters/llama.ts: the whole model never sits in memory in fp32 at once. The norm weights
      // are small and read now, as their 1 + w.
      const q = read(`${p}self_attn.q_proj.weight`, [H * Dh, D]);
      const k = read(`${p}self_attn.k_proj.weight`, [Hkv * Dh, D]);
      const v = read(`${p}self_attn.v_proj.weight`, [Hkv * Dh, D]);
      const o = read(`${p}self_attn.o_proj.weight`, [D, H * Dh]);
      const up = read(`${p}mlp.up_proj.weight`, [M, D]);
      const gate = read(`${p}mlp.gate_proj.weight`, [M, D]);
      const down = read(`${p}mlp.down_proj.weight`, [D, M]);
      const block: BlockWeights = {
        ln1: norm(`${p}input_layernorm.weight`),
        get W_Q() {
          return headsFromRows(q(), H, Dh, D);
        },
        get W_K() {
          return headsFromRows(k(), Hkv, Dh, D);
        },
        get W_V() {
          return headsFromRows(v(), Hkv, Dh, D);
        },
        b_Q: zeros(H, Dh),
        b_K: zeros(Hkv, Dh),
        b_V: zeros(Hkv, Dh),
        // o_proj^T is [head * d_head, d_model], i.e. [head, d_head, d_model] as it lies.
        get W_O() {
          return tensor(transposeMatrix(o()), [H, Dh, D]);
        },
        b_O: zeros(D),
        ln1_post: norm(`${p}post_attention_layernorm.weight`),
        ln2: norm(`${p}pre_feedforward_layernorm.weight`),
        get W_in() {
          return tensor(transposeMatrix(up()), [D, M]);
        },
        b_in: zeros(M),
        get W_gate() {
          return tensor(transposeMatrix(gate()), [D, M]);
        },
        get W_out() {
          return tensor(transposeMatrix(down()), [M, D]);
        },
        b_out: zeros(D),
        ln2_post: norm(`${p}post_feedforward_layernorm.weight`),
      };
      if (config.qkNorm) {
        block.q_norm = onePlus(`${p}self_attn.q_norm.weight`, Dh);
        block.k_norm = onePlus(`${p}self_attn.k_norm.weight`, Dh);
      }
      blocks.push(block);
    }
    const tied = gemmaTiedEmbeddings(raw);
    if (!tied && !source.names().includes(stored('lm_head.weight'))) {
      throw new EngineError(
        'MISSING_TENSOR',
        `The checkpoint has no tensor "${stored('lm_head.weight')}", and config.json unties it from the embedding (tie_word_embeddings: false).`,
        'The model.safetensors file is incomplete.',
      );
    }
    const model: CanonicalModel = {
      config,
      weights: {
        W_E,
        // No learned positions: an empty table, so the embedding adds nothing (RoPE works in the blocks).
        W_pos: zeros(0, D),
        blocks,
        ln_final: norm('model.norm.weight'),
        W_U_T: tied ? W_E : get('lm_head.weight', [V, D]),
        b_U: zeros(V),
        embedScale: Math.sqrt(D),
      },
    };
    return model;
  },
};

/**
 * Where a Gemma*ForCausalLM tensor name (`model.layers.0...`, `lm_head.weight`) lies in this
 * checkpoint: as it is, or in a multimodal Gemma 3 under its language model's prefix, whichever
 * layout holds the embedding (the first of them is named when neither does).
 */
function storedName(raw: Record<string, unknown>, source: TensorSource): (name: string) => string {
  if (raw['model_type'] !== 'gemma3') return (name) => name;
  const layouts: Array<(name: string) => string> = [
    (name) => `language_model.${name}`,
    (name) => (name.startsWith('model.') ? `model.language_model.${name.slice('model.'.length)}` : name),
  ];
  const names = new Set(source.names());
  return layouts.find((layout) => names.has(layout('model.embed_tokens.weight'))) ?? layouts[0]!;
}
