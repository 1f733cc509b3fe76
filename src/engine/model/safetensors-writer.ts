/**
 * Writer of the safetensors format, byte-compatible with Python's `safetensors` (its Rust core):
 * tensors are ordered by dtype alignment (F32, then BF16, then F16) and then by name, the header
 * is compact JSON with `__metadata__` first and is padded with spaces to a multiple of 8 bytes,
 * so the data section starts 8-aligned and every tensor's data is aligned to its element size.
 * The same input always gives the same bytes.
 *
 * Used for activation caches that Python loads with `safetensors.numpy.load_file`, and for the
 * generated checkpoints of tests and the model organisms.
 */
import { open } from 'node:fs/promises';
import { EngineError } from '../errors.js';

export type WritableDtype = 'F32' | 'F16' | 'BF16';

export interface TensorToWrite {
  name: string;
  /** How the values are stored in the file; they are always given as float32. */
  dtype: WritableDtype;
  shape: readonly number[];
  /** Row-major values, `prod(shape)` of them. */
  data: Float32Array;
}

/** Where each tensor goes: the header bytes (length prefix, JSON, padding) and the data order. */
interface SafetensorsLayout {
  header: Uint8Array;
  /** Tensors in file order. */
  ordered: TensorToWrite[];
  /** Size of the whole file in bytes. */
  fileBytes: number;
}

const DTYPE_BYTES: Record<WritableDtype, number> = { F32: 4, BF16: 2, F16: 2 };
/** Python safetensors sorts by descending dtype (its enum order: F16 < BF16 < F32), then by name. */
const DTYPE_RANK: Record<WritableDtype, number> = { F32: 0, BF16: 1, F16: 2 };

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Rust compares Strings bytewise (UTF-8), which differs from JS's UTF-16 order for astral characters. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function layoutSafetensors(tensors: readonly TensorToWrite[], metadata: Readonly<Record<string, string>> | undefined): SafetensorsLayout {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name.length === 0 || t.name === '__metadata__') {
      throw new EngineError(
        'BAD_ARGUMENT',
        `Cannot write a tensor named "${t.name}" to safetensors.`,
        'Give every tensor a non-empty name other than __metadata__.',
      );
    }
    if (seen.has(t.name)) throw new EngineError('BAD_ARGUMENT', `Tensor "${t.name}" is given twice.`, 'Give every tensor a unique name.');
    seen.add(t.name);
    if (!(t.dtype in DTYPE_BYTES)) throw new EngineError('UNSUPPORTED_DTYPE', `Cannot write dtype ${String(t.dtype)}.`, 'Write F32, F16 or BF16.');
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || size !== t.data.length) {
      throw new EngineError(
        'WRONG_SHAPE',
        `Tensor "${t.name}" has shape [${t.shape.join(', ')}] but ${t.data.length} values.`,
        'Pass data with exactly prod(shape) values.',
      );
    }
  }

  const ordered = [...tensors].sort((a, b) => DTYPE_RANK[a.dtype] - DTYPE_RANK[b.dtype] || compareUtf8(a.name, b.name));

  // Built as a string so the key order is exactly the file order (JSON.stringify keeps insertion order,
  // but a tensor named like an integer would be moved first by a plain object).
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const sortedMetadata = Object.keys(metadata)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`);
    parts.push(`"__metadata__":{${sortedMetadata.join(',')}}`);
  }
  let offset = 0;
  for (const t of ordered) {
    const bytes = t.data.length * DTYPE_BYTES[t.dtype];
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + bytes}]}`);
    offset += bytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padding = (8 - (json.length % 8)) % 8;
  const headerLength = json.length + padding;

  const header = new Uint8Array(8 + headerLength);
  const view = new DataView(header.buffer);
  view.setUint32(0, headerLength % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.length);
  return { header, ordered, fileBytes: header.length + offset };
}

/** The stored bytes of one tensor: a view of its data for F32 (no copy), a converted copy otherwise. */
function tensorBytes(t: TensorToWrite): Uint8Array {
  if (t.dtype === 'F32') {
    if (HOST_IS_LITTLE_ENDIAN) return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const out = new Uint8Array(t.data.length * 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < t.data.length; i++) view.setFloat32(i * 4, t.data[i]!, true);
    return out;
  }
  const halves = t.dtype === 'F16' ? f32ToF16(t.data) : f32ToBf16(t.data);
  if (HOST_IS_LITTLE_ENDIAN) return new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength);
  const out = new Uint8Array(halves.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < halves.length; i++) view.setUint16(i * 2, halves[i]!, true);
  return out;
}

/** Serializes tensors to a safetensors file image in memory. */
export function writeSafetensors(tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const { header, ordered, fileBytes } = layoutSafetensors(tensors, metadata);
  const out = new Uint8Array(fileBytes);
  out.set(header, 0);
  let at = header.length;
  for (const t of ordered) {
    const bytes = tensorBytes(t);
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/**
 * Writes a safetensors file to `path` tensor by tensor, without building the whole image in
 * memory (GPT-2 small is 500 MB). Returns the number of bytes written.
 */
export async function writeSafetensorsFile(path: string, tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): Promise<number> {
  const { header, ordered, fileBytes } = layoutSafetensors(tensors, metadata);
  const file = await open(path, 'w');
  try {
    await writeFully(file, header);
    for (const t of ordered) await writeFully(file, tensorBytes(t));
  } finally {
    await file.close();
  }
  return fileBytes;
}

async function writeFully(file: Awaited<ReturnType<typeof open>>, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

/** The number of bytes the data of `tensors` takes in a file (the `total_size` of a shard index). */
export function safetensorsDataBytes(tensors: readonly TensorToWrite[]): number {
  return tensors.reduce((sum, t) => sum + t.data.length * DTYPE_BYTES[t.dtype], 0);
}

/**
 * float32 -> IEEE half-precision bit patterns, rounding to nearest even as numpy and torch do:
 * overflow gives ±inf, tiny values become subnormals or ±0, NaN stays NaN.
 */
export function f32ToF16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const magnitude = x & 0x7fffffff;
    let half: number;
    if (magnitude >= 0x47800000) {
      // |x| >= 65536 (beyond the largest half after rounding), inf or NaN.
      half = magnitude > 0x7f800000 ? 0x7e00 : 0x7c00;
    } else if (magnitude < 0x38800000) {
      // |x| < 2^-14: a half subnormal, value = round_even(|x| * 2^24) * 2^-24 (exact in double).
      const scaled = Math.abs(values[i]!) * 16777216;
      let rounded = Math.floor(scaled);
      const rest = scaled - rounded;
      if (rest > 0.5 || (rest === 0.5 && (rounded & 1) === 1)) rounded++;
      half = rounded; // 1024 rounds up into the smallest normal, whose bits are 0x0400: still right.
    } else {
      // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest even.
      const mantissaOdd = (magnitude >>> 13) & 1;
      half = (magnitude + ((15 - 127) << 23) + 0xfff + mantissaOdd) >>> 13;
    }
    out[i] = sign | half;
  }
  return out;
}

/** float32 -> bfloat16 bit patterns, rounding to nearest even; NaN stays a quiet NaN. */
export function f32ToBf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i]!;
    if ((x & 0x7fffffff) > 0x7f800000) {
      out[i] = (x >>> 16) | 0x0040;
      continue;
    }
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}
