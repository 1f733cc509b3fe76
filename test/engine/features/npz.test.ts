/**
 * numpy .npz archives read through the project's zip reader: np.savez's stored members and
 * np.savez_compressed's deflated ones (archives written by test/helpers/torch-bin-writer.ts's
 * zipArchive, members by npz-writer's npyBytes), zip64 fields, members that are not arrays skipped,
 * and damaged files refused with errors that say to download the dictionary again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isEngineError } from '../../../src/engine/errors.js';
import { readNpz } from '../../../src/engine/features/npz.js';
import { npyBytes } from '../../../src/engine/features/npz-writer.js';
import { zipArchive } from '../../helpers/torch-bin-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'ct-npz-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;
function write(bytes: Uint8Array): string {
  const path = join(dir, `params${count++}.npz`);
  writeFileSync(path, bytes);
  return path;
}

const W = Float32Array.from({ length: 6 }, (_, i) => i / 4 - 0.5);
const B = Float32Array.from([0.25, -1, 3]);
function members(deflate: boolean): Array<{ name: string; data: Uint8Array; deflate: boolean }> {
  return [
    { name: 'W_enc.npy', data: npyBytes([2, 3], W), deflate },
    { name: 'notes.txt', data: new TextEncoder().encode('not an array'), deflate },
    { name: 'b_enc.npy', data: npyBytes([3], B), deflate },
  ];
}

describe('readNpz', () => {
  for (const [what, deflate, zip64] of [
    ['np.savez (stored)', false, false],
    ['np.savez_compressed (deflated)', true, false],
    ['zip64 fields', false, true],
  ] as const) {
    test(`reads every array of an archive: ${what}`, () => {
      const arrays = readNpz(write(zipArchive(members(deflate), { zip64 })));
      assert.deepEqual([...arrays.keys()], ['W_enc', 'b_enc']);
      assert.deepEqual(arrays.get('W_enc'), { descr: '<f4', shape: [2, 3], data: W });
      assert.deepEqual(arrays.get('b_enc'), { descr: '<f4', shape: [3], data: B });
    });
  }

  test('a damaged, truncated or foreign file is refused, saying to download the dictionary again', () => {
    const says =
      (code: string, ...mentions: string[]) =>
      (error: unknown) => {
        assert.ok(isEngineError(error), String(error));
        assert.equal(error.code, code, error.message);
        for (const m of [...mentions, 'download the dictionary again']) assert.ok(error.message.includes(m), `"${error.message}" should mention "${m}"`);
        return true;
      };
    const whole = zipArchive(members(false));
    const damaged = whole.slice();
    damaged[Buffer.from(damaged).indexOf(Buffer.from(new Uint8Array(B.buffer)))]! ^= 0x01;
    assert.throws(() => readNpz(write(damaged), 'params.npz'), says('CHECKSUM_MISMATCH', 'params.npz', '"b_enc.npy"', 'CRC-32'));
    assert.throws(() => readNpz(write(whole.subarray(0, whole.length - 30))), says('CORRUPT_WEIGHTS', 'truncated'));
    assert.throws(
      () => readNpz(write(new TextEncoder().encode('{"this is": "json, not an npz archive"}'))),
      says('CORRUPT_WEIGHTS', 'not a zip archive', 'numpy'),
    );
  });
});
