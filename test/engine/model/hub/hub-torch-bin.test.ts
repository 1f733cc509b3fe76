/**
 * Hub repositories whose weights are PyTorch checkpoints only (pytorch_model.bin, or
 * pytorch_model.bin.index.json and its shards), served by the local fake Hub: the downloader
 * fetches them when the repo has no safetensors weights (and only the safetensors when it has
 * both), the cache check accepts the snapshot, and the model loads from it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { missingModelFiles } from '../../../../src/engine/model/hub/cache-layout.js';
import { downloadModel } from '../../../../src/engine/model/hub/download.js';
import { loadModelFolder } from '../../../../src/engine/model/load-folder.js';
import { generateRandomGptNeo } from '../../../../src/engine/model/random-gpt-neo.js';
import { loadGpt2TokenizerJson } from '../../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { FakeHubServer, type FakeHubFileSpec } from '../../../helpers/fake-hub-server.js';
import { writeTorchBinFolder } from '../../../helpers/torch-bin-writer.js';
import { writeHfFolder } from '../../../../src/engine/model/hf-folder-writer.js';

const temporaryDirs: string[] = [];
after(async () => {
  for (const dir of temporaryDirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `ct-hub-bin-${tag}-`));
  temporaryDirs.push(dir);
  return dir;
}

/** fetch that refuses anything but the local fake Hub. */
const localFetch: typeof fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.hostname !== '127.0.0.1') throw new Error(`test tried to reach ${url.href}`);
  return fetch(input, init);
};

/** The files of a folder as the Hub serves them, weights in Git LFS as the Hub's .gitattributes puts *.bin and *.safetensors. */
async function repoFiles(folder: string): Promise<FakeHubFileSpec[]> {
  const names = await readdir(folder);
  return Promise.all(names.map(async (path) => ({ path, content: await readFile(join(folder, path)), lfs: /\.(bin|safetensors)$/.test(path) })));
}

const random = generateRandomGptNeo({ preset: 'tiny' }, 31);

async function binRepo(shards: number): Promise<FakeHubFileSpec[]> {
  const folder = await tempDir(`src-${shards}`);
  await writeTorchBinFolder(folder, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() }, { shards });
  return repoFiles(folder);
}

describe('downloading PyTorch-only repositories', () => {
  test('pytorch_model.bin alone, and pytorch_model.bin.index.json with its shards, download, pass the cache check and load', async () => {
    const repos = [
      { id: 'tiny/neo-bin', files: await binRepo(1) },
      { id: 'tiny/neo-bin-sharded', files: await binRepo(3) },
    ];
    const hub = await FakeHubServer.start(repos);
    try {
      const cacheDir = join(await tempDir('cache'), 'hub');
      for (const repo of repos) {
        const folder = await downloadModel(repo.id, { cacheDir, endpoint: hub.endpoint, offline: false, fetch: localFetch });
        const weights = repo.files.filter((f) => f.path.endsWith('.bin') || f.path.endsWith('.index.json')).map((f) => f.path);
        for (const path of weights) assert.deepEqual(await readFile(join(folder, path)), hub.fileOf(repo.id, path).content, path);
        assert.deepEqual(await missingModelFiles(folder), []);
        const loaded = await loadModelFolder(folder);
        assert.equal(loaded.model.config.nLayers, 2);
        assert.deepEqual(loaded.model.weights.W_E.data, random.weights.W_E.data);
      }
      assert.ok(hub.bodyRequests('pytorch_model-00003-of-00003.bin').length > 0);
    } finally {
      await hub.close();
    }
  });

  test('a repo with both formats downloads only the safetensors weights', async () => {
    const folder = await tempDir('both');
    await writeTorchBinFolder(folder, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
    await writeHfFolder(folder, { config: random.config, tensors: random.tensors });
    const hub = await FakeHubServer.start([{ id: 'tiny/neo-both', files: await repoFiles(folder) }]);
    try {
      const cacheDir = join(await tempDir('cache-both'), 'hub');
      const snapshot = await downloadModel('tiny/neo-both', { cacheDir, endpoint: hub.endpoint, offline: false, fetch: localFetch });
      assert.ok(hub.bodyRequests('model.safetensors').length > 0);
      assert.equal(hub.bodyRequests('pytorch_model.bin').length, 0);
      assert.ok(!(await readdir(snapshot)).includes('pytorch_model.bin'));
    } finally {
      await hub.close();
    }
  });

  test('the cache check names a .bin shard the index lists but the snapshot lacks', async () => {
    const folder = await tempDir('snapshot');
    await writeTorchBinFolder(folder, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() }, { shards: 2 });
    await rm(join(folder, 'pytorch_model-00001-of-00002.bin'));
    assert.deepEqual(await missingModelFiles(folder), ['pytorch_model-00001-of-00002.bin']);
    await rm(join(folder, 'pytorch_model.bin.index.json'));
    const missing = await missingModelFiles(folder);
    assert.equal(missing.length, 1);
    assert.match(missing[0]!, /model\.safetensors.*pytorch_model\.bin/);
  });
});
