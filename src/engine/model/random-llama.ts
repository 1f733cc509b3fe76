/**
 * Seeded random Llama-family checkpoints (llama, mistral, qwen2, qwen3) in the real Hugging Face
 * layout: config.json with the keys the Hub's checkpoints have, and tensors named
 * model.layers.L.self_attn.q_proj.weight, ..., model.norm.weight, lm_head.weight (untied models).
 * Each type's settings exercise what it adds: Llama grouped-query attention and llama3 rope scaling
 * with a small original_max_position_embeddings (so prompts run past it), Mistral a sliding window
 * shorter than a test prompt, Qwen2 q/k/v biases and tied embeddings, Qwen3 head_dim with
 * heads * head_dim != hidden_size and q/k norms. The vocabulary is GPT-2's, so its tokenizer works.
 *
 * Linear weights are N(0, 1 / fan_in) (output projections also / sqrt(2 n_layers)), embeddings
 * N(0, 1), norm weights 1 + 0.1 N and biases 0.1 N: large enough that attention patterns are far
 * from uniform and RoPE's rotation changes them. Every tensor draws from its own seeded stream.
 */
import { EngineError } from '../errors.js';
import type { HfTensor } from './hf-gpt2-layout.js';
import type { LlamaFamilyType } from './adapters/llama-config.js';
import { seededNormalTensor } from './random-gpt2.js';

interface LlamaDims {
  nLayers: number;
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  dMlp: number;
  nCtx: number;
}

export const LLAMA_PRESETS = {
  tiny: { nLayers: 2, dModel: 64, nHeads: 4, nKvHeads: 2, dMlp: 128, nCtx: 256 },
  small: { nLayers: 4, dModel: 256, nHeads: 8, nKvHeads: 2, dMlp: 512, nCtx: 1024 },
} as const satisfies Record<string, LlamaDims>;

const VOCAB = 50257;
const GPT2_END_OF_TEXT_ID = 50256;

export interface RandomLlama {
  config: Record<string, unknown>;
  tensors: HfTensor[];
}

export function generateRandomLlama(arch: LlamaFamilyType, preset: keyof typeof LLAMA_PRESETS, seed: number): RandomLlama {
  if (!Object.hasOwn(LLAMA_PRESETS, preset)) throw new EngineError('BAD_ARGUMENT', `Unknown random model preset "${String(preset)}".`);
  const { nLayers, dModel: D, nHeads: H, nKvHeads: Hkv, dMlp: M, nCtx } = LLAMA_PRESETS[preset];
  // Qwen3 sets head_dim on its own (here 1.5 x hidden / heads); the others derive it.
  const Dh = arch === 'qwen3' ? (3 * D) / (2 * H) : D / H;
  const tied = arch === 'qwen2' || arch === 'qwen3';
  const qkvBias = arch === 'qwen2';
  const common = {
    bos_token_id: GPT2_END_OF_TEXT_ID,
    eos_token_id: GPT2_END_OF_TEXT_ID,
    hidden_act: 'silu',
    hidden_size: D,
    initializer_range: 0.02,
    intermediate_size: M,
    max_position_embeddings: nCtx,
    model_type: arch,
    num_attention_heads: H,
    num_hidden_layers: nLayers,
    num_key_value_heads: Hkv,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: tied,
    torch_dtype: 'float32',
    transformers_version: '4.51.0',
    use_cache: true,
    vocab_size: VOCAB,
  };
  const byArch: Record<LlamaFamilyType, Record<string, unknown>> = {
    llama: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0,
      head_dim: Dh,
      mlp_bias: false,
      pretraining_tp: 1,
      rope_theta: 10000,
      // Wavelengths of d_head 16 at theta 1e4 fall in all three llama3 bands for this context.
      rope_scaling: { factor: 8, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 32, rope_type: 'llama3' },
    },
    mistral: { architectures: ['MistralForCausalLM'], rope_theta: 10000, sliding_window: 4 },
    qwen2: {
      architectures: ['Qwen2ForCausalLM'],
      attention_dropout: 0,
      max_window_layers: nLayers,
      rope_theta: 1000000,
      sliding_window: nCtx,
      use_sliding_window: false,
    },
    qwen3: {
      architectures: ['Qwen3ForCausalLM'],
      attention_bias: false,
      attention_dropout: 0,
      head_dim: Dh,
      max_window_layers: nLayers,
      rope_scaling: null,
      rope_theta: 1000000,
      sliding_window: null,
      use_sliding_window: false,
    },
  };
  const config = { ...byArch[arch], ...common };

  const tensors: HfTensor[] = [];
  const add = (name: string, shape: number[], mean: number, std: number): void => {
    tensors.push({ name, shape, data: seededNormalTensor(seed, name, shape, mean, std).data });
  };
  const outStd = 1 / Math.sqrt(2 * nLayers);
  add('model.embed_tokens.weight', [VOCAB, D], 0, 1);
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}.`;
    add(`${p}input_layernorm.weight`, [D], 1, 0.1);
    add(`${p}self_attn.q_proj.weight`, [H * Dh, D], 0, 1 / Math.sqrt(D));
    if (qkvBias) add(`${p}self_attn.q_proj.bias`, [H * Dh], 0, 0.1);
    add(`${p}self_attn.k_proj.weight`, [Hkv * Dh, D], 0, 1 / Math.sqrt(D));
    if (qkvBias) add(`${p}self_attn.k_proj.bias`, [Hkv * Dh], 0, 0.1);
    add(`${p}self_attn.v_proj.weight`, [Hkv * Dh, D], 0, 1 / Math.sqrt(D));
    if (qkvBias) add(`${p}self_attn.v_proj.bias`, [Hkv * Dh], 0, 0.1);
    add(`${p}self_attn.o_proj.weight`, [D, H * Dh], 0, outStd / Math.sqrt(H * Dh));
    if (arch === 'qwen3') {
      add(`${p}self_attn.q_norm.weight`, [Dh], 1, 0.1);
      add(`${p}self_attn.k_norm.weight`, [Dh], 1, 0.1);
    }
    add(`${p}post_attention_layernorm.weight`, [D], 1, 0.1);
    add(`${p}mlp.gate_proj.weight`, [M, D], 0, 1 / Math.sqrt(D));
    add(`${p}mlp.up_proj.weight`, [M, D], 0, 1 / Math.sqrt(D));
    add(`${p}mlp.down_proj.weight`, [D, M], 0, outStd / Math.sqrt(M));
  }
  add('model.norm.weight', [D], 1, 0.1);
  if (!tied) add('lm_head.weight', [VOCAB, D], 0, 1 / Math.sqrt(D));
  return { config, tensors };
}
