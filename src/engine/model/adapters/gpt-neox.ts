/**
 * GPT-NeoX adapter: HF GPTNeoXForCausalLM checkpoints (EleutherAI/pythia-70m ... 1.4b), mapped as
 * TransformerLens's weight_conversions/neox.py maps them.
 *
 * Every projection is an nn.Linear, weight [out, in]. attention.query_key_value [3 * d_model,
 * d_model] is fused per head: HF views its output as [head, 3, d_head], so row (h * 3 + which) *
 * d_head + j is head h's query (which 0), key (1) or value (2) dimension j; its bias lies the same
 * way. attention.dense is the output projection; mlp.dense_h_to_4h / dense_4h_to_h the MLP.
 * Tensors sit under `gpt_neox.` except embed_out.weight, the untied unembedding. The
 * attention.bias / masked_bias / rotary_emb.inv_freq buffers of older checkpoints are ignored.
 */
import { checkedTensorGetter, transposeMatrix } from './checked-tensor.js';
import { tensor, type Tensor } from '../../tensor.js';
import type { BlockWeights, CanonicalModel } from '../weights.js';
import type { ArchitectureAdapter } from './adapter.js';
import { gptNeoxConfig } from './gpt-neox-config.js';

export const gptNeoxAdapter: ArchitectureAdapter = {
  modelTypes: ['gpt_neox'],
  adapt(raw, source) {
    const { config, tied } = gptNeoxConfig(raw);
    const get = checkedTensorGetter(source, 'a GPT-NeoX checkpoint');
    const { dModel: D, nHeads: H, dHead: Dh, dMlp: M, dVocab: V } = config;
    const zeros = (...shape: number[]): Tensor => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);

    const W_E = get('gpt_neox.embed_in.weight', [V, D]);
    const blocks: BlockWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) {
      const p = `gpt_neox.layers.${l}.`;
      const qkv = get(`${p}attention.query_key_value.weight`, [3 * D, D]);
      const qkvBias = config.qkvBias ? get(`${p}attention.query_key_value.bias`, [3 * D]) : null;
      blocks.push({
        ln1: { w: get(`${p}input_layernorm.weight`, [D]), b: get(`${p}input_layernorm.bias`, [D]) },
        W_Q: fusedHeads(qkv, 0, H, Dh, D),
        W_K: fusedHeads(qkv, 1, H, Dh, D),
        W_V: fusedHeads(qkv, 2, H, Dh, D),
        b_Q: qkvBias ? fusedBias(qkvBias, 0, H, Dh) : zeros(H, Dh),
        b_K: qkvBias ? fusedBias(qkvBias, 1, H, Dh) : zeros(H, Dh),
        b_V: qkvBias ? fusedBias(qkvBias, 2, H, Dh) : zeros(H, Dh),
        // dense^T is [head * d_head, d_model], i.e. [head, d_head, d_model] as it lies.
        W_O: tensor(transposeMatrix(get(`${p}attention.dense.weight`, [D, D])), [H, Dh, D]),
        b_O: config.oBias ? get(`${p}attention.dense.bias`, [D]) : zeros(D),
        ln2: { w: get(`${p}post_attention_layernorm.weight`, [D]), b: get(`${p}post_attention_layernorm.bias`, [D]) },
        W_in: tensor(transposeMatrix(get(`${p}mlp.dense_h_to_4h.weight`, [M, D])), [D, M]),
        b_in: get(`${p}mlp.dense_h_to_4h.bias`, [M]),
        W_out: tensor(transposeMatrix(get(`${p}mlp.dense_4h_to_h.weight`, [D, M])), [M, D]),
        b_out: get(`${p}mlp.dense_4h_to_h.bias`, [D]),
      });
    }
    return {
      config,
      weights: {
        W_E,
        // No learned positions: an empty table, so the embedding adds nothing (RoPE works in the blocks).
        W_pos: zeros(0, D),
        blocks,
        ln_final: { w: get('gpt_neox.final_layer_norm.weight', [D]), b: get('gpt_neox.final_layer_norm.bias', [D]) },
        W_U_T: tied ? W_E : get('embed_out.weight', [V, D]),
        b_U: zeros(V),
      },
    } satisfies CanonicalModel;
  },
};

/** A tensor by name, checked against the shape config.json implies. */

/** Part `which` (0 q, 1 k, 2 v) of query_key_value [head * 3 * d_head, d_model] as [head, d_model, d_head]: W[h, i, j] = qkv[(h * 3 + which) * d_head + j, i]. */
function fusedHeads(qkv: Tensor, which: number, H: number, Dh: number, D: number): Tensor {
  const out = new Float32Array(H * D * Dh);
  const src = qkv.data;
  for (let h = 0; h < H; h++)
    for (let j = 0; j < Dh; j++) {
      const row = ((h * 3 + which) * Dh + j) * D;
      for (let i = 0; i < D; i++) out[(h * D + i) * Dh + j] = src[row + i]!;
    }
  return tensor(out, [H, D, Dh]);
}

/** Part `which` of query_key_value's bias [head * 3 * d_head] as [head, d_head]. */
function fusedBias(bias: Tensor, which: number, H: number, Dh: number): Tensor {
  const out = new Float32Array(H * Dh);
  for (let h = 0; h < H; h++) out.set(bias.data.subarray((h * 3 + which) * Dh, (h * 3 + which + 1) * Dh), h * Dh);
  return tensor(out, [H, Dh]);
}
