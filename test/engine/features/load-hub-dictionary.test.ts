/**
 * Dictionaries from a Hugging Face repo (the fake hub server): each format from a repo subfolder
 * (owner/name/sub, hf://…, @revision, the subfolder option), a circuit-tracer config's hf:// files,
 * the labels file beside it, offline use from the cache, and failed downloads that leave nothing
 * half-done where the loader looks.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Dictionary } from '../../../src/engine/features/dictionary.js';
import type { DictionaryModelConfig } from '../../../src/engine/features/dictionary-hooks.js';
import { loadDictionary } from '../../../src/engine/features/load-dictionary.js';
import { generateRandomDictionary, type RandomDictionarySpec } from '../../../src/engine/features/random-dictionary.js';
import { writeRandomDictionary } from '../../../src/engine/features/random-dictionary-writer.js';
import { listCachedModels, snapshotFolder } from '../../../src/engine/model/hub/cache-layout.js';
import { FakeHubServer, type FakeHubFileSpec } from '../../helpers/fake-hub-server.js';

const MODEL: DictionaryModelConfig = { nLayers: 2, dModel: 8 };
const REPO = 'test/dictionaries';
const OTHER = 'test/more-transcoders';
const root = mkdtempSync(join(tmpdir(), 'ct-load-hub-dictionary-'));
let hub: FakeHubServer;
let local: string;

const LABELS = JSON.stringify([{ modelId: 'test-model', layer: '1-res-test', index: '3', description: 'the third feature' }]);

async function write(sub: string, spec: RandomDictionarySpec, hooks: { inputHook: string; outputHook: string }): Promise<void> {
  await writeRandomDictionary(join(local, sub), generateRandomDictionary(spec, MODEL), { ...hooks, modelName: 'test-model' });
}

/** Every file under `dir` as a hub file at `prefix/…`. */
function filesUnder(dir: string, prefix: string): FakeHubFileSpec[] {
  const out: FakeHubFileSpec[] = [];
  const walk = (at: string): void => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else
        out.push({
          path: [prefix, relative(dir, path).split('\\').join('/')].filter(Boolean).join('/'),
          content: readFileSync(path),
          lfs: !entry.name.endsWith('.json') && !entry.name.endsWith('.yaml'),
        });
    }
  };
  walk(dir);
  return out;
}

before(async () => {
  local = mkdtempSync(join(root, 'local-'));
  await write('sae', { format: 'saelens', layers: [1], width: 10, activation: 'relu', seed: 1 }, { inputHook: 'hook_resid_pre', outputHook: 'hook_resid_pre' });
  writeFileSync(join(local, 'sae', 'neuronpedia.json'), LABELS);
  await write(
    'tc',
    { format: 'transcoder', layers: [0, 1], width: 6, activation: 'jumprelu', seed: 2 },
    { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out' },
  );
  await write('clt', { format: 'clt', layers: [], width: 5, activation: 'relu', seed: 3 }, { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out' });
  await write(
    'gs',
    { format: 'gemma-scope-npz', layers: [1], width: 12, activation: 'jumprelu', seed: 4 },
    { inputHook: 'hook_resid_post', outputHook: 'hook_resid_post' },
  );
  await write(
    'more',
    { format: 'transcoder', layers: [0, 1], width: 7, activation: 'relu', seed: 5 },
    { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out' },
  );
  hub = await FakeHubServer.start([
    {
      id: REPO,
      files: [
        ...filesUnder(join(local, 'sae'), 'sae'),
        ...filesUnder(join(local, 'tc'), 'tc'),
        ...filesUnder(join(local, 'clt'), 'clt'),
        ...filesUnder(join(local, 'gs'), 'gs'),
      ],
    },
    { id: OTHER, files: filesUnder(join(local, 'more'), '').filter((f) => f.path.endsWith('.safetensors')) },
  ]);
});
after(async () => {
  await hub.close();
  rmSync(root, { recursive: true, force: true });
});

function freshCache(): string {
  return mkdtempSync(join(root, 'cache-'));
}

/** Whether two dictionaries hold the same layers, hooks and weights. */
function assertSameDictionary(a: Dictionary, b: Dictionary): void {
  assert.equal(a.kind, b.kind);
  assert.equal(a.layers.length, b.layers.length);
  a.layers.forEach((layer, i) => {
    const other = b.layers[i]!;
    assert.equal(layer.layer, other.layer);
    assert.equal(layer.inputHook, other.inputHook);
    assert.deepEqual(layer.outputHooks, other.outputHooks);
    assert.deepEqual(Array.from(layer.W_enc), Array.from(other.W_enc));
    assert.deepEqual(Array.from(layer.b_enc), Array.from(other.b_enc));
    assert.deepEqual(layer.activation, other.activation);
    layer.outputHooks.forEach((_, j) => assert.deepEqual(Array.from(layer.decoder(j).all()), Array.from(other.decoder(j).all())));
  });
}

async function compare(source: string, localSub: string, options: Parameters<typeof loadDictionary>[2]): Promise<Dictionary> {
  const fromHub = await loadDictionary(source, MODEL, options);
  const fromDisk = await loadDictionary(join(local, localSub), MODEL);
  try {
    assertSameDictionary(fromHub, fromDisk);
  } finally {
    fromDisk.dispose();
  }
  return fromHub;
}

describe('dictionaries from the hub', () => {
  it('each format loads from a repo subfolder as it does from disk, with its labels', async () => {
    const cacheDir = freshCache();
    const options = { cacheDir, endpoint: hub.endpoint, offline: false };
    const sae = await compare(`${REPO}/sae`, 'sae', options);
    assert.equal(sae.id, `${REPO}/sae`);
    assert.deepEqual([...(sae.labels ?? [])], [['1/3', 'the third feature']]);
    sae.dispose();
    (await compare(`hf://${REPO}/tc?revision=main`, 'tc', options)).dispose();
    const commit = hub.commitOf(REPO);
    const clt = await compare(`${REPO}@${commit}`, 'clt', { ...options, subfolder: 'clt' });
    assert.equal(clt.kind, 'cross_layer_transcoder');
    assert.equal(clt.id, `${REPO}/clt@${commit}`);
    clt.dispose();
    const gs = await compare(`${REPO}/gs/layer_1/width_12/average_l0_1`, 'gs', options);
    gs.dispose();
    const snapshot = snapshotFolder(cacheDir, REPO, commit);
    assert.ok(existsSync(join(snapshot, 'gs', 'layer_1', 'width_12', 'average_l0_1', 'params.safetensors')), 'converted beside the npz in the snapshot');
    assert.deepEqual(await listCachedModels({ cacheDir }), [], 'a dictionary repository in the cache is no model');
    // The subfolders' files only: nothing else of the repo was fetched.
    const fetched = hub.bodyRequests().map((r) => r.file);
    assert.ok(
      fetched.every((f) => f !== null && /^(sae|tc|clt|gs)\//.test(f)),
      JSON.stringify(fetched),
    );

    // Offline, from the cache.
    const offline = await loadDictionary(`${REPO}/sae`, MODEL, { cacheDir, endpoint: hub.endpoint, offline: true });
    offline.dispose();
    await assert.rejects(
      loadDictionary(`${OTHER}`, MODEL, { cacheDir, endpoint: hub.endpoint, offline: true }),
      (e: Error & { code?: string }) => e.code === 'OFFLINE',
    );
  });

  it("a local circuit-tracer config's hf:// transcoders are fetched into the cache", async () => {
    const cacheDir = freshCache();
    const dir = mkdtempSync(join(root, 'config-'));
    writeFileSync(
      join(dir, 'transcoders.yaml'),
      [
        'model_name: "test-model"',
        'feature_input_hook: "hook_resid_mid"',
        "feature_output_hook: 'mlp.hook_out'",
        'transcoders:',
        '  - id: "t0"',
        '    layer: 0',
        `    filepath: "hf://${OTHER}/layer_0.safetensors?revision=main"`,
        '  - id: "t1"',
        '    layer: 1',
        `    filepath: "hf://${OTHER}/layer_1.safetensors"`,
        '',
      ].join('\n'),
    );
    const fromHub = await loadDictionary(dir, MODEL, { cacheDir, endpoint: hub.endpoint, offline: false });
    const fromDisk = await loadDictionary(join(local, 'more'), MODEL);
    try {
      assertSameDictionary(fromHub, fromDisk);
    } finally {
      fromHub.dispose();
      fromDisk.dispose();
    }
    assert.ok(existsSync(join(snapshotFolder(cacheDir, OTHER, hub.commitOf(OTHER)), 'layer_1.safetensors')));
  });

  it('missing repos and folders get typed errors', async () => {
    const options = { cacheDir: freshCache(), endpoint: hub.endpoint, offline: false };
    await assert.rejects(loadDictionary('test/no-such-repo', MODEL, options), (e: Error & { code?: string }) => e.code === 'MODEL_NOT_FOUND');
    await assert.rejects(
      loadDictionary(`${REPO}/nothing-here`, MODEL, options),
      (e: Error & { code?: string }) => e.code === 'MODEL_FILE_MISSING' && /nothing-here/.test(e.message),
    );
    await assert.rejects(loadDictionary('./no/such/folder', MODEL, options), (e: Error & { code?: string }) => e.code === 'MODEL_NOT_FOUND');
  });

  it('a folder with one dictionary below it stands for that one, online and offline; with several the error names them', async () => {
    const cacheDir = freshCache();
    const options = { cacheDir, endpoint: hub.endpoint, offline: false };
    const gs = await compare(`${REPO}/gs`, 'gs', options);
    assert.equal(gs.id, `${REPO}/gs/layer_1/width_12/average_l0_1`);
    gs.dispose();
    const offline = await compare(`${REPO}/gs/layer_1`, 'gs', { ...options, offline: true });
    assert.equal(offline.id, `${REPO}/gs/layer_1/width_12/average_l0_1`);
    offline.dispose();
    await assert.rejects(loadDictionary(REPO, MODEL, options), (e: Error & { code?: string; hint?: string }) => {
      assert.equal(e.code, 'MODEL_FILE_MISSING');
      assert.match(e.message, /holds no dictionary itself but 4 in its folders: clt, gs\/layer_1\/width_12\/average_l0_1, sae, tc\./);
      assert.match(e.hint ?? '', new RegExp(`Name one, e\\.g\\. ${REPO}/clt`));
      return true;
    });
  });

  it('a download cut short or corrupted leaves no file where the loader looks, and a retry completes it', async () => {
    const cacheDir = freshCache();
    const options = { cacheDir, endpoint: hub.endpoint, offline: false };
    const weights = 'sae/sae_weights.safetensors';
    const snapshotFile = join(snapshotFolder(cacheDir, REPO, hub.commitOf(REPO)), 'sae', 'sae_weights.safetensors');
    hub.cutConnectionOnce(REPO, weights, 100);
    await assert.rejects(loadDictionary(`${REPO}/sae`, MODEL, options), (e: Error & { code?: string }) => e.code === 'DOWNLOAD_FAILED');
    assert.ok(!existsSync(snapshotFile), 'no half-downloaded weights in the snapshot');
    hub.corruptFile(REPO, weights);
    await assert.rejects(loadDictionary(`${REPO}/sae`, MODEL, options), (e: Error & { code?: string }) => e.code === 'CHECKSUM_MISMATCH');
    assert.ok(!existsSync(snapshotFile), 'no corrupt weights in the snapshot');
    hub.corruptFile(REPO, weights, false);
    const loaded = await loadDictionary(`${REPO}/sae`, MODEL, options);
    loaded.dispose();
    assert.ok(existsSync(snapshotFile));
  });
});
