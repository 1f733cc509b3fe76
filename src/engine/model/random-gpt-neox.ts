/**
 * Seeded random GPT-NeoX checkpoints (Pythia's architecture) in the real Hugging Face layout:
 * config.json with the keys Pythia's checkpoints have on the Hub (rotary_pct 0.25,
 * rotary_emb_base, use_parallel_residual, ...) and tensors named gpt_neox.embed_in.weight,
 * gpt_neox.layers.L.attention.query_key_value.weight (fused per head, [head, 3, d_head] rows), ...,
 * gpt_neox.final_layer_norm.weight, embed_out.weight. The vocabulary is GPT-2's, so its tokenizer
 * works (Pythia's is a byte-level BPE too).
 *
 * Linear weights are N(0, 1 / fan_in) (output projections also / sqrt(2 n_layers)), embeddings
 * N(0, 1), LayerNorm weights 1 + 0.1 N and every bias 0.1 N: large enough that attention patterns
 * are far from uniform and RoPE's rotation changes them. Every tensor draws from its own seeded stream.
 */
import { EngineError } from '../errors.js';
import type { HfTensor } from './hf-gpt2-layout.js';
import { seededNormalTensor } from './random-gpt2.js';

interface NeoxDims {
  nLayers: number;
  dModel: number;
  nHeads: number;
  dMlp: number;
  nCtx: number;
}

export const GPT_NEOX_PRESETS = {
  /** d_head 16, so rotary_pct 0.25 rotates 4 dimensions of each head and passes 12 through. */
  tiny: { nLayers: 2, dModel: 64, nHeads: 4, dMlp: 256, nCtx: 256 },
  small: { nLayers: 4, dModel: 256, nHeads: 8, dMlp: 1024, nCtx: 1024 },
} as const satisfies Record<string, NeoxDims>;

const VOCAB = 50257;
const GPT2_END_OF_TEXT_ID = 50256;

export interface RandomGptNeox {
  config: Record<string, unknown>;
  tensors: HfTensor[];
}

/** `parallelResidual` false writes use_parallel_residual false (GPT-NeoX's sequential block); Pythia's is true. */
export function generateRandomGptNeox(preset: keyof typeof GPT_NEOX_PRESETS, seed: number, options: { parallelResidual?: boolean } = {}): RandomGptNeox {
  if (!Object.hasOwn(GPT_NEOX_PRESETS, preset)) throw new EngineError('BAD_ARGUMENT', `Unknown random model preset "${String(preset)}".`);
  const { nLayers, dModel: D, nHeads: H, dMlp: M, nCtx } = GPT_NEOX_PRESETS[preset];
  const config: Record<string, unknown> = {
    architectures: ['GPTNeoXForCausalLM'],
    attention_bias: true,
    attention_dropout: 0,
    bos_token_id: GPT2_END_OF_TEXT_ID,
    classifier_dropout: 0.1,
    eos_token_id: GPT2_END_OF_TEXT_ID,
    hidden_act: 'gelu',
    hidden_dropout: 0,
    hidden_size: D,
    initializer_range: 0.02,
    intermediate_size: M,
    layer_norm_eps: 1e-5,
    max_position_embeddings: nCtx,
    model_type: 'gpt_neox',
    num_attention_heads: H,
    num_hidden_layers: nLayers,
    rope_scaling: null,
    rotary_emb_base: 10000,
    rotary_pct: 0.25,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    transformers_version: '4.40.0',
    use_cache: true,
    use_parallel_residual: options.parallelResidual ?? true,
    vocab_size: VOCAB,
  };

  const tensors: HfTensor[] = [];
  const add = (name: string, shape: number[], mean: number, std: number): void => {
    tensors.push({ name, shape, data: seededNormalTensor(seed, name, shape, mean, std).data });
  };
  const outStd = 1 / Math.sqrt(2 * nLayers);
  add('gpt_neox.embed_in.weight', [VOCAB, D], 0, 1);
  for (let l = 0; l < nLayers; l++) {
    const p = `gpt_neox.layers.${l}.`;
    add(`${p}input_layernorm.weight`, [D], 1, 0.1);
    add(`${p}input_layernorm.bias`, [D], 0, 0.1);
    add(`${p}post_attention_layernorm.weight`, [D], 1, 0.1);
    add(`${p}post_attention_layernorm.bias`, [D], 0, 0.1);
    add(`${p}attention.query_key_value.weight`, [3 * D, D], 0, 1 / Math.sqrt(D));
    add(`${p}attention.query_key_value.bias`, [3 * D], 0, 0.1);
    add(`${p}attention.dense.weight`, [D, D], 0, outStd / Math.sqrt(D));
    add(`${p}attention.dense.bias`, [D], 0, 0.1);
    add(`${p}mlp.dense_h_to_4h.weight`, [M, D], 0, 1 / Math.sqrt(D));
    add(`${p}mlp.dense_h_to_4h.bias`, [M], 0, 0.1);
    add(`${p}mlp.dense_4h_to_h.weight`, [D, M], 0, outStd / Math.sqrt(M));
    add(`${p}mlp.dense_4h_to_h.bias`, [D], 0, 0.1);
  }
  add('gpt_neox.final_layer_norm.weight', [D], 1, 0.1);
  add('gpt_neox.final_layer_norm.bias', [D], 0, 0.1);
  add('embed_out.weight', [VOCAB, D], 0, 1 / Math.sqrt(D));
  return { config, tensors };
}
