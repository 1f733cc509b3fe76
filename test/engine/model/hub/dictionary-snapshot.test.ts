/**
 * Dictionaries in the hub cache are not models: listCachedModels leaves out a snapshot laid out
 * by hand as huggingface_hub writes it (blobs by etag, relative snapshot links, refs/main) that
 * holds each dictionary format features/random-dictionary-writer.ts writes (SAELens at the root
 * and per hook, circuit-tracer transcoders in both config layouts, a cross-layer transcoder, Gemma
 * Scope's nested params.npz, also as plain files where symlinks are refused), while models cut
 * short (config.json without weights, a lone tokenizer.json, a YAML file that is no transcoder
 * config, a config.json beside dictionary files) are still listed as incomplete.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import type { DictionaryModelConfig } from '../../../../src/engine/features/dictionary-hooks.js';
import { generateRandomDictionary, type RandomDictionarySpec } from '../../../../src/engine/features/random-dictionary.js';
import { writeRandomDictionary, type RandomDictionaryFiles } from '../../../../src/engine/features/random-dictionary-writer.js';
import { listCachedModels, repoFolderName } from '../../../../src/engine/model/hub/cache-layout.js';
import { isDictionarySnapshot } from '../../../../src/engine/model/hub/dictionary-snapshot.js';

const MODEL: DictionaryModelConfig = { nLayers: 2, dModel: 8 };
const HOOKS: RandomDictionaryFiles = { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out', modelName: 'test-model' };
const root = mkdtempSync(join(tmpdir(), 'ct-dictionary-snapshot-'));
after(() => rmSync(root, { recursive: true, force: true }));

type Files = Record<string, Buffer>;
let commits = 0;

/** A repo laid out as huggingface_hub does; `links: false` copies the files into the snapshot as it does where symlinks are refused. */
async function layRepo(cacheDir: string, repo: string, files: Files, options: { links?: boolean; ref?: boolean } = {}): Promise<string> {
  const commit = (++commits).toString(16).padStart(40, 'a');
  const repoDir = join(cacheDir, repoFolderName(repo));
  const snapshot = join(repoDir, 'snapshots', commit);
  await mkdir(join(repoDir, 'blobs'), { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    const file = join(snapshot, ...path.split('/'));
    await mkdir(dirname(file), { recursive: true });
    if (options.links === false) {
      await writeFile(file, content);
      continue;
    }
    const blob = join(repoDir, 'blobs', createHash('sha256').update(content).digest('hex'));
    await writeFile(blob, content);
    await symlink(relative(dirname(file), blob), file);
  }
  if (options.ref !== false) {
    await mkdir(join(repoDir, 'refs'), { recursive: true });
    await writeFile(join(repoDir, 'refs', 'main'), commit);
  }
  return snapshot;
}

/** The files a dictionary format writes, by path under `prefix`. */
async function dictionaryFiles(spec: RandomDictionarySpec, prefix = '', extra: Partial<RandomDictionaryFiles> = {}): Promise<Files> {
  const dir = await mkdtemp(join(root, 'written-'));
  const written = await writeRandomDictionary(dir, generateRandomDictionary(spec, MODEL), { ...HOOKS, ...extra });
  assert.ok(written.length > 0);
  const files: Files = {};
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path);
      else files[[prefix, relative(dir, path).split('\\').join('/')].filter(Boolean).join('/')] = await readFile(path);
    }
  };
  await walk(dir);
  return files;
}

const text = (s: string): Buffer => Buffer.from(s);
const MODEL_FILES: Files = { 'config.json': text('{"model_type": "gpt2"}'), 'tokenizer.json': text('{}'), 'model.safetensors': Buffer.alloc(64, 1) };

describe('dictionaries in the hub cache', () => {
  test('each dictionary format is left out of the model listing; models cut short are listed as incomplete', async () => {
    const cacheDir = join(await mkdtemp(join(root, 'cache-')), 'hub');
    const dictionaries: Record<string, Files> = {
      'test/saelens-root': await dictionaryFiles({ format: 'saelens', layers: [1], width: 6, activation: 'relu', seed: 1 }),
      'test/saelens-release': await dictionaryFiles({ format: 'saelens', layers: [0, 1], width: 6, activation: 'jumprelu', seed: 2 }, 'gpt2-small-res'),
      'test/transcoders': await dictionaryFiles({ format: 'transcoder', layers: [0, 1], width: 6, activation: 'jumprelu', seed: 3 }, 'tc'),
      'test/transcoders-legacy': await dictionaryFiles({ format: 'transcoder', layers: [0], width: 6, activation: 'relu', seed: 4 }, '', {
        legacyLayout: true,
      }),
      'test/clt': await dictionaryFiles({ format: 'clt', layers: [0, 1], width: 6, activation: 'jumprelu', seed: 5 }),
      'test/gemma-scope': await dictionaryFiles({ format: 'gemma-scope-npz', layers: [0, 1], width: 6, activation: 'jumprelu', seed: 6 }),
    };
    assert.ok(Object.keys(dictionaries['test/gemma-scope']!).every((p) => p.split('/').length === 4 && p.endsWith('/params.npz')));
    assert.ok(Object.keys(dictionaries['test/transcoders-legacy']!).some((p) => p.endsWith('.yaml') && p !== 'config.yaml'));
    for (const [repo, files] of Object.entries(dictionaries)) {
      const snapshot = await layRepo(cacheDir, repo, files);
      assert.equal(await isDictionarySnapshot(snapshot), true, repo);
    }
    const copied = await layRepo(cacheDir, 'test/gemma-scope-copied', dictionaries['test/gemma-scope']!, { links: false });
    assert.equal(await isDictionarySnapshot(copied), true);

    await layRepo(cacheDir, 'test/complete', MODEL_FILES);
    await layRepo(cacheDir, 'test/no-weights', { 'config.json': MODEL_FILES['config.json']!, 'tokenizer.json': MODEL_FILES['tokenizer.json']! });
    await layRepo(cacheDir, 'test/tokenizer-only', { 'tokenizer.json': MODEL_FILES['tokenizer.json']! });
    await layRepo(cacheDir, 'test/other-yaml', { 'tokenizer.json': MODEL_FILES['tokenizer.json']!, 'config.yaml': text('model_name: not-a-transcoder\n') });
    // A model repo that also ships dictionary files is still a model.
    const withSae = await layRepo(cacheDir, 'test/model-with-sae', { 'config.json': MODEL_FILES['config.json']!, ...dictionaries['test/saelens-root']! });
    assert.equal(await isDictionarySnapshot(withSae), false);
    // A repo holding a dictionary at one commit and a model at another keeps the model's snapshot.
    await layRepo(cacheDir, 'test/mixed', dictionaries['test/clt']!, { ref: false });
    const mixedModel = await layRepo(cacheDir, 'test/mixed', MODEL_FILES);

    const listed = await listCachedModels({ cacheDir });
    assert.deepEqual(
      listed.map((m) => [m.repo, m.snapshots.map((s) => s.complete)]),
      [
        ['test/complete', [true]],
        ['test/mixed', [true]],
        ['test/model-with-sae', [false]],
        ['test/no-weights', [false]],
        ['test/other-yaml', [false]],
        ['test/tokenizer-only', [false]],
      ],
    );
    assert.equal(listed.find((m) => m.repo === 'test/mixed')!.snapshots[0]!.folder, mixedModel);
    const missing = (repo: string): string[] => listed.find((m) => m.repo === repo)!.snapshots[0]!.missing;
    assert.deepEqual(missing('test/no-weights').length, 1);
    assert.match(missing('test/no-weights')[0]!, /^model\.safetensors/);
    assert.equal(missing('test/tokenizer-only')[0], 'config.json');
    assert.equal(missing('test/other-yaml')[0], 'config.json');
  });
});
