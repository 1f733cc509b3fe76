/**
 * The load-time check that every weight is a finite number. A NaN or an infinity in a checkpoint
 * (a diverged training run, a damaged file, an F16 export that overflowed) would otherwise turn
 * every activation downstream of it into NaN, and the analyses into nonsense, without an error.
 *
 * Cost: one pass over each tensor as it is read, small beside reading the file (docs/benchmarks.md).
 */
import { EngineError } from '../errors.js';

/** Elements summed per block before the block's result is tested; a multiple of 4. */
const BLOCK = 1024;

/** The index of the first NaN or ±Infinity in `data`, or -1 when all are finite. */
export function firstNonFiniteIndex(data: Float32Array): number {
  const n = data.length;
  let start = 0;
  // x * 0 is 0 for every finite x and NaN for NaN and ±Infinity, so a block's sum is non-zero
  // exactly when it holds a non-finite value. Four accumulators let the additions overlap.
  for (; start + BLOCK <= n; start += BLOCK) {
    let a = 0,
      b = 0,
      c = 0,
      d = 0;
    for (let i = start; i < start + BLOCK; i += 4) {
      a += data[i]! * 0;
      b += data[i + 1]! * 0;
      c += data[i + 2]! * 0;
      d += data[i + 3]! * 0;
    }
    if (a + b + c + d !== 0) return scan(data, start, start + BLOCK);
  }
  return scan(data, start, n);
}

function scan(data: Float32Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const x = data[i]!;
    if (x - x !== 0) return i;
  }
  return -1;
}

/** `index` of a row-major tensor of `shape` as a position, e.g. [2, 5]. */
function position(index: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length).fill(0);
  let rest = index;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const size = shape[axis]!;
    out[axis] = size > 0 ? rest % size : 0;
    rest = size > 0 ? Math.floor(rest / size) : 0;
  }
  return out;
}

/**
 * Throws NON_FINITE naming the tensor, the value and where it is, if `data` holds a NaN or an infinity.
 * @param label the file the tensor came from
 */
export function assertFiniteTensor(data: Float32Array, shape: readonly number[], name: string, label: string): void {
  const index = firstNonFiniteIndex(data);
  if (index < 0) return;
  throw new EngineError(
    'NON_FINITE',
    `Tensor "${name}" of ${label} holds ${String(data[index])} at index ${index} ([${position(index, shape).join(', ')}] of [${shape.join(', ')}]); weights must be finite numbers.`,
    'The checkpoint is damaged, or was saved from a run that diverged (or overflowed when converted to float16): download it again or use another checkpoint.',
  );
}
