/**
 * The block graph's inputs besides the weights: the residual stream, the mask, cached keys and
 * values, and the patch rows of each patchable hook (the registry's index and values inputs).
 */
import * as ort from 'onnxruntime-node';
import { ROW_PATCH_POINTS } from '../hooks/registry.js';
import { graphFamily, type ModelConfig } from '../model/config.js';
import { ropeInverseFrequencies } from '../model/rope.js';
import { f32, flag, indexTensor, int64, NO_ROWS, NOT_PACKED } from './ort-tensors.js';
import { hookPatchRows } from './patch-rows.js';
import type { InterventionVariant, KeysValues } from './types.js';

/** Row widths of a patch: coordinates per row and values per row. */
function patchWidths(perHead: boolean, config: Pick<ModelConfig, 'dModel' | 'dHead'>): { coordinates: number; values: number } {
  return perHead ? { coordinates: 3, values: config.dHead } : { coordinates: 2, values: config.dModel };
}

/**
 * The block inputs of a call that caches, patches and routes nothing: no past positions, empty
 * patch and routing lists, not packed. Gemma and GPT-NeoX graphs have no `plain` (and they take
 * each row's position: positionFeeds); Llama-family ones take their rows' positions as rotaryFeeds
 * says and cache keys and values per kv head.
 */
export function unpatchedFeeds(config: ModelConfig): Record<string, ort.Tensor> {
  const { dHead: Dh } = config;
  const Hkv = config.nKvHeads ?? config.nHeads;
  const none = (...dims: number[]): ort.Tensor => f32(new Float32Array(0), [0, ...dims]);
  const feeds: Record<string, ort.Tensor> = { past_k: none(Hkv, Dh), past_v: none(Hkv, Dh) };
  const family = graphFamily(config);
  if (family === 'gpt2' || family === 'llama') feeds['plain'] = flag(true);
  if (family === 'gpt2' || family === 'llama' || family === 'gemma' || family === 'neox' || family === 'neox_sequential') {
    feeds['prefix_rows'] = NOT_PACKED;
    feeds['z_route_from'] = indexTensor(NO_ROWS, 3);
    feeds['z_route_to'] = indexTensor(NO_ROWS, 3);
  }
  for (const point of ROW_PATCH_POINTS) {
    const width = patchWidths(point.patch.perHead, config);
    feeds[point.patch.index] = indexTensor(NO_ROWS, width.coordinates);
    feeds[point.patch.values] = none(width.values);
  }
  return feeds;
}

/**
 * A batched call's inputs: `B` variants' query positions q0.. (Q of them) from `resid`
 * [B, Q, d_model], against the first q0 positions of `past` (fed once for all variants), with the
 * variants' patches of `layer` as rows.
 */
export function variantBlockFeeds(
  config: ModelConfig,
  unpatched: Record<string, ort.Tensor>,
  variants: readonly InterventionVariant[],
  past: KeysValues | null,
  layer: number,
  resid: Float32Array,
  mask: ort.Tensor,
  q0: number,
  Q: number,
): Record<string, ort.Tensor> {
  const { nHeads: H, dModel: D, dHead: Dh } = config;
  const Hkv = config.nKvHeads ?? H; // keys and values are cached per kv head
  const feeds: Record<string, ort.Tensor> = { ...unpatched, resid_pre: f32(resid, [variants.length, Q, D]), attn_mask: mask };
  if (past) {
    if ('plain' in unpatched) feeds['plain'] = flag(false);
    feeds['past_k'] = f32(past.k.subarray(0, q0 * Hkv * Dh), [q0, Hkv, Dh]);
    feeds['past_v'] = f32(past.v.subarray(0, q0 * Hkv * Dh), [q0, Hkv, Dh]);
  }
  for (const point of ROW_PATCH_POINTS) {
    const width = patchWidths(point.patch.perHead, config);
    const rows = hookPatchRows(variants, layer, point, { H, Hkv, q0, Q, width: width.values });
    if (!rows) continue;
    feeds[point.patch.index] = indexTensor(rows.index, width.coordinates);
    feeds[point.patch.values] = f32(rows.values, [rows.index.length / width.coordinates, width.values]);
  }
  return feeds;
}

/**
 * The `positions` input of block graphs with rotary positions (onnx/llama-graphs.ts): each row's
 * position in its prompt, here the query positions q0 .. q0 + Q - 1 of every variant. Nothing for
 * graphs without it. One tensor serves every layer of a run.
 */
export function positionFeeds(block: Pick<ort.InferenceSession, 'inputNames'>, q0: number, Q: number): Record<string, ort.Tensor> {
  return block.inputNames.includes('positions') ? { positions: int64(Array.from({ length: Q }, (_, i) => q0 + i)) } : {};
}

/**
 * The RoPE inputs of block graphs that take them (onnx/llama-graphs.ts), for calls whose rows sit at
 * `rows` (their positions in their prompts, the same for every variant): `rope_positions` [b, q] and the
 * tables rope_cos / rope_sin [n, d_head / 2] of positions 0 .. n - 1, computed once in float64 and
 * rounded. Returns the feeds of a call of `batch` variants; nothing for graphs without them.
 */
export function rotaryFeeds(
  block: Pick<ort.InferenceSession, 'inputNames'>,
  config: Pick<ModelConfig, 'rotary' | 'dHead'>,
  rows: readonly number[],
): (batch: number) => Record<string, ort.Tensor> {
  if (!block.inputNames.includes('rope_positions') || !config.rotary) return () => ({});
  const inv = ropeInverseFrequencies(config.rotary, config.dHead);
  const half = inv.length;
  // ONNX Runtime's RotaryEmbedding wants at least as many table rows as the call has rows (packed calls have more than positions).
  const n = Math.max(rows.length, Math.max(0, ...rows) + 1);
  const cos = new Float32Array(n * half),
    sin = new Float32Array(n * half);
  for (let p = 0; p < n; p++) {
    for (let j = 0; j < half; j++) {
      cos[p * half + j] = Math.cos(p * inv[j]!);
      sin[p * half + j] = Math.sin(p * inv[j]!);
    }
  }
  const tables = { rope_cos: f32(cos, [n, half]), rope_sin: f32(sin, [n, half]) };
  const row = BigInt64Array.from(rows, BigInt);
  return (batch) => {
    const positions = new BigInt64Array(batch * row.length);
    for (let b = 0; b < batch; b++) positions.set(row, b * row.length);
    return { ...tables, rope_positions: new ort.Tensor('int64', positions, [batch, row.length]) };
  };
}
