/**
 * Reading a checkpoint's tensors by name with the shape config.json implies: the first missing
 * tensor or wrong shape is a typed error naming it, whatever the architecture.
 */
import { EngineError } from '../../errors.js';
import type { Tensor } from '../../tensor.js';
import type { TensorSource } from '../tensor-source.js';

export type CheckedTensorGetter = (name: string, shape: readonly number[]) => Tensor;

/** A tensor checked now, read when called: `() => Tensor` reads (and converts) its data afresh on every call. */
export type CheckedTensorReader = (name: string, shape: readonly number[]) => () => Tensor;

/** A getter over `source`; `family` names the checkpoint kind in the missing-tensor hint ("a GPT-NeoX checkpoint"). */
export function checkedTensorGetter(source: TensorSource, family: string): CheckedTensorGetter {
  const reader = checkedTensorReader(source, family);
  return (name, shape) => reader(name, shape)();
}

/**
 * Like checkedTensorGetter, but only the checkpoint's header is consulted at once (presence and
 * shape, with the same errors); the data is read when the returned function is called. Adapters
 * hand the blocks' matrices on this way, so that a load streams them block by block into ONNX
 * Runtime instead of holding the whole model in fp32 first.
 */
export function checkedTensorReader(source: TensorSource, family: string): CheckedTensorReader {
  const names = new Set(source.names());
  return (name, shape) => {
    if (!names.has(name)) {
      throw new EngineError('MISSING_TENSOR', `The checkpoint has no tensor "${name}".`, `The model.safetensors file is incomplete or not ${family}.`);
    }
    const actual = source.shape(name) ?? [];
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw new EngineError(
        'WRONG_SHAPE',
        `Tensor "${name}" has shape [${actual.join(', ')}], expected [${shape.join(', ')}] from config.json.`,
        'config.json and model.safetensors do not belong together.',
      );
    }
    return () => source.get(name);
  };
}

/** A matrix [rows, cols] transposed: [cols, rows]. */
export function transposeMatrix(t: Tensor): Float32Array {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  transposeInto(t.data, rows, cols, out);
  return out;
}

/** Tile edge of the transpose: a tile's rows and columns stay in the cache while it is copied. */
const TILE = 32;

/**
 * Writes `src` [rows, cols] transposed into `out` [cols, rows], tile by tile: row by row, every
 * write of a large matrix would land on another cache line (several times slower).
 */
export function transposeInto(src: Float32Array, rows: number, cols: number, out: Float32Array): void {
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        const from = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = src[from + c]!;
      }
    }
  }
}
