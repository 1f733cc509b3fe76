/**
 * Batch rows of a forward pass (runtime/gradient-model.ts) as a forward pass of their own, for a
 * backward pass over some of its rows (the corrupted run, repeated once per GradDrop layer; the
 * interpolation points of EAP-IG). A run of consecutive rows shares the pass's arrays; other
 * selections are copied when first read (a backward pass reads a few of the hook points).
 */
import type { BlockValues, FinalGradient, ForwardPass } from '../runtime/gradient-model.js';

export function forwardRows(pass: ForwardPass, rows: readonly number[]): ForwardPass {
  const consecutive = rows.every((r, i) => r === rows[0]! + i);
  const pick = (data: Float32Array): Float32Array => {
    const size = data.length / pass.batch;
    if (consecutive) return data.subarray(rows[0]! * size, (rows[0]! + rows.length) * size);
    const out = new Float32Array(rows.length * size);
    rows.forEach((r, i) => out.set(data.subarray(r * size, (r + 1) * size), i * size));
    return out;
  };
  const layers = pass.layers.map((values) => {
    const picked = {};
    for (const [output, data] of Object.entries(values)) {
      if (data === undefined) continue;
      let copy: Float32Array | undefined;
      Object.defineProperty(picked, output, { enumerable: true, get: () => (copy ??= pick(data)) });
    }
    return picked as BlockValues;
  });
  return { batch: rows.length, positions: pass.positions, layers, finalResid: pick(pass.finalResid) };
}

/** The same rows of a final gradient (GradientModel.finalGradient), for the backward pass over them. */
export function finalRows(final: FinalGradient, rows: readonly number[]): FinalGradient {
  const D = final.gradient.length / final.metric.length;
  const gradient = new Float32Array(rows.length * D);
  rows.forEach((r, i) => gradient.set(final.gradient.subarray(r * D, (r + 1) * D), i * D));
  return { metric: Float64Array.from(rows, (r) => final.metric[r]!), gradient };
}
