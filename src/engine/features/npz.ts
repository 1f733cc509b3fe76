/**
 * numpy's .npz (a ZIP archive of .npy files, as np.savez and np.savez_compressed write them: entries
 * stored or deflated) and .npy (magic `\x93NUMPY`, version, a header dict with descr, fortran_order
 * and shape, then the array's bytes).
 *
 * Reads little-endian float arrays ('<f4', '<f2', '<f8'; '|u1'-style dtypes and big-endian ones are
 * refused) in C order. ZIP64 archives (members over 4 GiB) are read from their extra fields.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32, inflateRawSync } from 'node:zlib';
import { EngineError } from '../errors.js';
import { f16ToF32 } from '../model/safetensors.js';

export interface NpyArray {
  /** numpy's descr, e.g. '<f4'. */
  descr: string;
  shape: number[];
  /** The values as float32, C order. */
  data: Float32Array;
}

function corrupt(label: string, problem: string): EngineError {
  return new EngineError('CORRUPT_WEIGHTS', `${label}: ${problem}.`, 'Download the dictionary again.');
}

function readAt(fd: number, offset: number, length: number, label: string): Buffer {
  const out = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, offset + done);
    if (n === 0) throw corrupt(label, `the file ends before byte ${offset + length}`);
    done += n;
  }
  return out;
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  localHeaderOffset: number;
}

/** The central directory of a ZIP file. */
function zipEntries(fd: number, fileSize: number, label: string): ZipEntry[] {
  const tailLength = Math.min(fileSize, 22 + 65535);
  const tail = readAt(fd, fileSize - tailLength, tailLength, label);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupt(label, 'not a ZIP archive (no end of central directory)');
  let count = tail.readUInt16LE(eocd + 10);
  let dirSize = tail.readUInt32LE(eocd + 12);
  let dirOffset = tail.readUInt32LE(eocd + 16);
  // ZIP64: the locator sits right before the end record and points at the ZIP64 end record.
  if ((dirOffset === 0xffffffff || count === 0xffff) && eocd >= 20 && tail.readUInt32LE(eocd - 20) === 0x07064b50) {
    const record = readAt(fd, Number(tail.readBigUInt64LE(eocd - 20 + 8)), 56, label);
    if (record.readUInt32LE(0) !== 0x06064b50) throw corrupt(label, 'a broken ZIP64 end record');
    count = Number(record.readBigUInt64LE(32));
    dirSize = Number(record.readBigUInt64LE(40));
    dirOffset = Number(record.readBigUInt64LE(48));
  }
  if (dirOffset + dirSize > fileSize) throw corrupt(label, 'the ZIP directory lies past the end of the file');
  const dir = readAt(fd, dirOffset, dirSize, label);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dir.length || dir.readUInt32LE(p) !== 0x02014b50) throw corrupt(label, `ZIP directory entry ${i} is malformed`);
    const method = dir.readUInt16LE(p + 10);
    const crc = dir.readUInt32LE(p + 16);
    let compressedSize = dir.readUInt32LE(p + 20);
    let size = dir.readUInt32LE(p + 24);
    const nameLength = dir.readUInt16LE(p + 28);
    const extraLength = dir.readUInt16LE(p + 30);
    const commentLength = dir.readUInt16LE(p + 32);
    let localHeaderOffset = dir.readUInt32LE(p + 42);
    const name = dir.toString('utf8', p + 46, p + 46 + nameLength);
    // ZIP64 extra field (id 1): the 64-bit sizes and offset, for each 32-bit field that is saturated.
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = dir.readUInt16LE(e);
      const length = dir.readUInt16LE(e + 2);
      if (id === 1) {
        let q = e + 4;
        if (size === 0xffffffff) {
          size = Number(dir.readBigUInt64LE(q));
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = Number(dir.readBigUInt64LE(q));
          q += 8;
        }
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = Number(dir.readBigUInt64LE(q));
      }
      e += 4 + length;
    }
    entries.push({ name, method, compressedSize, size, crc, localHeaderOffset });
    p = extraEnd + commentLength;
  }
  return entries;
}

/** Parses a .npy file's bytes. */
export function parseNpy(bytes: Buffer, label: string): NpyArray {
  if (bytes.length < 10 || bytes.readUInt32BE(0) !== 0x934e554d || bytes.toString('latin1', 4, 6) !== 'PY')
    throw corrupt(label, 'not a .npy array (bad magic)');
  const major = bytes[6]!;
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = bytes.toString(major >= 3 ? 'utf8' : 'latin1', start, start + headerLength);
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw corrupt(label, `a .npy header without descr, fortran_order and shape (${header.trim()})`);
  if (fortran === 'True') throw new EngineError('UNSUPPORTED_DTYPE', `${label} is stored in Fortran order, which is not supported.`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw corrupt(label, `a malformed shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = bytes.subarray(start + headerLength);
  const itemSize = { '<f4': 4, '<f2': 2, '<f8': 8 }[descr];
  if (itemSize === undefined)
    throw new EngineError('UNSUPPORTED_DTYPE', `${label} has dtype ${descr}; dictionary weights must be little-endian float16, float32 or float64.`);
  if (body.length !== count * itemSize)
    throw corrupt(label, `[${shape.join(', ')}] of ${descr} needs ${count * itemSize} bytes but ${body.length} follow the header`);
  const aligned = new Uint8Array(body.length);
  aligned.set(body);
  const data =
    descr === '<f4'
      ? new Float32Array(aligned.buffer)
      : descr === '<f2'
        ? f16ToF32(new Uint16Array(aligned.buffer))
        : Float32Array.from(new Float64Array(aligned.buffer));
  return { descr, shape, data };
}

/** Every array of the .npz at `path`, by name (without `.npy`). */
export function readNpz(path: string, label = path): Map<string, NpyArray> {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    const arrays = new Map<string, NpyArray>();
    for (const entry of zipEntries(fd, fileSize, label)) {
      if (!entry.name.endsWith('.npy')) continue;
      const local = readAt(fd, entry.localHeaderOffset, 30, label);
      if (local.readUInt32LE(0) !== 0x04034b50) throw corrupt(label, `the local header of ${entry.name} is malformed`);
      const dataStart = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      const stored = readAt(fd, dataStart, entry.compressedSize, label);
      let bytes: Buffer;
      if (entry.method === 0) bytes = stored;
      else if (entry.method === 8) {
        try {
          bytes = inflateRawSync(stored);
        } catch (error) {
          throw corrupt(label, `${entry.name} does not inflate (${(error as Error).message})`);
        }
      } else
        throw new EngineError(
          'UNSUPPORTED_DTYPE',
          `${label}: ${entry.name} is compressed with ZIP method ${entry.method}; only stored and deflated entries are read.`,
        );
      if (bytes.length !== entry.size) throw corrupt(label, `${entry.name} is ${bytes.length} bytes, not the ${entry.size} its directory says`);
      if (crc32(bytes) >>> 0 !== entry.crc >>> 0) throw corrupt(label, `${entry.name} fails its CRC-32 check`);
      arrays.set(entry.name.slice(0, -4), parseNpy(bytes, `${label}:${entry.name}`));
    }
    return arrays;
  } finally {
    closeSync(fd);
  }
}
