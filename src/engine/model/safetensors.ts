/**
 * Reader of the safetensors format (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes: header length N, little-endian u64][N bytes: JSON header][data]
 *
 * The header maps tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative
 * to the start of the data section) and may hold a `__metadata__` map of strings.
 *
 * Nothing is copied at parse time: each entry only records where its bytes are. Float data is
 * produced on request: F32 as a zero-copy view into the file buffer when the byte offset allows
 * it, F16/BF16/F64 converted into a fresh Float32Array. `openSafetensors` reads only the header
 * of a file on disk and each tensor's bytes, when asked, into a buffer of their own, so that the
 * memory of tensors nobody keeps can be freed one by one (a whole-file buffer is freed only when
 * no tensor is left in it). Tensors of other dtypes (I64 position
 * ids, BOOL masks, ...) are listed and only fail when their float data is asked for.
 *
 * Also reads `model.safetensors.index.json`, the map of a sharded checkpoint.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { EngineError } from '../errors.js';
import { assertSafeRelativePath } from './shard-path.js';

/** Dtype names as they appear in safetensors headers, with their element size in bytes. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  U16: 2,
  I16: 2,
  F16: 2,
  BF16: 2,
  U32: 4,
  I32: 4,
  F32: 4,
  U64: 8,
  I64: 8,
  F64: 8,
};

/** The dtypes whose values can be read as float32. */
export const FLOAT_DTYPES = ['F32', 'F16', 'BF16', 'F64'] as const;
export type FloatDtype = (typeof FLOAT_DTYPES)[number];

export interface SafetensorsTensor {
  readonly name: string;
  /** The dtype string of the header, e.g. "F32", "BF16", "I64". */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Byte offset of the tensor's data from the start of the file. */
  readonly byteOffset: number;
  readonly byteLength: number;
  /**
   * The values as float32, row-major in `shape`. From a file buffer, aligned F32 data is a view into
   * it (no copy: writing to it writes the buffer); anything else, and anything read from disk, is a
   * fresh array on every call.
   * Throws UNSUPPORTED_DTYPE for dtypes that are not F32/F16/BF16/F64.
   */
  float32(): Float32Array;
  /** The raw bytes of the tensor: a view into the file buffer, or a fresh read from disk. */
  bytes(): Uint8Array;
}

export interface SafetensorsFile {
  /** What the file is called in error messages (usually its path). */
  readonly label: string;
  /** The `__metadata__` map, empty when absent. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every tensor, in header order. */
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  /** The tensor called `name`; throws MISSING_TENSOR when there is none. */
  get(name: string): SafetensorsTensor;
}

/** The parsed `model.safetensors.index.json` of a sharded checkpoint. */
export interface ShardedIndex {
  /** The `metadata` object (e.g. `total_size`), empty when absent. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Tensor name -> shard file name (relative to the checkpoint folder). */
  readonly weightMap: ReadonlyMap<string, string>;
  /** The distinct shard paths (`/`-separated, relative to the checkpoint folder), sorted. */
  readonly shardFiles: readonly string[];
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function corrupt(label: string, problem: string): EngineError {
  return new EngineError('CORRUPT_WEIGHTS', `${label}: ${problem}.`, 'Download the checkpoint again or point Circuit Trace at an intact model folder.');
}

/** Reads `length` bytes of a safetensors file from byte `offset` (offsets are checked beforehand). */
type ByteReader = (offset: number, length: number) => Uint8Array;

/** Parses the header of a safetensors file held in `buffer`. `fileLabel` names it in errors. */
export function readSafetensors(buffer: Uint8Array, fileLabel: string): SafetensorsFile {
  if (buffer.byteLength < 8) {
    throw corrupt(fileLabel, `truncated: ${buffer.byteLength} bytes is shorter than the 8-byte header length`);
  }
  const headerLength = headerLengthOf(buffer.subarray(0, 8));
  if (8 + headerLength > buffer.byteLength) {
    throw corrupt(fileLabel, `truncated: the header claims ${headerLength} bytes but the file has only ${buffer.byteLength - 8} after the length`);
  }
  return parseFile(buffer.subarray(8, 8 + headerLength), buffer.byteLength, fileLabel, (offset, length) => buffer.subarray(offset, offset + length));
}

/**
 * Opens the safetensors file at `path`, reading its header now and each tensor's bytes when they
 * are asked for, into a fresh buffer each time. `fileLabel` names it in errors (default: the path).
 */
export function openSafetensors(path: string, fileLabel = path): SafetensorsFile {
  const fd = openSync(path, 'r');
  let fileSize: number, modified: number, headerBytes: Uint8Array;
  try {
    ({ size: fileSize, mtimeMs: modified } = fstatSync(fd));
    if (fileSize < 8) throw corrupt(fileLabel, `truncated: ${fileSize} bytes is shorter than the 8-byte header length`);
    const headerLength = headerLengthOf(readExactly(fd, 0, 8, fileLabel));
    if (8 + headerLength > fileSize) {
      throw corrupt(fileLabel, `truncated: the header claims ${headerLength} bytes but the file has only ${fileSize - 8} after the length`);
    }
    headerBytes = readExactly(fd, 8, headerLength, fileLabel);
  } finally {
    closeSync(fd);
  }
  return parseFile(headerBytes, fileSize, fileLabel, (offset, length) => {
    const tensorFd = openSync(path, 'r');
    try {
      // Tensors may be read long after the header (adapters read block weights as the runtime
      // builds their graphs): a file replaced since then would give another file's bytes.
      const now = fstatSync(tensorFd);
      if (now.size !== fileSize || now.mtimeMs !== modified) {
        throw new EngineError(
          'CORRUPT_WEIGHTS',
          `${fileLabel} changed on disk after the model began loading (its size or modification time differs).`,
          'Load the model again.',
        );
      }
      return readExactly(tensorFd, offset, length, fileLabel);
    } finally {
      closeSync(tensorFd);
    }
  });
}

/** `length` bytes from `offset` of an open file, in a buffer of their own; CORRUPT_WEIGHTS if the file ends first. */
function readExactly(fd: number, offset: number, length: number, label: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, offset + done);
    if (n === 0) throw corrupt(label, `truncated: the file ended ${length - done} bytes before the data at byte ${offset + length}`);
    done += n;
  }
  return out;
}

/** The little-endian u64 header length (a value above 2^53 cannot be a real header and needs no exact value to reject). */
function headerLengthOf(first8: Uint8Array): number {
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  return view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
}

function parseFile(headerBytes: Uint8Array, fileSize: number, fileLabel: string, read: ByteReader): SafetensorsFile {
  const dataStart = 8 + headerBytes.byteLength;
  const dataLength = fileSize - dataStart;

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw corrupt(fileLabel, `the header is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isPlainObject(header)) throw corrupt(fileLabel, 'the header is not a JSON object');

  let metadata: Record<string, string> = {};
  const entries: Array<TensorInfo & { name: string }> = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(info, fileLabel);
      continue;
    }
    entries.push({ name, ...parseTensorInfo(name, info, fileLabel, dataLength) });
  }
  assertRangesTileData(entries, dataLength, fileLabel);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const entry of entries) {
    tensors.set(entry.name, makeTensor(read, entry.name, entry.dtype, entry.shape, dataStart + entry.begin, entry.end - entry.begin, fileLabel));
  }

  return {
    label: fileLabel,
    metadata,
    tensors,
    get(name: string): SafetensorsTensor {
      const tensor = tensors.get(name);
      if (!tensor) {
        throw new EngineError(
          'MISSING_TENSOR',
          `${fileLabel} has no tensor "${name}".`,
          'The checkpoint does not match its config.json; check that the model folder is complete.',
        );
      }
      return tensor;
    },
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseMetadata(info: unknown, label: string): Record<string, string> {
  if (!isPlainObject(info)) throw corrupt(label, '__metadata__ is not an object');
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(info)) {
    if (typeof value !== 'string') throw corrupt(label, `__metadata__.${key} is not a string`);
    metadata[key] = value;
  }
  return metadata;
}

interface TensorInfo {
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

function parseTensorInfo(name: string, info: unknown, label: string, dataLength: number): TensorInfo {
  if (!isPlainObject(info)) throw corrupt(label, `the header entry of "${name}" is not an object`);
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== 'string') throw corrupt(label, `"${name}" has no dtype`);
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) throw corrupt(label, `"${name}" has a malformed shape`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw corrupt(label, `"${name}" has malformed data_offsets`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw corrupt(label, `"${name}" has data_offsets [${begin}, ${end}] that end before they begin`);
  if (end > dataLength) {
    throw corrupt(label, `truncated: "${name}" ends at data byte ${end} but the data section has only ${dataLength} bytes`);
  }
  const elementBytes = DTYPE_BYTES[dtype];
  if (elementBytes !== undefined) {
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * elementBytes;
    if (expected !== end - begin) {
      throw corrupt(
        label,
        `the header lies about sizes: "${name}" is ${dtype} [${shape.join(', ')}] (${expected} bytes) but its data_offsets span ${end - begin} bytes`,
      );
    }
  }
  // Unknown dtypes cannot be size-checked; they are listed and fail when their data is requested.
  return { dtype, shape: shape as number[], begin, end };
}

/**
 * The safetensors spec's validation: sorted by offset, the tensors' byte ranges must follow one
 * another from data byte 0 to the end of the file, with no overlap (two tensors reading the same
 * bytes), no gap and no trailing bytes. A header that breaks this was not written by safetensors
 * and gives garbage weights, so it is refused rather than read.
 */
function assertRangesTileData(entries: ReadonlyArray<TensorInfo & { name: string }>, dataLength: number, label: string): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let previous: string | null = null;
  for (const entry of sorted) {
    if (entry.begin < expected) {
      throw corrupt(label, `the byte ranges of "${entry.name}" [${entry.begin}, ${entry.end}) and "${previous}" overlap (it ends at data byte ${expected})`);
    }
    if (entry.begin > expected) {
      const after = previous === null ? 'the start of the data' : `"${previous}", which ends at data byte ${expected}`;
      throw corrupt(label, `a gap in the data: "${entry.name}" starts at data byte ${entry.begin}, after ${after}`);
    }
    expected = entry.end;
    previous = entry.name;
  }
  if (expected !== dataLength) {
    throw corrupt(
      label,
      `the data section has ${dataLength - expected} bytes after the last tensor (${dataLength} bytes, the tensors end at data byte ${expected})`,
    );
  }
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function makeTensor(
  read: ByteReader,
  name: string,
  dtype: string,
  shape: readonly number[],
  byteOffset: number,
  byteLength: number,
  label: string,
): SafetensorsTensor {
  return {
    name,
    dtype,
    shape,
    byteOffset,
    byteLength,
    bytes: () => read(byteOffset, byteLength),
    float32: () => {
      const bytes = read(byteOffset, byteLength);
      switch (dtype) {
        case 'F32':
          return f32View(bytes);
        case 'F16':
          return f16ToF32(u16View(bytes));
        case 'BF16':
          return bf16ToF32(u16View(bytes));
        case 'F64':
          return new Float32Array(f64View(bytes));
        default:
          throw new EngineError(
            'UNSUPPORTED_DTYPE',
            `${label}: tensor "${name}" has dtype ${dtype}, which cannot be read as floating-point weights.`,
            `Use a checkpoint whose weights are ${FLOAT_DTYPES.join(', ')}.`,
          );
      }
    },
  };
}

/** float32 values of little-endian F32 bytes: a view when aligned, a copy otherwise. */
function f32View(bytes: Uint8Array): Float32Array {
  const count = bytes.byteLength / 4;
  if (HOST_IS_LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  if (HOST_IS_LITTLE_ENDIAN) return new Float32Array(bytes.slice().buffer, 0, count);
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

function u16View(bytes: Uint8Array): Uint16Array {
  const count = bytes.byteLength / 2;
  if (HOST_IS_LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, count);
  if (HOST_IS_LITTLE_ENDIAN) return new Uint16Array(bytes.slice().buffer, 0, count);
  const out = new Uint16Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) out[i] = view.getUint16(i * 2, true);
  return out;
}

function f64View(bytes: Uint8Array): Float64Array {
  const count = bytes.byteLength / 8;
  if (HOST_IS_LITTLE_ENDIAN && bytes.byteOffset % 8 === 0) return new Float64Array(bytes.buffer, bytes.byteOffset, count);
  if (HOST_IS_LITTLE_ENDIAN) return new Float64Array(bytes.slice().buffer, 0, count);
  const out = new Float64Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}

/**
 * float32 bit patterns of all 65536 half-precision values, built on first use (256 KB).
 * A table lookup is the fastest conversion in JS and is exact, including subnormals, ±inf and NaN.
 */
let f16Table: Uint32Array | null = null;

function halfToFloatBits(half: number): number {
  const sign = (half & 0x8000) << 16;
  const exponent = (half >> 10) & 0x1f;
  let mantissa = half & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0; // inf / NaN (payload kept)
  if (exponent !== 0) return (sign | ((exponent - 15 + 127) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0; // ±0
  // Subnormal half: value = mantissa * 2^-24. Shift until the implicit bit appears; every one is normal in float32.
  let e = -14;
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    e--;
  }
  return (sign | ((e + 127) << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}

function getF16Table(): Uint32Array {
  if (f16Table) return f16Table;
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = halfToFloatBits(h);
  f16Table = table;
  return table;
}

/** IEEE 754 half-precision bit patterns -> float32 values. */
export function f16ToF32(halves: Uint16Array): Float32Array {
  const table = getF16Table();
  const bits = new Uint32Array(halves.length);
  for (let i = 0; i < halves.length; i++) bits[i] = table[halves[i]!]!;
  return new Float32Array(bits.buffer);
}

/** bfloat16 bit patterns -> float32 values (bfloat16 is the top half of a float32). */
export function bf16ToF32(halves: Uint16Array): Float32Array {
  const bits = new Uint32Array(halves.length);
  for (let i = 0; i < halves.length; i++) bits[i] = halves[i]! << 16;
  return new Float32Array(bits.buffer);
}

/**
 * Parses `model.safetensors.index.json` (given as text or parsed JSON). Shard paths must pass
 * shard-path.ts's rule (subfolders allowed, nothing that leaves the folder), the same rule the
 * downloader applies, so a hostile index cannot make the loader read outside the model folder.
 */
export function readShardedIndex(json: unknown, fileLabel = 'model.safetensors.index.json'): ShardedIndex {
  let index = json;
  if (typeof json === 'string') {
    try {
      index = JSON.parse(json);
    } catch (error) {
      throw corrupt(fileLabel, `not valid JSON (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  if (!isPlainObject(index)) throw corrupt(fileLabel, 'not a JSON object');
  const { weight_map: weightMapJson, metadata } = index;
  if (!isPlainObject(weightMapJson)) throw corrupt(fileLabel, 'it has no "weight_map" object');
  if (metadata !== undefined && metadata !== null && !isPlainObject(metadata)) throw corrupt(fileLabel, '"metadata" is not an object');

  const weightMap = new Map<string, string>();
  const shards = new Set<string>();
  for (const [name, file] of Object.entries(weightMapJson)) {
    if (typeof file !== 'string') throw corrupt(fileLabel, `the weight_map entry of "${name}" is not a file name`);
    assertSafeRelativePath(file, fileLabel);
    weightMap.set(name, file);
    shards.add(file);
  }
  if (shards.size === 0) throw corrupt(fileLabel, 'its weight_map lists no shards');
  return {
    metadata: (metadata as Record<string, unknown> | undefined | null) ?? {},
    weightMap,
    shardFiles: [...shards].sort(),
  };
}
