/**
 * The block graph's inputs besides the weights: the residual stream, the mask, cached keys and
 * values, and the patch rows of each patchable hook (the registry's index and values inputs).
 */
import type * as ort from 'onnxruntime-node';
import { ROW_PATCH_POINTS } from '../hooks/registry.js';
import type { ModelConfig } from '../model/config.js';
import { f32, flag, indexTensor, NO_ROWS, NOT_PACKED } from './ort-tensors.js';
import { hookPatchRows } from './patch-rows.js';
import type { InterventionVariant, KeysValues } from './types.js';

/** Row widths of a patch: coordinates per row and values per row. */
function patchWidths(perHead: boolean, config: Pick<ModelConfig, 'dModel' | 'dHead'>): { coordinates: number; values: number } {
  return perHead ? { coordinates: 3, values: config.dHead } : { coordinates: 2, values: config.dModel };
}

/**
 * The block inputs of a call that caches, patches and routes nothing: no past positions, empty
 * patch and routing lists, not packed.
 */
export function unpatchedFeeds(config: ModelConfig): Record<string, ort.Tensor> {
  const { nHeads: H, dHead: Dh } = config;
  const none = (...dims: number[]): ort.Tensor => f32(new Float32Array(0), [0, ...dims]);
  const feeds: Record<string, ort.Tensor> = {
    past_k: none(H, Dh),
    past_v: none(H, Dh),
    plain: flag(true),
    prefix_rows: NOT_PACKED,
    z_route_from: indexTensor(NO_ROWS, 3),
    z_route_to: indexTensor(NO_ROWS, 3),
  };
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
  const feeds: Record<string, ort.Tensor> = { ...unpatched, resid_pre: f32(resid, [variants.length, Q, D]), attn_mask: mask };
  if (past) {
    feeds['plain'] = flag(false);
    feeds['past_k'] = f32(past.k.subarray(0, q0 * H * Dh), [q0, H, Dh]);
    feeds['past_v'] = f32(past.v.subarray(0, q0 * H * Dh), [q0, H, Dh]);
  }
  for (const point of ROW_PATCH_POINTS) {
    const width = patchWidths(point.patch.perHead, config);
    const rows = hookPatchRows(variants, layer, point, { H, q0, Q, width: width.values });
    if (!rows) continue;
    feeds[point.patch.index] = indexTensor(rows.index, width.coordinates);
    feeds[point.patch.values] = f32(rows.values, [rows.index.length / width.coordinates, width.values]);
  }
  return feeds;
}
