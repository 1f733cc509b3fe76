/**
 * ensureOrganismTranscoder generates the organism's transcoder once, atomically, into a storage
 * folder (as ensureOrganism does the organism): it reuses a complete folder and replaces an
 * incomplete, truncated or older one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ensureOrganismTranscoder,
  isOrganismTranscoderFolder,
  ORGANISM_TRANSCODER_VERSION,
  TRANSCODER_LABELS_FILE,
  TRANSCODER_MARKER,
  transcoderLayerFile,
  writeOrganismTranscoderFolder,
} from '../../../src/engine/organism/transcoder-folder.js';

const root = mkdtempSync(join(tmpdir(), 'organism-transcoder-folder-'));
const reference = join(root, 'reference');
before(async () => {
  await writeOrganismTranscoderFolder(reference);
});
after(() => rmSync(root, { recursive: true, force: true }));

function sameAsReference(dir: string): void {
  const names = readdirSync(reference).sort();
  assert.deepEqual(readdirSync(dir).sort(), names);
  for (const name of names) assert.ok(readFileSync(join(dir, name)).equals(readFileSync(join(reference, name))), name);
}

test('ensureOrganismTranscoder generates once, then reuses the folder', async () => {
  const dir = join(root, 'store', 'transcoder');
  assert.equal(await isOrganismTranscoderFolder(dir), false);
  assert.equal(await ensureOrganismTranscoder(dir), dir);
  assert.equal(await isOrganismTranscoderFolder(dir), true);
  sameAsReference(dir);
  const written = statSync(join(dir, transcoderLayerFile(1))).mtimeMs;
  await ensureOrganismTranscoder(dir);
  assert.equal(statSync(join(dir, transcoderLayerFile(1))).mtimeMs, written, 'not rewritten');
  assert.deepEqual(readdirSync(join(root, 'store')), ['transcoder'], 'no temporary siblings left');
});

test('ensureOrganismTranscoder replaces an incomplete, truncated or older folder', async () => {
  const dir = join(root, 'broken', 'transcoder');
  await ensureOrganismTranscoder(dir);
  rmSync(join(dir, TRANSCODER_LABELS_FILE));
  assert.equal(await isOrganismTranscoderFolder(dir), false, 'a file missing');
  await ensureOrganismTranscoder(dir);
  sameAsReference(dir);

  writeFileSync(join(dir, transcoderLayerFile(0)), readFileSync(join(reference, transcoderLayerFile(0))).subarray(0, 1000));
  assert.equal(await isOrganismTranscoderFolder(dir), false, 'a truncated file');
  await ensureOrganismTranscoder(dir);
  sameAsReference(dir);

  const marker = JSON.parse(readFileSync(join(reference, TRANSCODER_MARKER), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, TRANSCODER_MARKER), JSON.stringify({ ...marker, version: ORGANISM_TRANSCODER_VERSION - 1 }));
  assert.equal(await isOrganismTranscoderFolder(dir), false, 'an older version');
  await ensureOrganismTranscoder(dir);
  sameAsReference(dir);
  writeFileSync(join(dir, TRANSCODER_MARKER), JSON.stringify({ ...marker, seed: 7 }));
  assert.equal(await isOrganismTranscoderFolder(dir), false, 'another seed');
  await ensureOrganismTranscoder(dir);
  sameAsReference(dir);
  assert.deepEqual(readdirSync(join(root, 'broken')), ['transcoder']);
});

test('concurrent ensureOrganismTranscoder calls both end with one complete folder', async () => {
  const dir = join(root, 'race', 'transcoder');
  assert.deepEqual(await Promise.all([ensureOrganismTranscoder(dir), ensureOrganismTranscoder(dir)]), [dir, dir]);
  sameAsReference(dir);
  assert.deepEqual(readdirSync(join(root, 'race')), ['transcoder']);
});
