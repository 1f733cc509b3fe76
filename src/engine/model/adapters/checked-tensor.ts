/**
 * Reading a checkpoint's tensors by name with the shape config.json implies: the first missing
 * tensor or wrong shape is a typed error naming it, whatever the architecture.
 */
import { EngineError } from '../../errors.js';
import type { Tensor } from '../../tensor.js';
import type { TensorSource } from '../tensor-source.js';

export type CheckedTensorGetter = (name: string, shape: readonly number[]) => Tensor;

/** A getter over `source`; `family` names the checkpoint kind in the missing-tensor hint ("a GPT-NeoX checkpoint"). */
export function checkedTensorGetter(source: TensorSource, family: string): CheckedTensorGetter {
  const names = new Set(source.names());
  return (name, shape) => {
    if (!names.has(name)) {
      throw new EngineError('MISSING_TENSOR', `The checkpoint has no tensor "${name}".`, `The model.safetensors file is incomplete or not ${family}.`);
    }
    const t = source.get(name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new EngineError(
        'WRONG_SHAPE',
        `Tensor "${name}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] from config.json.`,
        'config.json and model.safetensors do not belong together.',
      );
    }
    return t;
  };
}

/** A matrix [rows, cols] transposed: [cols, rows]. */
export function transposeMatrix(t: Tensor): Float32Array {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  const src = t.data;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c]!;
  return out;
}
