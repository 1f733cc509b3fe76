/**
 * A dense float32 tensor in row-major order. Shapes are named at each use site in the code
 * (e.g. `[head, query, key]`), following TransformerLens conventions with the batch dimension dropped.
 */
export interface Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

export function tensor(data: Float32Array, shape: readonly number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`tensor: shape [${shape.join(', ')}] needs ${size} values, got ${data.length}`);
  return { data, shape };
}

export function zeros(shape: readonly number[]): Tensor {
  return tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A view of row `i` of a tensor's first dimension, without copying. */
export function row(t: Tensor, i: number): Float32Array {
  const stride = t.data.length / (t.shape[0] ?? 1);
  return t.data.subarray(i * stride, (i + 1) * stride);
}
