/**
 * How a Hugging Face GPT-Neo checkpoint (GPTNeoForCausalLM's model.safetensors and config.json, as
 * roneneldan/TinyStories-33M and EleutherAI/gpt-neo-125M have them) names and shapes its tensors,
 * and the conversion from the canonical TransformerLens-style weights into that layout.
 *
 * Every projection is an nn.Linear, weight [out, in], under `transformer.`: `h.L.attn.attention.
 * {k,v,q}_proj.weight` (no bias), `out_proj.weight` and `.bias`, `mlp.c_fc` and `mlp.c_proj`
 * with biases. `lm_head.weight` [vocab, d_model] is written only when the unembedding is untied
 * (safetensors drops a tied copy). Layers are global or local per `attention_types`, local ones
 * attending to the last `window_size` keys.
 */
import { EngineError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { attentionWindowOf, type ModelConfig } from './config.js';
import type { Gpt2Dims, HfTensor } from './hf-gpt2-layout.js';
import type { ModelWeights } from './weights.js';

/** A GPT-Neo layer's attention type. */
export type GptNeoAttentionType = 'global' | 'local';

/** The config.json of an HF GPT-Neo checkpoint. */
export interface GptNeoHfConfig {
  activation_function: ModelConfig['actFn'];
  architectures: ['GPTNeoForCausalLM'];
  attention_dropout: number;
  /** attention_types expanded, one per layer, as HF writes it beside them. */
  attention_layers: GptNeoAttentionType[];
  /** Runs of layer types: [[types, repeats], ...]. */
  attention_types: Array<[GptNeoAttentionType[], number]>;
  bos_token_id: number;
  embed_dropout: number;
  eos_token_id: number;
  hidden_size: number;
  initializer_range: number;
  /** null: 4 hidden_size. */
  intermediate_size: number | null;
  layer_norm_epsilon: number;
  max_position_embeddings: number;
  model_type: 'gpt_neo';
  num_heads: number;
  num_layers: number;
  resid_dropout: number;
  /** Only present when false: the unembedding is then lm_head.weight, not wte. */
  tie_word_embeddings?: false;
  torch_dtype: 'float32';
  use_cache: boolean;
  vocab_size: number;
  window_size: number;
}

/** The shape numbers a GPT-Neo checkpoint is determined by: GPT-2's and the local layers' window. */
export type GptNeoDims = Gpt2Dims & { windowSize: number };

/**
 * Runs of equal consecutive (global, local) pairs, as GPT-Neo writes them: [[["global", "local"], n]]
 * for alternating layers, with a lone [["global"], 1] run wherever the alternation breaks.
 */
function attentionTypeRuns(layers: readonly GptNeoAttentionType[]): Array<[GptNeoAttentionType[], number]> {
  const runs: Array<[GptNeoAttentionType[], number]> = [];
  for (let l = 0; l < layers.length;) {
    const pair = layers[l] === 'global' && layers[l + 1] === 'local';
    const types: GptNeoAttentionType[] = pair ? ['global', 'local'] : [layers[l]!];
    const last = runs.at(-1);
    if (last && last[0].join() === types.join()) last[1]++;
    else runs.push([types, 1]);
    l += types.length;
  }
  return runs;
}

/** config.json for a GPT-Neo of the given canonical config (TinyStories' values where it has no say). */
export function gptNeoHfConfig(config: ModelConfig, options: { tied: boolean }): GptNeoHfConfig {
  const windows = Array.from({ length: config.nLayers }, (_, l) => attentionWindowOf(config, l));
  const local = windows.filter((w): w is number => w !== null);
  if (local.some((w) => w !== local[0])) {
    throw new EngineError('BAD_ARGUMENT', `GPT-Neo has one window_size for every local layer; the config has ${[...new Set(local)].join(', ')}.`);
  }
  if (config.useAttnScale !== false || config.scaleAttnByInverseLayerIdx === true) {
    throw new EngineError('BAD_ARGUMENT', 'GPT-Neo does not scale its attention scores: useAttnScale must be false and scaleAttnByInverseLayerIdx unset.');
  }
  const layers = windows.map((w): GptNeoAttentionType => (w === null ? 'global' : 'local'));
  const special = config.bosTokenId ?? Math.min(50256, config.dVocab - 1);
  return {
    activation_function: config.actFn,
    architectures: ['GPTNeoForCausalLM'],
    attention_dropout: 0,
    attention_layers: layers,
    attention_types: attentionTypeRuns(layers),
    bos_token_id: special,
    embed_dropout: 0,
    eos_token_id: special,
    hidden_size: config.dModel,
    initializer_range: 0.02,
    intermediate_size: config.dMlp === 4 * config.dModel ? null : config.dMlp,
    layer_norm_epsilon: config.eps,
    max_position_embeddings: config.nCtx,
    model_type: 'gpt_neo',
    num_heads: config.nHeads,
    num_layers: config.nLayers,
    resid_dropout: 0,
    ...(options.tied ? {} : { tie_word_embeddings: false as const }),
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: config.dVocab,
    // HF's default when no layer is local.
    window_size: local[0] ?? 256,
  };
}

/** A [rows, cols] matrix transposed: [cols, rows]. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

function expectShape(name: string, t: Tensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i]) || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new EngineError('WRONG_SHAPE', `${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}].`);
  }
}

/**
 * Converts canonical weights into the tensors of an HF GPT-Neo checkpoint, in state-dict order.
 * GPT-Neo has no Q, K or V bias, so b_Q, b_K and b_V must be zero, and no unembedding bias. With
 * `tied`, W_U_T must be W_E and no lm_head.weight is written.
 */
export function gptNeoHfTensorsFromCanonical(weights: ModelWeights, config: ModelConfig, options: { tied: boolean }): HfTensor[] {
  const { nLayers, nHeads: H, dHead: Dh, dModel: D, dMlp: M, nCtx, dVocab: V } = config;
  if (H * Dh !== D) throw new EngineError('BAD_CONFIG', `GPT-Neo needs n_heads * d_head = d_model, got ${H} * ${Dh} != ${D}.`);
  if (weights.blocks.length !== nLayers)
    throw new EngineError('WRONG_SHAPE', `The weights have ${weights.blocks.length} blocks; the config says ${nLayers} layers.`);
  expectShape('W_E', weights.W_E, [V, D]);
  expectShape('W_pos', weights.W_pos, [nCtx, D]);
  expectShape('W_U_T', weights.W_U_T, [V, D]);
  if (weights.b_U.data.some((x) => x !== 0)) throw new EngineError('BAD_ARGUMENT', 'GPT-Neo checkpoints have no unembedding bias, but b_U is not zero.');
  if (options.tied && weights.W_U_T.data !== weights.W_E.data && weights.W_U_T.data.some((x, i) => x !== weights.W_E.data[i])) {
    throw new EngineError('BAD_ARGUMENT', 'A tied GPT-Neo checkpoint needs W_U_T = W_E.');
  }
  const tensors: HfTensor[] = [
    { name: 'transformer.wte.weight', shape: [V, D], data: weights.W_E.data },
    { name: 'transformer.wpe.weight', shape: [nCtx, D], data: weights.W_pos.data },
  ];
  weights.blocks.forEach((block, l) => {
    for (const [name, t] of [
      ['b_Q', block.b_Q],
      ['b_K', block.b_K],
      ['b_V', block.b_V],
    ] as const) {
      if (t.data.some((x) => x !== 0)) throw new EngineError('BAD_ARGUMENT', `GPT-Neo has no ${name}, but block ${l}'s is not zero.`);
    }
    expectShape(`blocks.${l}.W_O`, block.W_O, [H, Dh, D]);
    expectShape(`blocks.${l}.W_in`, block.W_in, [D, M]);
    expectShape(`blocks.${l}.W_out`, block.W_out, [M, D]);
    /** A [head, d_model, d_head] projection as an nn.Linear weight [out = head * d_head, in = d_model]. */
    const linear = (W: Tensor, what: string): Float32Array => {
      expectShape(`blocks.${l}.${what}`, W, [H, D, Dh]);
      const out = new Float32Array(H * Dh * D);
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < D; i++) for (let j = 0; j < Dh; j++) out[(h * Dh + j) * D + i] = W.data[(h * D + i) * Dh + j]!;
      }
      return out;
    };
    const p = `transformer.h.${l}`;
    tensors.push(
      { name: `${p}.ln_1.weight`, shape: [D], data: block.ln1.w.data },
      { name: `${p}.ln_1.bias`, shape: [D], data: block.ln1.b.data },
      { name: `${p}.attn.attention.k_proj.weight`, shape: [D, D], data: linear(block.W_K, 'W_K') },
      { name: `${p}.attn.attention.v_proj.weight`, shape: [D, D], data: linear(block.W_V, 'W_V') },
      { name: `${p}.attn.attention.q_proj.weight`, shape: [D, D], data: linear(block.W_Q, 'W_Q') },
      // W_O [head * d_head, d_model] is [in, out]: its transpose is the Linear weight.
      { name: `${p}.attn.attention.out_proj.weight`, shape: [D, D], data: transpose(block.W_O.data, H * Dh, D) },
      { name: `${p}.attn.attention.out_proj.bias`, shape: [D], data: block.b_O.data },
      { name: `${p}.ln_2.weight`, shape: [D], data: block.ln2.w.data },
      { name: `${p}.ln_2.bias`, shape: [D], data: block.ln2.b.data },
      { name: `${p}.mlp.c_fc.weight`, shape: [M, D], data: transpose(block.W_in.data, D, M) },
      { name: `${p}.mlp.c_fc.bias`, shape: [M], data: block.b_in.data },
      { name: `${p}.mlp.c_proj.weight`, shape: [D, M], data: transpose(block.W_out.data, M, D) },
      { name: `${p}.mlp.c_proj.bias`, shape: [D], data: block.b_out.data },
    );
  });
  tensors.push(
    { name: 'transformer.ln_f.weight', shape: [D], data: weights.ln_final.w.data },
    { name: 'transformer.ln_f.bias', shape: [D], data: weights.ln_final.b.data },
  );
  if (!options.tied) tensors.push({ name: 'lm_head.weight', shape: [V, D], data: weights.W_U_T.data });
  return tensors;
}
