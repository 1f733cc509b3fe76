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
import { checkedTensorGetter, transposeMatrix } from './checked-tensor.js';
import { tensor, type Tensor } from '../../tensor.js';
import type { BlockWeights, CanonicalModel } from '../weights.js';
import type { ArchitectureAdapter } from './adapter.js';
import { LLAMA_FAMILY_TYPES, llamaFamilyConfig } from './llama-config.js';

export const llamaAdapter: ArchitectureAdapter = {
  modelTypes: LLAMA_FAMILY_TYPES,
  adapt(raw, source) {
    const config = llamaFamilyConfig(raw);
    const get = checkedTensorGetter(source, 'of the model_type config.json names');
    const { dModel: D, nHeads: H, dHead: Dh, dMlp: M, dVocab: V } = config;
    const Hkv = config.nKvHeads ?? H;
    const zeros = (...shape: number[]): Tensor => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);

    const W_E = get('model.embed_tokens.weight', [V, D]);
    const blocks: BlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) {
      const p = `model.layers.${l}.`;
      const bias = (name: string, heads: number): Tensor =>
        config.qkvBias ? tensor(get(`${p}self_attn.${name}.bias`, [heads * Dh]).data, [heads, Dh]) : zeros(heads, Dh);
      const block: BlockWeights = {
        ln1: { w: get(`${p}input_layernorm.weight`, [D]), b: zeros(D) },
        W_Q: headsFromRows(get(`${p}self_attn.q_proj.weight`, [H * Dh, D]), H, Dh, D),
        W_K: headsFromRows(get(`${p}self_attn.k_proj.weight`, [Hkv * Dh, D]), Hkv, Dh, D),
        W_V: headsFromRows(get(`${p}self_attn.v_proj.weight`, [Hkv * Dh, D]), Hkv, Dh, D),
        b_Q: bias('q_proj', H),
        b_K: bias('k_proj', Hkv),
        b_V: bias('v_proj', Hkv),
        // o_proj^T is [head * d_head, d_model], i.e. [head, d_head, d_model] as it lies.
        W_O: tensor(transposeMatrix(get(`${p}self_attn.o_proj.weight`, [D, H * Dh])), [H, Dh, D]),
        b_O: config.oBias ? get(`${p}self_attn.o_proj.bias`, [D]) : zeros(D),
        ln2: { w: get(`${p}post_attention_layernorm.weight`, [D]), b: zeros(D) },
        W_in: tensor(transposeMatrix(get(`${p}mlp.up_proj.weight`, [M, D])), [D, M]),
        b_in: zeros(M),
        W_gate: tensor(transposeMatrix(get(`${p}mlp.gate_proj.weight`, [M, D])), [D, M]),
        W_out: tensor(transposeMatrix(get(`${p}mlp.down_proj.weight`, [D, M])), [M, D]),
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

/** A tensor by name, checked against the shape config.json implies. */

/** An HF projection [heads * d_head, d_model] as TransformerLens's [heads, d_model, d_head]: W[h, i, j] = proj[h * d_head + j, i]. */
export function headsFromRows(proj: Tensor, heads: number, Dh: number, D: number): Tensor {
  const out = new Float32Array(heads * D * Dh);
  const src = proj.data;
  for (let h = 0; h < heads; h++) for (let j = 0; j < Dh; j++) for (let i = 0; i < D; i++) out[(h * D + i) * Dh + j] = src[(h * Dh + j) * D + i]!;
  return tensor(out, [heads, D, Dh]);
}
