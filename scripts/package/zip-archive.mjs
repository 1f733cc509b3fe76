// Reads a ZIP archive (a VSIX is one) from its central directory: entry names, sizes and
// contents. Written here rather than taken from vsce's own transitive zip libraries, whose
// presence in node_modules the project does not control. ZIP64 archives (over 4 GiB or
// 65535 entries) are refused, which no VSIX reaches.
import { inflateRawSync } from 'node:zlib';

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_DIRECTORY_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;

/**
 * @typedef {{ name: string, method: number, compressedSize: number, size: number, localHeaderOffset: number }} ZipEntry
 */

/** Every entry of the archive in central-directory order. @param {Buffer} zip @returns {ZipEntry[]} */
export function zipEntries(zip) {
  // The end record sits in the last 22 bytes plus an optional comment of up to 65535 bytes.
  let end = -1;
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff); at--) {
    if (zip.readUInt32LE(at) === END_OF_CENTRAL_DIRECTORY) {
      end = at;
      break;
    }
  }
  if (end < 0) throw new Error('not a ZIP archive: no end-of-central-directory record');
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  if (count === 0xffff || at === 0xffffffff) throw new Error('ZIP64 archives are not supported');
  const entries = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== CENTRAL_DIRECTORY_HEADER) throw new Error(`corrupt ZIP central directory at byte ${at}`);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    entries.push({
      name: zip.toString('utf8', at + 46, at + 46 + nameLength),
      method: zip.readUInt16LE(at + 10),
      compressedSize: zip.readUInt32LE(at + 20),
      size: zip.readUInt32LE(at + 24),
      localHeaderOffset: zip.readUInt32LE(at + 42),
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The uncompressed bytes of one entry. @param {Buffer} zip @param {ZipEntry} entry @returns {Buffer} */
export function zipEntryContents(zip, entry) {
  const at = entry.localHeaderOffset;
  if (zip.readUInt32LE(at) !== LOCAL_FILE_HEADER) throw new Error(`corrupt ZIP local header for ${entry.name}`);
  // Sizes come from the central directory: local headers may defer them to a data descriptor.
  const start = at + 30 + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28);
  const raw = zip.subarray(start, start + entry.compressedSize);
  if (entry.method === STORED) return Buffer.from(raw);
  if (entry.method === DEFLATED) return inflateRawSync(raw);
  throw new Error(`${entry.name}: unsupported ZIP compression method ${entry.method}`);
}
