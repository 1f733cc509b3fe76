/** ONNX Runtime tensors of the shapes the engine's graphs take. */
import * as ort from 'onnxruntime-node';

export const f32 = (data: Float32Array, dims: readonly number[]): ort.Tensor => new ort.Tensor('float32', data, dims);
/** ONNX bool tensors hold one byte per element. */
const bool = (data: Uint8Array, dims: readonly number[]): ort.Tensor => new ort.Tensor('bool', data, dims);
export const int64 = (values: readonly number[]): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [values.length]);
/** A scalar bool input. */
export const flag = (on: boolean): ort.Tensor => bool(Uint8Array.of(on ? 1 : 0), []);

/** prefix_rows of a call that is not packed. */
export const NOT_PACKED = new ort.Tensor('int64', new BigInt64Array(1), [1]);
/** An empty row list. */
export const NO_ROWS = new BigInt64Array(0);
/** Row indices for ScatterND / GatherND: `width` coordinates a row, [k, width]. */
export const indexTensor = (index: BigInt64Array, width: number): ort.Tensor => new ort.Tensor('int64', index, [index.length / width, width]);
