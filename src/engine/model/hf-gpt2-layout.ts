/**
 * How a Hugging Face GPT-2 checkpoint (openai-community/gpt2's model.safetensors and config.json)
 * names and shapes its tensors, and the conversion from the canonical TransformerLens-style
 * weights (model/weights.ts) into that layout.
 *
 * HF GPT-2 stores its linear layers as Conv1D, i.e. weight [in, out] (x @ W + b), names them
 * without the "transformer." prefix, packs Q, K and V into one `c_attn` matrix [d, 3d] whose
 * columns are (q | k | v), each split by head as [head, d_head], keeps the causal mask buffer
 * `h.L.attn.bias` [1, 1, n_ctx, n_ctx] (lower-triangular ones), and has no lm_head (the
 * unembedding is tied to wte).
 */
import { EngineError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { ModelConfig } from './config.js';
import type { ModelWeights } from './weights.js';

/** One tensor of an HF checkpoint, as float32. */
export interface HfTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** The config.json of an HF GPT-2 checkpoint. */
export interface Gpt2HfConfig {
  activation_function: ModelConfig['actFn'];
  architectures: ['GPT2LMHeadModel'];
  attn_pdrop: number;
  bos_token_id: number;
  embd_pdrop: number;
  eos_token_id: number;
  initializer_range: number;
  layer_norm_epsilon: number;
  model_type: 'gpt2';
  n_ctx: number;
  n_embd: number;
  n_head: number;
  /** Only present when the MLP width is not 4 * n_embd (HF's default when absent or null). */
  n_inner?: number;
  n_layer: number;
  n_positions: number;
  resid_pdrop: number;
  /** Only present when false: attention scores are then not divided by sqrt(d_head). */
  scale_attn_weights?: false;
  /** Only present when true: layer L's attention scores are also divided by L + 1. */
  scale_attn_by_inverse_layer_idx?: true;
  summary_activation: null;
  summary_first_dropout: number;
  summary_proj_to_labels: boolean;
  summary_type: 'cls_index';
  summary_use_proj: boolean;
  task_specific_params: { 'text-generation': { do_sample: boolean; max_length: number } };
  vocab_size: number;
}

/** The shape numbers a GPT-2 checkpoint is determined by. */
export type Gpt2Dims = Pick<ModelConfig, 'nLayers' | 'nHeads' | 'dModel' | 'dMlp' | 'nCtx' | 'dVocab'>;

/** config.json for a GPT-2 of the given shape, with the values openai-community/gpt2 has. */
export function gpt2HfConfig(config: ModelConfig): Gpt2HfConfig {
  const special = config.bosTokenId ?? Math.min(50256, config.dVocab - 1);
  return {
    activation_function: config.actFn,
    architectures: ['GPT2LMHeadModel'],
    attn_pdrop: 0.1,
    bos_token_id: special,
    embd_pdrop: 0.1,
    eos_token_id: special,
    initializer_range: 0.02,
    layer_norm_epsilon: config.eps,
    model_type: 'gpt2',
    n_ctx: config.nCtx,
    n_embd: config.dModel,
    n_head: config.nHeads,
    ...(config.dMlp === 4 * config.dModel ? {} : { n_inner: config.dMlp }),
    n_layer: config.nLayers,
    n_positions: config.nCtx,
    resid_pdrop: 0.1,
    // HF's defaults (scaled by sqrt(d_head), not by layer) are left implicit, as GPT-2 leaves them.
    ...(config.useAttnScale === false ? { scale_attn_weights: false as const } : {}),
    ...(config.scaleAttnByInverseLayerIdx === true ? { scale_attn_by_inverse_layer_idx: true as const } : {}),
    summary_activation: null,
    summary_first_dropout: 0.1,
    summary_proj_to_labels: true,
    summary_type: 'cls_index',
    summary_use_proj: true,
    task_specific_params: { 'text-generation': { do_sample: true, max_length: 50 } },
    vocab_size: config.dVocab,
  };
}

/** Name and shape of every tensor of an HF GPT-2 model.safetensors, in state-dict order. */
export function gpt2HfTensorSpecs(dims: Gpt2Dims): Array<{ name: string; shape: number[] }> {
  const { nLayers, dModel: d, dMlp, nCtx, dVocab } = dims;
  const specs = [
    { name: 'wte.weight', shape: [dVocab, d] },
    { name: 'wpe.weight', shape: [nCtx, d] },
  ];
  for (let l = 0; l < nLayers; l++) {
    const h = `h.${l}`;
    specs.push(
      { name: `${h}.ln_1.weight`, shape: [d] },
      { name: `${h}.ln_1.bias`, shape: [d] },
      { name: `${h}.attn.bias`, shape: [1, 1, nCtx, nCtx] },
      { name: `${h}.attn.c_attn.weight`, shape: [d, 3 * d] },
      { name: `${h}.attn.c_attn.bias`, shape: [3 * d] },
      { name: `${h}.attn.c_proj.weight`, shape: [d, d] },
      { name: `${h}.attn.c_proj.bias`, shape: [d] },
      { name: `${h}.ln_2.weight`, shape: [d] },
      { name: `${h}.ln_2.bias`, shape: [d] },
      { name: `${h}.mlp.c_fc.weight`, shape: [d, dMlp] },
      { name: `${h}.mlp.c_fc.bias`, shape: [dMlp] },
      { name: `${h}.mlp.c_proj.weight`, shape: [dMlp, d] },
      { name: `${h}.mlp.c_proj.bias`, shape: [d] },
    );
  }
  specs.push({ name: 'ln_f.weight', shape: [d] }, { name: 'ln_f.bias', shape: [d] });
  return specs;
}

/** The causal mask buffer GPT-2 keeps per layer: [1, 1, n_ctx, n_ctx], ones on and below the diagonal. */
export function gpt2CausalMask(nCtx: number): Float32Array {
  const mask = new Float32Array(nCtx * nCtx);
  for (let q = 0; q < nCtx; q++) mask.fill(1, q * nCtx, q * nCtx + q + 1);
  return mask;
}

function expectShape(name: string, t: Tensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i]) || t.data.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new EngineError(
      'WRONG_SHAPE',
      `${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}].`,
      'Build the weights with the shapes named in model/weights.ts.',
    );
  }
}

/**
 * Converts canonical weights into the tensors of an HF GPT-2 checkpoint, in state-dict order.
 * Tensors whose layout already agrees (embeddings, LayerNorms, W_O, the MLP) are passed through
 * without copying; only c_attn is assembled. All layers share one causal-mask array.
 * GPT-2 ties its unembedding to wte, so W_U_T must equal W_E and b_U must be zero.
 */
export function gpt2HfTensorsFromCanonical(weights: ModelWeights, config: ModelConfig): HfTensor[] {
  const { nLayers, nHeads, dHead, dModel: d, dMlp, nCtx, dVocab } = config;
  if (nHeads * dHead !== d) {
    throw new EngineError('BAD_CONFIG', `GPT-2 needs n_heads * d_head = d_model, got ${nHeads} * ${dHead} != ${d}.`, 'Choose d_head = d_model / n_heads.');
  }
  if (weights.blocks.length !== nLayers) {
    throw new EngineError(
      'WRONG_SHAPE',
      `The weights have ${weights.blocks.length} blocks but the config says ${nLayers} layers.`,
      'Pass one block per layer.',
    );
  }
  expectShape('W_E', weights.W_E, [dVocab, d]);
  expectShape('W_pos', weights.W_pos, [nCtx, d]);
  expectShape('W_U_T', weights.W_U_T, [dVocab, d]);
  expectShape('b_U', weights.b_U, [dVocab]);
  if (weights.W_U_T.data !== weights.W_E.data && weights.W_U_T.data.some((v, i) => v !== weights.W_E.data[i])) {
    throw new EngineError(
      'BAD_ARGUMENT',
      'GPT-2 checkpoints tie the unembedding to the embedding, but W_U_T differs from W_E.',
      'Use W_U_T = W_E to write an HF GPT-2 checkpoint.',
    );
  }
  if (weights.b_U.data.some((v) => v !== 0)) {
    throw new EngineError('BAD_ARGUMENT', 'GPT-2 checkpoints have no unembedding bias, but b_U is not zero.', 'Use b_U = 0 to write an HF GPT-2 checkpoint.');
  }

  const mask = gpt2CausalMask(nCtx);
  const tensors: HfTensor[] = [
    { name: 'wte.weight', shape: [dVocab, d], data: weights.W_E.data },
    { name: 'wpe.weight', shape: [nCtx, d], data: weights.W_pos.data },
  ];
  weights.blocks.forEach((block, l) => {
    const h = `h.${l}`;
    for (const [name, t, shape] of [
      ['ln1.w', block.ln1.w, [d]],
      ['ln1.b', block.ln1.b, [d]],
      ['ln2.w', block.ln2.w, [d]],
      ['ln2.b', block.ln2.b, [d]],
      ['W_Q', block.W_Q, [nHeads, d, dHead]],
      ['W_K', block.W_K, [nHeads, d, dHead]],
      ['W_V', block.W_V, [nHeads, d, dHead]],
      ['b_Q', block.b_Q, [nHeads, dHead]],
      ['b_K', block.b_K, [nHeads, dHead]],
      ['b_V', block.b_V, [nHeads, dHead]],
      ['W_O', block.W_O, [nHeads, dHead, d]],
      ['b_O', block.b_O, [d]],
      ['W_in', block.W_in, [d, dMlp]],
      ['b_in', block.b_in, [dMlp]],
      ['W_out', block.W_out, [dMlp, d]],
      ['b_out', block.b_out, [d]],
    ] as const) {
      expectShape(`blocks.${l}.${name}`, t, shape);
    }

    // c_attn.weight [d, 3d]: row i = (W_Q[:, i, :] | W_K[:, i, :] | W_V[:, i, :]), each [head, d_head] flattened.
    const cAttn = new Float32Array(d * 3 * d);
    [block.W_Q.data, block.W_K.data, block.W_V.data].forEach((w, part) => {
      for (let head = 0; head < nHeads; head++) {
        for (let i = 0; i < d; i++) {
          const from = (head * d + i) * dHead; // W[head, i, :]
          const to = i * 3 * d + part * d + head * dHead;
          cAttn.set(w.subarray(from, from + dHead), to);
        }
      }
    });
    const cAttnBias = new Float32Array(3 * d);
    cAttnBias.set(block.b_Q.data, 0);
    cAttnBias.set(block.b_K.data, d);
    cAttnBias.set(block.b_V.data, 2 * d);

    tensors.push(
      { name: `${h}.ln_1.weight`, shape: [d], data: block.ln1.w.data },
      { name: `${h}.ln_1.bias`, shape: [d], data: block.ln1.b.data },
      { name: `${h}.attn.bias`, shape: [1, 1, nCtx, nCtx], data: mask },
      { name: `${h}.attn.c_attn.weight`, shape: [d, 3 * d], data: cAttn },
      { name: `${h}.attn.c_attn.bias`, shape: [3 * d], data: cAttnBias },
      // W_O [head, d_head, d] read as [head * d_head, d] is exactly Conv1D's [in, out].
      { name: `${h}.attn.c_proj.weight`, shape: [d, d], data: block.W_O.data },
      { name: `${h}.attn.c_proj.bias`, shape: [d], data: block.b_O.data },
      { name: `${h}.ln_2.weight`, shape: [d], data: block.ln2.w.data },
      { name: `${h}.ln_2.bias`, shape: [d], data: block.ln2.b.data },
      { name: `${h}.mlp.c_fc.weight`, shape: [d, dMlp], data: block.W_in.data },
      { name: `${h}.mlp.c_fc.bias`, shape: [dMlp], data: block.b_in.data },
      { name: `${h}.mlp.c_proj.weight`, shape: [dMlp, d], data: block.W_out.data },
      { name: `${h}.mlp.c_proj.bias`, shape: [d], data: block.b_out.data },
    );
  });
  tensors.push({ name: 'ln_f.weight', shape: [d], data: weights.ln_final.w.data }, { name: 'ln_f.bias', shape: [d], data: weights.ln_final.b.data });
  return tensors;
}
