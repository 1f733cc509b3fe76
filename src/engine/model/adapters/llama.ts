/**
 * Llama-family adapter: HF LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and
 * Qwen3ForCausalLM checkpoints, mapped as TransformerLens's weight conversions (llama.py, qwen2.py,
 * qwen3.py) map them.
 *
 * HF linear layers are nn.Linear, weight [out, in] (x @ W^T). q_proj [head * d_head, d_model] holds
 * head h in rows h * d_head ..; k_proj and v_proj have kv_head * d_head rows (grouped-query
 * attention); o_proj is [d_model, head * d_head]. Tensors sit under `model.` except lm_head.weight,
 * which is absent when tie_word_embeddings is set.
 */
import { EngineError } from '../../errors.js';
import { checkedTensorGetter, checkedTensorReader, transposeInto, transposeMatrix } from './checked-tensor.js';
import { tensor, type Tensor } from '../../tensor.js';
import type { BlockWeights, CanonicalModel } from '../weights.js';
import type { ArchitectureAdapter } from './adapter.js';
import { LLAMA_FAMILY_TYPES, llamaFamilyConfig } from './llama-config.js';

export const llamaAdapter: ArchitectureAdapter = {
  modelTypes: LLAMA_FAMILY_TYPES,
  adapt(raw, source) {
    const config = llamaFamilyConfig(raw);
    const get = checkedTensorGetter(source, 'of the model_type config.json names');
    const read = checkedTensorReader(source, 'of the model_type config.json names');
    const { dModel: D, nHeads: H, dHead: Dh, dMlp: M, dVocab: V } = config;
    const Hkv = config.nKvHeads ?? H;
    const zeros = (...shape: number[]): Tensor => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);

    const W_E = get('model.embed_tokens.weight', [V, D]);
    const blocks: BlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) {
      const p = `model.layers.${l}.`;
      const bias = (name: string, heads: number): Tensor =>
        config.qkvBias ? tensor(get(`${p}self_attn.${name}.bias`, [heads * Dh]).data, [heads, Dh]) : zeros(heads, Dh);
      // The matrices are checked now and read when the runtime builds this block's graph (each
      // read is a fresh array): the whole model never sits in memory in fp32 at once.
      const q = read(`${p}self_attn.q_proj.weight`, [H * Dh, D]);
      const k = read(`${p}self_attn.k_proj.weight`, [Hkv * Dh, D]);
      const v = read(`${p}self_attn.v_proj.weight`, [Hkv * Dh, D]);
      const o = read(`${p}self_attn.o_proj.weight`, [D, H * Dh]);
      const up = read(`${p}mlp.up_proj.weight`, [M, D]);
      const gate = read(`${p}mlp.gate_proj.weight`, [M, D]);
      const down = read(`${p}mlp.down_proj.weight`, [D, M]);
      const block: BlockWeights = {
        ln1: { w: get(`${p}input_layernorm.weight`, [D]), b: zeros(D) },
        get W_Q() {
          return headsFromRows(q(), H, Dh, D);
        },
        get W_K() {
          return headsFromRows(k(), Hkv, Dh, D);
        },
        get W_V() {
          return headsFromRows(v(), Hkv, Dh, D);
        },
        b_Q: bias('q_proj', H),
        b_K: bias('k_proj', Hkv),
        b_V: bias('v_proj', Hkv),
        // o_proj^T is [head * d_head, d_model], i.e. [head, d_head, d_model] as it lies.
        get W_O() {
          return tensor(transposeMatrix(o()), [H, Dh, D]);
        },
        b_O: config.oBias ? get(`${p}self_attn.o_proj.bias`, [D]) : zeros(D),
        ln2: { w: get(`${p}post_attention_layernorm.weight`, [D]), b: zeros(D) },
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
      };
      if (config.qkNorm) {
        block.q_norm = get(`${p}self_attn.q_norm.weight`, [Dh]);
        block.k_norm = get(`${p}self_attn.k_norm.weight`, [Dh]);
      }
      blocks.push(block);
    }
    const tied = raw['tie_word_embeddings'] === true;
    const hasLmHead = source.names().includes('lm_head.weight');
    if (!tied && !hasLmHead) {
      throw new EngineError(
        'MISSING_TENSOR',
        'The checkpoint has no tensor "lm_head.weight", and config.json does not tie it to the embedding (tie_word_embeddings).',
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
        ln_final: { w: get('model.norm.weight', [D]), b: zeros(D) },
        // HF ties by the module, so a tied checkpoint's lm_head.weight (if written) equals the embedding.
        W_U_T: tied ? W_E : get('lm_head.weight', [V, D]),
        b_U: zeros(V),
      },
    };
    return model;
  },
};

/** An HF projection [heads * d_head, d_model] as TransformerLens's [heads, d_model, d_head]: W[h, i, j] = proj[h * d_head + j, i]. */
export function headsFromRows(proj: Tensor, heads: number, Dh: number, D: number): Tensor {
  // Head h's rows [d_head, d_model], transposed into its [d_model, d_head] slab.
  const out = new Float32Array(heads * D * Dh);
  for (let h = 0; h < heads; h++) transposeInto(proj.data.subarray(h * Dh * D, (h + 1) * Dh * D), Dh, D, out.subarray(h * D * Dh, (h + 1) * D * Dh));
  return tensor(out, [heads, D, Dh]);
}
