/**
 * When the model manager may use the network (issue 15, B6): background loads (activation,
 * opening a `.prompt` file, CodeLens, hovers, the models view) use the Hugging Face cache only,
 * resolving a branch through refs/ offline; an explicit load in an untrusted workspace contacts
 * the Hub only after the user said yes to a modal question. A fake Hub counts every request.
 */
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DownloadProgress, LoadedModelInfo, LoadOptions, ModelSpec } from '../../../src/protocol/engine.js';
import type { ModelEngine } from '../../../src/extension/model/model-loader.js';
import { EngineError } from '../../../src/engine/errors.js';
import { resolveModelFolder } from '../../../src/engine/model/load-model.js';
import { downloadModel } from '../../../src/engine/model/hub/download.js';
import { ROOT, fakeVscode, source } from '../../mocks/load-with-fakes.js';
import { FakeHubServer, tinyModelFiles } from '../../helpers/fake-hub-server.js';

type ManagerModule = typeof import('../../../src/extension/model/model-manager.js');
const vscode = fakeVscode();
const { ModelManager } = source<ManagerModule>('src/extension/model/model-manager.ts');
const { fake } = vscode;

const CACHED = 'tiny/cached';
const NOT_CACHED = 'tiny/remote';
const scratch = mkdtempSync(join(tmpdir(), 'circuit-trace-network-'));
const cacheDir = join(scratch, 'hub');
let hub: FakeHubServer;
const savedEndpoint = process.env['HF_ENDPOINT'];

/** An engine that resolves the model folder as the real one does (cache, refs, Hub) and loads nothing. */
function resolvingEngine(): ModelEngine {
  return {
    async loadModel(
      spec: ModelSpec,
      options: LoadOptions,
      hooks: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void } = {},
    ): Promise<LoadedModelInfo> {
      const { displayName } = await resolveModelFolder(spec, options, hooks);
      return {
        id: spec.kind === 'hub' ? spec.repo : spec.kind,
        displayName,
        nLayers: 1,
        nHeads: 2,
        dModel: 8,
        dHead: 4,
        dVocab: 4,
        nCtx: 16,
        bosTokenId: null,
        device: 'cpu',
        deviceNote: null,
        loadMs: 1,
      };
    },
    download: (repo, options, hooks = {}) => downloadModel(repo, { ...options, ...hooks, offline: false }),
    listCachedModels: async () => [],
    deleteCachedModel: async () => false,
  };
}

function manager(): InstanceType<ManagerModule['ModelManager']> {
  const settings = (): ReturnType<typeof import('../../../src/extension/settings.js').readSettings> => ({
    model: String(fake.configuration.get('model') ?? ''),
    device: 'cpu',
    maxTokens: 16,
    topK: 5,
    cacheFolder: cacheDir,
    offline: false,
    streamAnimation: false,
    headThreshold: 0.35,
    prependBos: 'model',
  });
  const log = vscode.window.createOutputChannel() as never;
  return new ModelManager(resolvingEngine(), settings as never, vscode.Uri.file(ROOT) as never, vscode.Uri.file(join(scratch, 'storage')) as never, log);
}

before(async () => {
  hub = await FakeHubServer.start([
    { id: CACHED, files: tinyModelFiles({ seed: 1 }) },
    { id: NOT_CACHED, files: tinyModelFiles({ seed: 2 }) },
  ]);
  process.env['HF_ENDPOINT'] = hub.endpoint;
  // The cached model is in the cache at branch main (refs/main names its commit).
  await downloadModel(CACHED, { cacheDir, endpoint: hub.endpoint, offline: false });
});

beforeEach(() => {
  fake.reset();
  hub.clearLog();
  vscode.workspace.isTrusted = false;
});

after(async () => {
  vscode.workspace.isTrusted = true;
  if (savedEndpoint === undefined) delete process.env['HF_ENDPOINT'];
  else process.env['HF_ENDPOINT'] = savedEndpoint;
  await hub.close();
  rmSync(scratch, { recursive: true, force: true });
});

test('untrusted workspace: a background load of a cached branch revision makes no request to the Hub', async () => {
  fake.configuration.set('model', CACHED);
  const models = manager();
  try {
    const loaded = await models.ensureLoaded({ background: true });
    assert.equal(loaded?.id, CACHED, 'the cached snapshot is loaded');
    assert.deepEqual(
      hub.requests.map((r) => r.url),
      [],
      'no request reached the Hub',
    );
  } finally {
    models.dispose();
  }
});

test('untrusted workspace: a background load of a model that is not cached makes no request and loads nothing', async () => {
  fake.configuration.set('model', NOT_CACHED);
  const models = manager();
  try {
    assert.equal(await models.ensureLoaded({ background: true }), undefined);
    assert.deepEqual(
      hub.requests.map((r) => r.url),
      [],
    );
    assert.deepEqual(fake.messages, [], 'a background load asks nothing');
  } finally {
    models.dispose();
  }
});

test('untrusted workspace: an explicit load that needs the Hub asks first; "no" is UNTRUSTED_WORKSPACE and no request', async () => {
  fake.configuration.set('model', NOT_CACHED);
  const models = manager();
  try {
    await assert.rejects(models.ensureLoaded(), (e: unknown) => e instanceof EngineError && e.code === 'UNTRUSTED_WORKSPACE');
    assert.deepEqual(
      hub.requests.map((r) => r.url),
      [],
    );
    const question = fake.messages.find((m) => m.modal);
    assert.match(question?.text ?? '', /Contact the Hugging Face Hub\?/);
  } finally {
    models.dispose();
  }
});

test('untrusted workspace: after a yes, the explicit load downloads from the Hub', async () => {
  fake.configuration.set('model', NOT_CACHED);
  const models = manager();
  try {
    fake.nextMessageAnswer = 'Contact the Hub';
    const loaded = await models.ensureLoaded();
    assert.equal(loaded?.id, NOT_CACHED);
    assert.ok(hub.requests.length > 0, 'the Hub was asked');
  } finally {
    models.dispose();
  }
});

test('trusted workspace: an explicit load of a branch asks the Hub for its commit without a question', async () => {
  vscode.workspace.isTrusted = true;
  fake.configuration.set('model', CACHED);
  const models = manager();
  try {
    await models.ensureLoaded();
    assert.ok(hub.requests.length > 0);
    assert.equal(fake.messages.filter((m) => m.modal).length, 0);
  } finally {
    models.dispose();
  }
});
