/**
 * The generic zip reader (zip-archive.ts) on archives written by test/helpers/torch-bin-writer.ts's
 * zipArchive (from the zip specification, not with the reader): stored, deflated and zip64 records
 * read back byte for byte; an archive of no records; and every kind of failure carrying the hint the
 * caller gave for it, with the caller's explanation of a file that is not a zip.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EngineError, isEngineError, type EngineErrorCode } from '../../../src/engine/errors.js';
import { openZipArchive, type ZipArchiveHints } from '../../../src/engine/model/zip-archive.js';
import { zipArchive } from '../../helpers/torch-bin-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'ct-zip-archive-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;
function write(bytes: Uint8Array): string {
  const path = join(dir, `a${count++}.zip`);
  writeFileSync(path, bytes);
  return path;
}

const HINTS: ZipArchiveHints = { damaged: 'Fetch the widget again.', changed: 'Reopen the widget.', unsupportedMethod: 'Rezip the widget.' };

function rejectsWith(code: EngineErrorCode, ...mentions: string[]): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isEngineError(error), String(error));
    assert.equal(error.code, code, error.message);
    for (const m of mentions) assert.ok(error.message.includes(m), `"${error.message}" should mention "${m}"`);
    return true;
  };
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const ENTRIES = [
  { name: 'one.txt', data: text('stored record') },
  { name: 'dir/two.bin', data: Uint8Array.from({ length: 300 }, (_, i) => i % 7), deflate: true },
  { name: 'empty', data: new Uint8Array(0) },
];

describe('reading zip archives', () => {
  for (const zip64 of [false, true]) {
    test(`stored and deflated records read back as written${zip64 ? ' (zip64 fields)' : ''}`, () => {
      const archive = openZipArchive(write(zipArchive(ENTRIES, { zip64 })), { label: 'widget.zip' });
      assert.equal(archive.label, 'widget.zip');
      assert.deepEqual([...archive.records.keys()], ['one.txt', 'dir/two.bin', 'empty']);
      for (const entry of ENTRIES) {
        const record = archive.records.get(entry.name)!;
        assert.equal(record.method, entry.deflate ? 8 : 0);
        assert.equal(record.size, entry.data.length);
        assert.deepEqual(archive.read(record), entry.data);
      }
    });
  }

  test('an archive of no records opens with none', () => {
    const empty = new Uint8Array(22);
    new DataView(empty.buffer).setUint32(0, 0x06054b50, true);
    assert.equal(openZipArchive(write(empty)).records.size, 0);
  });
});

describe('refusing zip archives with the caller hints', () => {
  test('a truncated archive and a record failing its CRC-32 give the damaged hint', () => {
    const whole = zipArchive(ENTRIES);
    assert.throws(
      () => openZipArchive(write(whole.subarray(0, whole.length - 10)), { hints: HINTS }),
      rejectsWith('CORRUPT_WEIGHTS', 'truncated', HINTS.damaged),
    );
    const damaged = whole.slice();
    const at = Buffer.from(damaged).indexOf(Buffer.from('stored record'));
    damaged[at]! ^= 0x01;
    const archive = openZipArchive(write(damaged), { label: 'w.zip', hints: HINTS });
    assert.throws(() => archive.read(archive.records.get('one.txt')!), rejectsWith('CHECKSUM_MISMATCH', 'w.zip', '"one.txt"', 'CRC-32', HINTS.damaged));
  });

  test('a file changed after it was opened gives the changed hint', () => {
    const path = write(zipArchive(ENTRIES));
    const archive = openZipArchive(path, { hints: HINTS });
    const later = new Date(Date.now() + 5000);
    writeFileSync(path, readFileSync(path));
    utimesSync(path, later, later);
    assert.throws(() => archive.read(archive.records.get('one.txt')!), rejectsWith('CORRUPT_WEIGHTS', 'changed on disk', HINTS.changed));
  });

  test('a record compressed with another method gives the unsupported-method hint', () => {
    const bytes = zipArchive(ENTRIES.slice(0, 1));
    const central = Buffer.from(bytes).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    new DataView(bytes.buffer, bytes.byteOffset).setUint16(central + 10, 12, true); // bzip2
    assert.throws(() => openZipArchive(write(bytes), { hints: HINTS }), rejectsWith('UNSUPPORTED_DTYPE', 'zip method 12', HINTS.unsupportedMethod));
  });

  test('a file that is not a zip: the plain message, or the caller explanation given its first bytes', () => {
    const path = write(text('{"not": "a zip archive, only some json text"}'));
    assert.throws(() => openZipArchive(path, { hints: HINTS }), rejectsWith('CORRUPT_WEIGHTS', 'not a zip archive', HINTS.damaged));
    let seen: number[] = [];
    const explained = (head: Uint8Array, label: string, hints: ZipArchiveHints): EngineError => {
      seen = [...head];
      return new EngineError('BAD_ARGUMENT', `${label} is JSON.`, hints.damaged);
    };
    assert.throws(
      () => openZipArchive(path, { label: 'w.json', hints: HINTS, onNotZip: explained }),
      rejectsWith('BAD_ARGUMENT', 'w.json is JSON.', HINTS.damaged),
    );
    assert.deepEqual(seen, [...text('{"no')]);
    assert.throws(() => openZipArchive(path, { onNotZip: () => undefined }), rejectsWith('CORRUPT_WEIGHTS', 'not a zip archive'));
  });
});
