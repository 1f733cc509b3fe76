/** Named float32 tensors of a checkpoint, whatever files they came from. */
import type { Tensor } from '../tensor.js';

export interface TensorSource {
  /** Every tensor name in the checkpoint. */
  names(): string[];
  /** The shape of a tensor, or undefined if absent. */
  shape(name: string): readonly number[] | undefined;
  /** The tensor as float32 (F16/BF16 converted); throws EngineError MISSING_TENSOR if absent, NON_FINITE if it holds NaN or ±Infinity. */
  get(name: string): Tensor;
}
