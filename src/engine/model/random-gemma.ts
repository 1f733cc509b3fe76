/**
 * Seeded random Gemma checkpoints (gemma2, gemma3_text) in the real Hugging Face layout: config.json
 * with the keys the Hub's checkpoints have, and tensors named model.layers.L.self_attn.q_proj.weight,
 * ..., model.layers.L.pre_feedforward_layernorm.weight, model.norm.weight, tied to
 * model.embed_tokens.weight. The settings exercise what Gemma adds: head_dim with heads * head_dim !=
 * hidden_size, query_pre_attn_scalar != head_dim, grouped-query attention, a sliding window shorter
 * than a test prompt on alternate layers (Gemma 2: even layers; Gemma 3: sliding_window_pattern 2),
 * and for Gemma 2 attention and final soft-caps small enough to change the numbers, for Gemma 3 q/k
 * norms, local and global RoPE bases and linear rope scaling on the global layers. The vocabulary is
 * GPT-2's, so its tokenizer works.
 *
 * Linear weights are N(0, 1 / fan_in), the embedding N(0, 0.25) (so the scaled stream and the tied
 * logits are a few units, where the final soft-cap bends them), norm weights 0.1 N (Gemma's norms
 * multiply by 1 + w). Every tensor draws from its own seeded stream.
 */
import { EngineError } from '../errors.js';
import type { GemmaType } from './adapters/gemma-config.js';
import type { HfTensor } from './hf-gpt2-layout.js';
import { seededNormalTensor } from './random-gpt2.js';

interface GemmaDims {
  nLayers: number;
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  dHead: number;
  dMlp: number;
  nCtx: number;
}

export const GEMMA_PRESETS = {
  tiny: { nLayers: 2, dModel: 64, nHeads: 4, nKvHeads: 2, dHead: 24, dMlp: 128, nCtx: 256 },
  small: { nLayers: 4, dModel: 256, nHeads: 8, nKvHeads: 2, dHead: 48, dMlp: 512, nCtx: 1024 },
} as const satisfies Record<string, GemmaDims>;

const VOCAB = 50257;
const GPT2_END_OF_TEXT_ID = 50256;

export interface RandomGemma {
  config: Record<string, unknown>;
  tensors: HfTensor[];
}

export function generateRandomGemma(arch: GemmaType, preset: keyof typeof GEMMA_PRESETS, seed: number): RandomGemma {
  if (!Object.hasOwn(GEMMA_PRESETS, preset)) throw new EngineError('BAD_ARGUMENT', `Unknown random model preset "${String(preset)}".`);
  const { nLayers, dModel: D, nHeads: H, nKvHeads: Hkv, dHead: Dh, dMlp: M, nCtx } = GEMMA_PRESETS[preset];
  const common = {
    attention_bias: false,
    attention_dropout: 0,
    bos_token_id: GPT2_END_OF_TEXT_ID,
    eos_token_id: GPT2_END_OF_TEXT_ID,
    head_dim: Dh,
    hidden_activation: 'gelu_pytorch_tanh',
    hidden_size: D,
    initializer_range: 0.02,
    intermediate_size: M,
    max_position_embeddings: nCtx,
    model_type: arch,
    num_attention_heads: H,
    num_hidden_layers: nLayers,
    num_key_value_heads: Hkv,
    pad_token_id: GPT2_END_OF_TEXT_ID,
    query_pre_attn_scalar: (4 * Dh) / 3,
    rms_norm_eps: 1e-6,
    sliding_window: 4,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    transformers_version: '4.51.0',
    use_cache: true,
    vocab_size: VOCAB,
  };
  const byArch: Record<GemmaType, Record<string, unknown>> = {
    gemma2: {
      architectures: ['Gemma2ForCausalLM'],
      attn_logit_softcapping: 2,
      cache_implementation: 'hybrid',
      final_logit_softcapping: 5,
      hidden_act: 'gelu_pytorch_tanh',
      rope_theta: 10000,
    },
    gemma3_text: {
      architectures: ['Gemma3ForCausalLM'],
      attn_logit_softcapping: null,
      cache_implementation: 'hybrid',
      final_logit_softcapping: null,
      rope_local_base_freq: 10000,
      rope_scaling: { factor: 8, rope_type: 'linear' },
      rope_theta: 1000000,
      sliding_window_pattern: 2,
    },
  };
  const config = { ...byArch[arch], ...common };

  const tensors: HfTensor[] = [];
  const add = (name: string, shape: number[], std: number): void => {
    tensors.push({ name, shape, data: seededNormalTensor(seed, name, shape, 0, std).data });
  };
  add('model.embed_tokens.weight', [VOCAB, D], 0.25);
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}.`;
    add(`${p}input_layernorm.weight`, [D], 0.1);
    add(`${p}self_attn.q_proj.weight`, [H * Dh, D], 1 / Math.sqrt(D));
    add(`${p}self_attn.k_proj.weight`, [Hkv * Dh, D], 1 / Math.sqrt(D));
    add(`${p}self_attn.v_proj.weight`, [Hkv * Dh, D], 1 / Math.sqrt(D));
    add(`${p}self_attn.o_proj.weight`, [D, H * Dh], 1 / Math.sqrt(H * Dh));
    if (arch === 'gemma3_text') {
      add(`${p}self_attn.q_norm.weight`, [Dh], 0.1);
      add(`${p}self_attn.k_norm.weight`, [Dh], 0.1);
    }
    add(`${p}post_attention_layernorm.weight`, [D], 0.1);
    add(`${p}pre_feedforward_layernorm.weight`, [D], 0.1);
    add(`${p}mlp.gate_proj.weight`, [M, D], 1 / Math.sqrt(D));
    add(`${p}mlp.up_proj.weight`, [M, D], 1 / Math.sqrt(D));
    add(`${p}mlp.down_proj.weight`, [D, M], 1 / Math.sqrt(M));
    add(`${p}post_feedforward_layernorm.weight`, [D], 0.1);
  }
  add('model.norm.weight', [D], 0.1);
  return { config, tensors };
}
