/**
 * Reader of the zip archives `torch.save` writes (PyTorch 1.6 and later; `pytorch_model.bin`):
 * only the central directory is read when the archive is opened; each record's bytes are read when
 * asked for, with positioned reads, and checked against the CRC-32 the directory gives. Records
 * are usually stored; deflated ones are inflated with node:zlib. Zip64 sizes and offsets (archives
 * and records over 4 GiB) are read; encrypted, split or otherwise compressed archives are refused.
 *
 * Records may be read long after the directory (adapters read block weights as the runtime builds
 * their graphs), so every read first checks that the file's size and modification time are still
 * those it had when it was opened: a file replaced since would give another file's bytes.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32, inflateRawSync } from 'node:zlib';
import { EngineError } from '../errors.js';

export interface ZipRecord {
  /** The record's name in the archive, e.g. `pytorch_model/data/0`. */
  readonly name: string;
  /** 0 stored, 8 deflated. */
  readonly method: 0 | 8;
  readonly crc32: number;
  readonly compressedSize: number;
  /** Size of the record's contents once inflated. */
  readonly size: number;
  readonly localHeaderOffset: number;
}

export interface ZipArchive {
  /** What the file is called in error messages (usually its path). */
  readonly label: string;
  /** Every record, in directory order. */
  readonly records: ReadonlyMap<string, ZipRecord>;
  /** The record's contents in a buffer of their own, CRC-checked; CORRUPT_WEIGHTS when they do not match the directory. */
  read(record: ZipRecord): Uint8Array;
  /** Where a stored record's contents start in the file. */
  dataOffset(record: ZipRecord): number;
}

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_DIRECTORY = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_END_OF_DIRECTORY = 0x06064b50;
/** The end-of-directory record is 22 bytes followed by a comment of at most 65535. */
const MAX_END_SEARCH = 22 + 0xffff;

export function corruptArchive(label: string, problem: string): EngineError {
  return new EngineError('CORRUPT_WEIGHTS', `${label}: ${problem}.`, 'Download the checkpoint again or point Circuit Trace at an intact model folder.');
}

/** Positioned reads of one file that refuse to read once the file changed on disk. */
class CheckedFile {
  constructor(
    private readonly path: string,
    private readonly label: string,
    readonly size: number,
    private readonly modified: number,
  ) {}

  static open(path: string, label: string): CheckedFile {
    const fd = openSync(path, 'r');
    try {
      const { size, mtimeMs } = fstatSync(fd);
      return new CheckedFile(path, label, size, mtimeMs);
    } finally {
      closeSync(fd);
    }
  }

  /** `length` bytes from `offset`, in a buffer of their own. */
  read(offset: number, length: number): Uint8Array {
    const fd = openSync(this.path, 'r');
    try {
      const now = fstatSync(fd);
      if (now.size !== this.size || now.mtimeMs !== this.modified) {
        throw new EngineError(
          'CORRUPT_WEIGHTS',
          `${this.label} changed on disk after the model began loading (its size or modification time differs).`,
          'Load the model again.',
        );
      }
      if (offset + length > this.size) {
        throw corruptArchive(this.label, `truncated: ${length} bytes at byte ${offset} reach past the end of the file (${this.size} bytes)`);
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw corruptArchive(this.label, `truncated: the file ended ${length - done} bytes before byte ${offset + length}`);
        done += n;
      }
      return out;
    } finally {
      closeSync(fd);
    }
  }
}

/** A little-endian reader over a buffer that fails with CORRUPT_WEIGHTS instead of reading past its end. */
class Fields {
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    private readonly label: string,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private check(at: number, n: number): void {
    if (at < 0 || at + n > this.bytes.byteLength) throw corruptArchive(this.label, `the ${this.what} is cut short`);
  }
  u16(at: number): number {
    this.check(at, 2);
    return this.view.getUint16(at, true);
  }
  u32(at: number): number {
    this.check(at, 4);
    return this.view.getUint32(at, true);
  }
  /** A u64 that must be a safe integer (no file here is 2^53 bytes). */
  u64(at: number): number {
    this.check(at, 8);
    const value = this.view.getUint32(at + 4, true) * 2 ** 32 + this.view.getUint32(at, true);
    if (!Number.isSafeInteger(value)) throw corruptArchive(this.label, `the ${this.what} holds a size or offset beyond 2^53`);
    return value;
  }
  slice(at: number, n: number): Uint8Array {
    this.check(at, n);
    return this.bytes.subarray(at, at + n);
  }
}

const PKZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/** Opens the zip archive at `path`: reads its central directory now, records when asked. */
export function openZipArchive(path: string, label = path): ZipArchive {
  const file = CheckedFile.open(path, label);
  if (file.size < 22) throw corruptArchive(label, `truncated: ${file.size} bytes is too short for a zip archive`);
  const head = file.read(0, Math.min(4, file.size));
  if (!PKZIP_MAGIC.every((b, i) => head[i] === b)) throw notAZip(label, head);

  const { entryCount, directoryOffset, directorySize } = findDirectory(file, label);
  const directory = new Fields(file.read(directoryOffset, directorySize), label, 'central directory');
  const records = new Map<string, ZipRecord>();
  let at = 0;
  for (let i = 0; i < entryCount; i++) {
    if (directory.u32(at) !== CENTRAL_HEADER) throw corruptArchive(label, `central directory entry ${i} has no valid signature`);
    const flags = directory.u16(at + 8);
    const method = directory.u16(at + 10);
    const checksum = directory.u32(at + 16);
    let compressedSize = directory.u32(at + 20);
    let size = directory.u32(at + 24);
    const nameLength = directory.u16(at + 28);
    const extraLength = directory.u16(at + 30);
    const commentLength = directory.u16(at + 32);
    const disk = directory.u16(at + 34);
    let localHeaderOffset = directory.u32(at + 42);
    const name = new TextDecoder('utf-8', { fatal: false }).decode(directory.slice(at + 46, nameLength));
    if (flags & 0x1) throw corruptArchive(label, `record "${name}" is encrypted`);
    if (method !== 0 && method !== 8) {
      throw new EngineError(
        'UNSUPPORTED_DTYPE',
        `${label}: record "${name}" is compressed with zip method ${method}; only stored (0) and deflated (8) records can be read.`,
        'Save the checkpoint again with torch.save, or convert it to safetensors.',
      );
    }
    // Zip64: a field of all ones is given in the extra field 0x0001, in this order.
    const extra = new Fields(directory.slice(at + 46 + nameLength, extraLength), label, `extra field of "${name}"`);
    for (let e = 0; e + 4 <= extraLength;) {
      const id = extra.u16(e);
      const length = extra.u16(e + 2);
      if (id === 0x0001) {
        let k = e + 4;
        if (size === 0xffffffff) {
          size = extra.u64(k);
          k += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = extra.u64(k);
          k += 8;
        }
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = extra.u64(k);
      }
      e += 4 + length;
    }
    if (disk !== 0 && disk !== 0xffff) throw corruptArchive(label, `record "${name}" lies on disk ${disk} of a split archive`);
    if (method === 0 && compressedSize !== size) {
      throw corruptArchive(label, `the directory lies about sizes: stored record "${name}" has ${compressedSize} bytes stored and ${size} bytes of contents`);
    }
    if (localHeaderOffset + 30 + compressedSize > directoryOffset) {
      throw corruptArchive(label, `truncated: record "${name}" (${compressedSize} bytes at byte ${localHeaderOffset}) runs into the central directory`);
    }
    if (records.has(name)) throw corruptArchive(label, `record "${name}" appears twice`);
    records.set(name, { name, method: method as 0 | 8, crc32: checksum, compressedSize, size, localHeaderOffset });
    at += 46 + nameLength + extraLength + commentLength;
  }

  const dataOffsets = new Map<string, number>();
  const dataOffset = (record: ZipRecord): number => {
    const known = dataOffsets.get(record.name);
    if (known !== undefined) return known;
    const local = new Fields(file.read(record.localHeaderOffset, 30), label, `local header of "${record.name}"`);
    if (local.u32(0) !== LOCAL_HEADER) throw corruptArchive(label, `record "${record.name}" has no local header at byte ${record.localHeaderOffset}`);
    const nameLength = local.u16(26);
    const localName = new TextDecoder().decode(file.read(record.localHeaderOffset + 30, nameLength));
    if (localName !== record.name)
      throw corruptArchive(label, `the local header at byte ${record.localHeaderOffset} names "${localName}", not "${record.name}"`);
    const offset = record.localHeaderOffset + 30 + nameLength + local.u16(28);
    if (offset + record.compressedSize > directoryOffset) {
      throw corruptArchive(label, `truncated: record "${record.name}" runs into the central directory`);
    }
    dataOffsets.set(record.name, offset);
    return offset;
  };

  return {
    label,
    records,
    dataOffset,
    read(record: ZipRecord): Uint8Array {
      const stored = file.read(dataOffset(record), record.compressedSize);
      let contents = stored;
      if (record.method === 8) {
        try {
          contents = new Uint8Array(inflateRawSync(stored, { maxOutputLength: Math.max(1, record.size) }));
        } catch (error) {
          throw corruptArchive(label, `record "${record.name}" does not inflate (${error instanceof Error ? error.message : String(error)})`);
        }
        if (contents.byteLength !== record.size) {
          throw corruptArchive(label, `record "${record.name}" inflates to ${contents.byteLength} bytes, but the directory says ${record.size}`);
        }
      }
      const actual = crc32(contents);
      if (actual !== record.crc32) {
        throw new EngineError(
          'CHECKSUM_MISMATCH',
          `${label}: record "${record.name}" fails its CRC-32 check (the archive says ${hex(record.crc32)}, its bytes give ${hex(actual)}).`,
          'The file is damaged; download the checkpoint again.',
        );
      }
      return contents;
    },
  };
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

function notAZip(label: string, head: Uint8Array): EngineError {
  // torch.save before 1.6 wrote consecutive pickles (the first is a magic number) and raw storages.
  if (head[0] === 0x80 && head[1] !== undefined && head[1] <= 5) {
    return new EngineError(
      'UNSUPPORTED_DTYPE',
      `${label} is in the legacy torch.save format (PyTorch before 1.6, not a zip archive), which Circuit Trace does not read.`,
      'Save it again with a current PyTorch (torch.save(torch.load(path), path)), or convert it to safetensors.',
    );
  }
  return corruptArchive(label, 'not a zip archive (a PyTorch checkpoint written by torch.save is one)');
}

interface DirectoryLocation {
  entryCount: number;
  directoryOffset: number;
  directorySize: number;
}

function findDirectory(file: CheckedFile, label: string): DirectoryLocation {
  const tailLength = Math.min(file.size, MAX_END_SEARCH);
  const tailStart = file.size - tailLength;
  const tail = new Fields(file.read(tailStart, tailLength), label, 'end of central directory');
  let end = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    // The comment must run exactly to the end of the file, which rules out a signature inside a comment's bytes.
    if (tail.u32(i) === END_OF_DIRECTORY && i + 22 + tail.u16(i + 20) === tailLength) {
      end = i;
      break;
    }
  }
  if (end < 0) throw corruptArchive(label, 'truncated: no end-of-central-directory record (the archive was cut short or is not a zip)');
  if (tail.u16(end + 4) !== 0 || (tail.u16(end + 6) !== 0 && tail.u16(end + 6) !== 0xffff))
    throw corruptArchive(label, 'the archive is split over several disks');
  let entryCount = tail.u16(end + 10);
  let directorySize = tail.u32(end + 12);
  let directoryOffset = tail.u32(end + 16);
  // The directory must end where the zip64 or plain end-of-directory record begins.
  let directoryEnd = tailStart + end;
  const needsZip64 = entryCount === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff;
  const locatorAt = end - 20;
  if (locatorAt >= 0 && tail.u32(locatorAt) === ZIP64_LOCATOR) {
    const recordOffset = tail.u64(locatorAt + 8);
    const record = new Fields(file.read(recordOffset, 56), label, 'zip64 end of central directory');
    if (record.u32(0) !== ZIP64_END_OF_DIRECTORY) throw corruptArchive(label, 'the zip64 locator points at no zip64 end-of-directory record');
    entryCount = record.u64(32);
    directorySize = record.u64(40);
    directoryOffset = record.u64(48);
    directoryEnd = recordOffset;
  } else if (needsZip64) {
    throw corruptArchive(label, 'the end-of-directory record asks for zip64 sizes but the archive has no zip64 locator');
  }
  if (directoryOffset + directorySize > directoryEnd) {
    throw corruptArchive(label, `truncated: the central directory (${directorySize} bytes at byte ${directoryOffset}) runs past its end record`);
  }
  return { entryCount, directoryOffset, directorySize };
}
