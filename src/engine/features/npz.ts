/**
 * numpy's .npz (a ZIP archive of .npy files, as np.savez and np.savez_compressed write them: entries
 * stored or deflated) and .npy (magic `\x93NUMPY`, version, a header dict with descr, fortran_order
 * and shape, then the array's bytes).
 *
 * Reads little-endian float arrays ('<f4', '<f2', '<f8'; '|u1'-style dtypes and big-endian ones are
 * refused) in C order. The archive is read by the project's zip reader (zip64, CRC-32 checks).
 */
import { EngineError } from '../errors.js';
import { f16ToF32 } from '../model/safetensors.js';
import { corruptArchive, openZipArchive, type ZipArchiveHints } from '../model/zip-archive.js';

export interface NpyArray {
  /** numpy's descr, e.g. '<f4'. */
  descr: string;
  shape: number[];
  /** The values as float32, C order. */
  data: Float32Array;
}

const DICTIONARY_HINTS: ZipArchiveHints = {
  damaged: 'The file is damaged; download the dictionary again.',
  changed: 'Load the dictionary again.',
  unsupportedMethod: 'Save it again with np.savez or np.savez_compressed.',
};

function corrupt(label: string, problem: string): EngineError {
  return corruptArchive(label, problem, DICTIONARY_HINTS.damaged);
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
  const archive = openZipArchive(path, {
    label,
    hints: DICTIONARY_HINTS,
    onNotZip: () => corrupt(label, 'not a zip archive (numpy writes an .npz as one)'),
  });
  const arrays = new Map<string, NpyArray>();
  for (const record of archive.records.values()) {
    if (!record.name.endsWith('.npy')) continue;
    const bytes = archive.read(record);
    arrays.set(record.name.slice(0, -4), parseNpy(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), `${label}:${record.name}`));
  }
  return arrays;
}
