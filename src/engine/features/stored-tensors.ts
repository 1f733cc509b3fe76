/**
 * Reading a dictionary's small tensors (encoders, biases, thresholds) from safetensors files:
 * converted to float32 at once, their shapes checked against what the config and the model say,
 * and every value checked to be finite.
 */
import { EngineError } from '../errors.js';
import { assertFiniteTensor } from '../model/finite-check.js';
import { FLOAT_DTYPES, type SafetensorsFile, type SafetensorsTensor } from '../model/safetensors.js';

/** A shape without its leading 1s ([1, 16] and [16] hold the same values). */
function squeezeLeading(shape: readonly number[]): readonly number[] {
  let i = 0;
  while (i < shape.length - 1 && shape[i] === 1) i++;
  return shape.slice(i);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  const x = squeezeLeading(a);
  const y = squeezeLeading(b);
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

/** Throws WRONG_SHAPE naming the tensor unless it is `expected` (leading 1s aside), and UNSUPPORTED_DTYPE unless it is a float. */
export function assertTensorShape(tensor: SafetensorsTensor, expected: readonly number[], label: string): void {
  if (!(FLOAT_DTYPES as readonly string[]).includes(tensor.dtype)) {
    throw new EngineError(
      'UNSUPPORTED_DTYPE',
      `${label}: tensor "${tensor.name}" has dtype ${tensor.dtype}; dictionary weights must be ${FLOAT_DTYPES.join(', ')}.`,
    );
  }
  if (!sameShape(tensor.shape, expected)) {
    throw new EngineError(
      'WRONG_SHAPE',
      `${label}: tensor "${tensor.name}" is [${tensor.shape.join(', ')}] but the dictionary's config and the model make it [${expected.join(', ')}].`,
      'The dictionary files do not match its config or the model; download it again or load it with the model it was trained on.',
    );
  }
}

/** The tensor `name` of `file` as float32, checked to be `expected` and finite. */
export function readCheckedTensor(file: SafetensorsFile, name: string, expected: readonly number[], label: string): Float32Array {
  const tensor = file.get(name);
  assertTensorShape(tensor, expected, label);
  const values = tensor.float32();
  // A view into a file buffer would keep the buffer alive and be writable through: copy views.
  const data = values.byteOffset === 0 && values.buffer.byteLength === values.byteLength ? values : values.slice();
  assertFiniteTensor(data, expected, name, label);
  return data;
}

/** [rows, cols] row-major -> [cols, rows] row-major. */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c]!;
  }
  return out;
}

/** The tensor named by the first of `names` the file has, or null. */
export function firstTensor(file: SafetensorsFile, names: readonly string[]): SafetensorsTensor | null {
  for (const name of names) {
    const tensor = file.tensors.get(name);
    if (tensor) return tensor;
  }
  return null;
}
