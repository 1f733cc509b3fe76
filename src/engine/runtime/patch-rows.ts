/**
 * Interventions' patches of one layer as the rows the block graph writes (ScatterND), and the
 * residual-stream patches written into the block's input in JavaScript.
 */
import { EngineError } from '../errors.js';
import type { RowPatchPoint } from '../hooks/registry.js';
import type { Tensor } from '../tensor.js';
import type { InterventionVariant } from './types.js';

/** Patched rows of one layer: their coordinates ([k, width] int64, row-major) and values ([k, size]). */
export interface PatchRows {
  index: BigInt64Array;
  values: Float32Array;
}

function selectedPositions(positions: readonly number[] | undefined, q0: number, Q: number): number[] {
  const all = positions ?? Array.from({ length: q0 + Q }, (_, i) => i);
  return all.filter((p) => p >= q0 && p < q0 + Q);
}

/**
 * Rows keyed by their coordinates, so that a row patched twice is written once with its last value
 * (ScatterND leaves the order of duplicate indices open).
 */
function collectRows(rows: Map<string, { at: number[]; value: Float32Array }>, size: number): PatchRows | null {
  if (rows.size === 0) return null;
  const width = rows.values().next().value!.at.length;
  const index = new BigInt64Array(rows.size * width);
  const values = new Float32Array(rows.size * size);
  [...rows.values()].forEach(({ at, value }, i) => {
    at.forEach((c, j) => {
      index[i * width + j] = BigInt(c);
    });
    values.set(value, i * size);
  });
  return { index, values };
}

/**
 * `point`'s patches of `layer` as rows: (variant, query row, head) of d_head values for per-head
 * hooks (hook_z, hook_q/k/v; kv heads for hook_k/v), (variant, query row) of d_model values otherwise; null if none. Positions are
 * the full prompt's; only query positions q0.. (Q of them) are run.
 */
export function hookPatchRows(
  variants: readonly InterventionVariant[],
  layer: number,
  point: RowPatchPoint,
  dims: { H: number; Hkv?: number; q0: number; Q: number; width: number },
): PatchRows | null {
  const { H, q0, Q, width } = dims;
  // hook_k / hook_v have a row per kv head.
  const heads = point.shape[1] === 'kv_head' ? (dims.Hkv ?? H) : H;
  const rows = new Map<string, { at: number[]; value: Float32Array }>();
  variants.forEach((variant, b) => {
    if (point.patch.perHead) {
      for (const zp of variant.zPatches ?? []) {
        if (zp.layer !== layer || (zp.hook ?? 'attn.hook_z') !== point.name) continue;
        if (!Number.isInteger(zp.head) || zp.head < 0 || zp.head >= heads)
          throw new EngineError('BAD_ARGUMENT', `Head ${zp.head} of ${point.name} does not exist (0..${heads - 1}).`);
        checkPatchShape(zp.value, q0 + Q, width, `${point.alias} patch L${layer}H${zp.head}`);
        for (const p of selectedPositions(zp.positions, q0, Q)) {
          rows.set(`${b},${p},${zp.head}`, { at: [b, p - q0, zp.head], value: zp.value.data.subarray(p * width, (p + 1) * width) });
        }
      }
      return;
    }
    for (const sp of variant.streamPatches ?? []) {
      if (sp.layer !== layer || sp.hook !== point.name) continue;
      checkPatchShape(sp.value, q0 + Q, width, `${point.name} patch at layer ${layer}`);
      for (const p of selectedPositions(sp.positions, q0, Q)) {
        rows.set(`${b},${p}`, { at: [b, p - q0], value: sp.value.data.subarray(p * width, (p + 1) * width) });
      }
    }
  });
  return collectRows(rows, width);
}

/**
 * The batched residual stream [b, q, d_model] with `layer`'s resid_pre patches applied. Copies
 * before writing, because the input may be the previous layer's cached hook_resid_post.
 */
export function applyResidPatches(
  resid: Float32Array,
  variants: readonly InterventionVariant[],
  layer: number,
  q0: number,
  Q: number,
  D: number,
): Float32Array {
  const patched = variants.some((v) => v.streamPatches?.some((sp) => sp.layer === layer && sp.hook === 'hook_resid_pre'));
  if (!patched) return resid;
  resid = resid.slice();
  variants.forEach((variant, b) => {
    for (const sp of variant.streamPatches ?? []) {
      if (sp.layer !== layer || sp.hook !== 'hook_resid_pre') continue;
      checkPatchShape(sp.value, q0 + Q, D, `resid_pre patch at layer ${layer}`);
      for (const p of selectedPositions(sp.positions, q0, Q)) resid.set(sp.value.data.subarray(p * D, (p + 1) * D), (b * Q + p - q0) * D);
    }
  });
  return resid;
}

function checkPatchShape(value: Tensor, P: number, width: number, what: string): void {
  if (value.data.length !== P * width) throw new EngineError('BAD_ARGUMENT', `${what}: expected [${P}, ${width}] values, got ${value.data.length}.`);
}
