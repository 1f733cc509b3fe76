/**
 * Reads a GPT-NeoX config.json (HF GPTNeoXConfig: Pythia, GPT-NeoX-20B) into the canonical config.
 * Every field that changes the forward's maths is honoured or refused with BAD_CONFIG naming it:
 *   honoured: hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, vocab_size,
 *     max_position_embeddings, layer_norm_eps, rotary_pct (or partial_rotary_factor), rotary_emb_base
 *     (or rope_theta, or transformers 5's rope_parameters), use_parallel_residual, attention_bias,
 *     tie_word_embeddings, hidden_act "gelu" (exact, erf);
 *   refused: any other hidden_act, rope_scaling (linear, dynamic, ...), a rope type other than "default";
 *   irrelevant to an inference forward: dropouts, initializer_range, use_cache, eos token ids, torch_dtype.
 */
import { EngineError } from '../../errors.js';
import type { ModelConfig } from '../config.js';

export function gptNeoxConfig(raw: Record<string, unknown>): { config: ModelConfig; tied: boolean } {
  const bad = (key: string, what: string): never => {
    throw new EngineError('BAD_CONFIG', `config.json: "${key}" ${what} (got ${JSON.stringify(raw[key])}).`);
  };
  const refuse = (key: string, why: string): never => {
    throw new EngineError(
      'BAD_CONFIG',
      `config.json: "${key}": ${JSON.stringify(raw[key])} is not supported: ${why}.`,
      'Circuit Trace runs GPT-NeoX models whose config changes nothing it does not implement.',
    );
  };
  const int = (key: string): number => {
    const v = raw[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) bad(key, 'must be a positive integer');
    return v as number;
  };
  const positive = (key: string, fallback: number, from: Record<string, unknown> = raw): number => {
    const v = from[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(key, 'must be a positive number');
    return v as number;
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'boolean') bad(key, 'must be true or false');
    return v as boolean;
  };

  const nLayers = int('num_hidden_layers');
  const dModel = int('hidden_size');
  const nHeads = int('num_attention_heads');
  if (dModel % nHeads !== 0) bad('hidden_size', `is not divisible by num_attention_heads (${nHeads})`);
  const dHead = dModel / nHeads;
  const act = raw['hidden_act'] ?? 'gelu';
  if (act !== 'gelu') refuse('hidden_act', 'the MLP runs exact (erf) GELU, "gelu"');
  if (raw['rope_scaling'] !== undefined && raw['rope_scaling'] !== null) refuse('rope_scaling', 'rotary embeddings are unscaled here');

  // Rotary: HF's rotary_emb_base / rotary_pct, their newer names rope_theta / partial_rotary_factor,
  // or transformers 5's rope_parameters holding them.
  const params = typeof raw['rope_parameters'] === 'object' && raw['rope_parameters'] !== null ? (raw['rope_parameters'] as Record<string, unknown>) : null;
  if (params && (params['rope_type'] ?? 'default') !== 'default')
    refuse('rope_parameters', `rope type ${JSON.stringify(params['rope_type'])} scales the rotary embeddings`);
  const thetaKey = raw['rope_theta'] !== undefined ? 'rope_theta' : 'rotary_emb_base';
  const theta = params && params['rope_theta'] !== undefined ? positive('rope_theta', 10000, params) : positive(thetaKey, 10000);
  const pctKey = raw['partial_rotary_factor'] !== undefined ? 'partial_rotary_factor' : 'rotary_pct';
  const pct = params && params['partial_rotary_factor'] !== undefined ? positive('partial_rotary_factor', 0.25, params) : positive(pctKey, 0.25);
  if (pct > 1) bad(pctKey, 'must be at most 1');
  // HF: rotary_ndims = int(head_size * rotary_pct); rotate_half needs it even.
  const rotaryDims = Math.floor(dHead * pct);
  if (rotaryDims === 0 || rotaryDims % 2 !== 0)
    bad(pctKey, `gives ${rotaryDims} rotary dimensions of d_head ${dHead}; Circuit Trace needs a positive even number`);

  const bias = flag('attention_bias', true);
  const bos = raw['bos_token_id'];
  const config: ModelConfig = {
    modelType: 'gpt_neox',
    nLayers,
    dModel,
    nHeads,
    dHead,
    dMlp: int('intermediate_size'),
    dVocab: int('vocab_size'),
    nCtx: int('max_position_embeddings'),
    eps: positive('layer_norm_eps', 1e-5),
    actFn: 'gelu',
    bosTokenId: typeof bos === 'number' ? bos : null,
    norm: 'layernorm',
    positional: 'rotary',
    rotary: { theta, llama3: null },
    rotaryDims,
    parallelResidual: flag('use_parallel_residual', true),
    qkvBias: bias,
    oBias: bias,
  };
  return { config, tied: flag('tie_word_embeddings', false) };
}
