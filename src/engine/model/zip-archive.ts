/**
 * Reader of zip archives: the ones `torch.save` writes (PyTorch 1.6 and later; `pytorch_model.bin`)
 * and numpy's `.npz`. Only the central directory is read when the archive is opened; each record's
 * bytes are read when asked for, with positioned reads, and checked against the CRC-32 the
 * directory gives. Records stored or deflated (inflated with node:zlib) are read; zip64 sizes and
 * offsets (archives and records over 4 GiB) are read; encrypted, split or otherwise compressed
 * archives are refused.
 *
 * Records may be read long after the directory (adapters read block weights as the runtime builds
 * their graphs), so every read first checks that the file's size and modification time are still
 * those it had when it was opened: a file replaced since would give another file's bytes.
 *
 * The reader knows nothing of what the archive holds: the caller names it (`label`), says what the
 * user can do about each kind of failure (`hints`), and may explain a file that is not a zip at all
 * (`onNotZip`, e.g. torch.save's legacy format).
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

/** What the user can do about each kind of failure, shown after the error's message. */
export interface ZipArchiveHints {
  /** The archive is damaged: truncated, inconsistent, or a record fails its CRC-32. */
  readonly damaged: string;
  /** The file changed on disk after the archive was opened. */
  readonly changed: string;
  /** A record is compressed with a method other than stored or deflated. */
  readonly unsupportedMethod: string;
}

export interface ZipArchiveOptions {
  /** What the file is called in error messages (default: its path). */
  readonly label?: string;
  readonly hints?: Partial<ZipArchiveHints>;
  /**
   * The error for a file that does not begin as a zip archive, given its first bytes (up to 4) and
   * the archive's label and hints; undefined gives the plain CORRUPT_WEIGHTS "not a zip archive".
   */
  readonly onNotZip?: (head: Uint8Array, label: string, hints: ZipArchiveHints) => EngineError | undefined;
}

const DEFAULT_HINTS: ZipArchiveHints = {
  damaged: 'The file is damaged; download it again.',
  changed: 'Open it again.',
  unsupportedMethod: 'Write the archive again with stored or deflated records.',
};

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

/** CORRUPT_WEIGHTS naming the archive and its problem; callers use it for problems in the records' contents too. */
export function corruptArchive(label: string, problem: string, hint: string = DEFAULT_HINTS.damaged): EngineError {
  return new EngineError('CORRUPT_WEIGHTS', `${label}: ${problem}.`, hint);
}

/** Positioned reads of one file that refuse to read once the file changed on disk. */
class CheckedFile {
  constructor(
    private readonly path: string,
    private readonly label: string,
    private readonly hints: ZipArchiveHints,
    readonly size: number,
    private readonly modified: number,
  ) {}

  static open(path: string, label: string, hints: ZipArchiveHints): CheckedFile {
    const fd = openSync(path, 'r');
    try {
      const { size, mtimeMs } = fstatSync(fd);
      return new CheckedFile(path, label, hints, size, mtimeMs);
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
          `${this.label} changed on disk after it was opened (its size or modification time differs).`,
          this.hints.changed,
        );
      }
      if (offset + length > this.size) {
        throw corruptArchive(
          this.label,
          `truncated: ${length} bytes at byte ${offset} reach past the end of the file (${this.size} bytes)`,
          this.hints.damaged,
        );
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw corruptArchive(this.label, `truncated: the file ended ${length - done} bytes before byte ${offset + length}`, this.hints.damaged);
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
    private readonly hint: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private check(at: number, n: number): void {
    if (at < 0 || at + n > this.bytes.byteLength) throw corruptArchive(this.label, `the ${this.what} is cut short`, this.hint);
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
    if (!Number.isSafeInteger(value)) throw corruptArchive(this.label, `the ${this.what} holds a size or offset beyond 2^53`, this.hint);
    return value;
  }
  slice(at: number, n: number): Uint8Array {
    this.check(at, n);
    return this.bytes.subarray(at, at + n);
  }
}

/** A zip begins with its first record's local header, or with the end-of-directory record when it holds none. */
const ZIP_STARTS = [LOCAL_HEADER, END_OF_DIRECTORY];

/** Opens the zip archive at `path`: reads its central directory now, records when asked. */
export function openZipArchive(path: string, options: ZipArchiveOptions = {}): ZipArchive {
  const label = options.label ?? path;
  const hints: ZipArchiveHints = { ...DEFAULT_HINTS, ...options.hints };
  const corrupt = (problem: string): EngineError => corruptArchive(label, problem, hints.damaged);
  const file = CheckedFile.open(path, label, hints);
  if (file.size < 22) throw corrupt(`truncated: ${file.size} bytes is too short for a zip archive`);
  const head = file.read(0, 4);
  if (!ZIP_STARTS.includes(new DataView(head.buffer).getUint32(0, true))) throw options.onNotZip?.(head, label, hints) ?? corrupt('not a zip archive');

  const { entryCount, directoryOffset, directorySize } = findDirectory(file, label, hints.damaged);
  const directory = new Fields(file.read(directoryOffset, directorySize), label, 'central directory', hints.damaged);
  const records = new Map<string, ZipRecord>();
  let at = 0;
  for (let i = 0; i < entryCount; i++) {
    if (directory.u32(at) !== CENTRAL_HEADER) throw corrupt(`central directory entry ${i} has no valid signature`);
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
    if (flags & 0x1) throw corrupt(`record "${name}" is encrypted`);
    if (method !== 0 && method !== 8) {
      throw new EngineError(
        'UNSUPPORTED_DTYPE',
        `${label}: record "${name}" is compressed with zip method ${method}; only stored (0) and deflated (8) records can be read.`,
        hints.unsupportedMethod,
      );
    }
    // Zip64: a field of all ones is given in the extra field 0x0001, in this order.
    const extra = new Fields(directory.slice(at + 46 + nameLength, extraLength), label, `extra field of "${name}"`, hints.damaged);
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
    if (disk !== 0 && disk !== 0xffff) throw corrupt(`record "${name}" lies on disk ${disk} of a split archive`);
    if (method === 0 && compressedSize !== size) {
      throw corrupt(`the directory lies about sizes: stored record "${name}" has ${compressedSize} bytes stored and ${size} bytes of contents`);
    }
    if (localHeaderOffset + 30 + compressedSize > directoryOffset) {
      throw corrupt(`truncated: record "${name}" (${compressedSize} bytes at byte ${localHeaderOffset}) runs into the central directory`);
    }
    if (records.has(name)) throw corrupt(`record "${name}" appears twice`);
    records.set(name, { name, method: method as 0 | 8, crc32: checksum, compressedSize, size, localHeaderOffset });
    at += 46 + nameLength + extraLength + commentLength;
  }

  const dataOffsets = new Map<string, number>();
  const dataOffset = (record: ZipRecord): number => {
    const known = dataOffsets.get(record.name);
    if (known !== undefined) return known;
    const local = new Fields(file.read(record.localHeaderOffset, 30), label, `local header of "${record.name}"`, hints.damaged);
    if (local.u32(0) !== LOCAL_HEADER) throw corrupt(`record "${record.name}" has no local header at byte ${record.localHeaderOffset}`);
    const nameLength = local.u16(26);
    const localName = new TextDecoder().decode(file.read(record.localHeaderOffset + 30, nameLength));
    if (localName !== record.name) throw corrupt(`the local header at byte ${record.localHeaderOffset} names "${localName}", not "${record.name}"`);
    const offset = record.localHeaderOffset + 30 + nameLength + local.u16(28);
    if (offset + record.compressedSize > directoryOffset) {
      throw corrupt(`truncated: record "${record.name}" runs into the central directory`);
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
          throw corrupt(`record "${record.name}" does not inflate (${error instanceof Error ? error.message : String(error)})`);
        }
        if (contents.byteLength !== record.size) {
          throw corrupt(`record "${record.name}" inflates to ${contents.byteLength} bytes, but the directory says ${record.size}`);
        }
      }
      const actual = crc32(contents);
      if (actual !== record.crc32) {
        throw new EngineError(
          'CHECKSUM_MISMATCH',
          `${label}: record "${record.name}" fails its CRC-32 check (the archive says ${hex(record.crc32)}, its bytes give ${hex(actual)}).`,
          hints.damaged,
        );
      }
      return contents;
    },
  };
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

interface DirectoryLocation {
  entryCount: number;
  directoryOffset: number;
  directorySize: number;
}

function findDirectory(file: CheckedFile, label: string, hint: string): DirectoryLocation {
  const corrupt = (problem: string): EngineError => corruptArchive(label, problem, hint);
  const tailLength = Math.min(file.size, MAX_END_SEARCH);
  const tailStart = file.size - tailLength;
  const tail = new Fields(file.read(tailStart, tailLength), label, 'end of central directory', hint);
  let end = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    // The comment must run exactly to the end of the file, which rules out a signature inside a comment's bytes.
    if (tail.u32(i) === END_OF_DIRECTORY && i + 22 + tail.u16(i + 20) === tailLength) {
      end = i;
      break;
    }
  }
  if (end < 0) throw corrupt('truncated: no end-of-central-directory record (the archive was cut short or is not a zip)');
  if (tail.u16(end + 4) !== 0 || (tail.u16(end + 6) !== 0 && tail.u16(end + 6) !== 0xffff)) throw corrupt('the archive is split over several disks');
  let entryCount = tail.u16(end + 10);
  let directorySize = tail.u32(end + 12);
  let directoryOffset = tail.u32(end + 16);
  // The directory must end where the zip64 or plain end-of-directory record begins.
  let directoryEnd = tailStart + end;
  const needsZip64 = entryCount === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff;
  const locatorAt = end - 20;
  if (locatorAt >= 0 && tail.u32(locatorAt) === ZIP64_LOCATOR) {
    const recordOffset = tail.u64(locatorAt + 8);
    const record = new Fields(file.read(recordOffset, 56), label, 'zip64 end of central directory', hint);
    if (record.u32(0) !== ZIP64_END_OF_DIRECTORY) throw corrupt('the zip64 locator points at no zip64 end-of-directory record');
    entryCount = record.u64(32);
    directorySize = record.u64(40);
    directoryOffset = record.u64(48);
    directoryEnd = recordOffset;
  } else if (needsZip64) {
    throw corrupt('the end-of-directory record asks for zip64 sizes but the archive has no zip64 locator');
  }
  if (directoryOffset + directorySize > directoryEnd) {
    throw corrupt(`truncated: the central directory (${directorySize} bytes at byte ${directoryOffset}) runs past its end record`);
  }
  return { entryCount, directoryOffset, directorySize };
}
