import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changedSettings, DEFAULT_SETTINGS, PREPEND_BOS_SETTINGS, prependBosRequest, readSettings } from '../../../src/extension/settings.js';
import { allowedWhenUntrusted, automaticChoice, modelChoiceId, parseModelChoice, toModelSpec } from '../../../src/extension/model/model-choice.js';
import { readModelRegistry } from '../../../src/extension/model/model-registry.js';
import { buildCatalog, completeCachedRepos } from '../../../src/extension/model/model-catalog.js';
import { errorActions, isHubUnreachable, isNotifiable, settingForError } from '../../../src/extension/error-actions.js';
import { progressMessage, TransferRate } from '../../../src/extension/model/transfer-rate.js';
import type { EngineErrorCode } from '../../../src/engine/errors.js';

test('settings: defaults, valid values and fallbacks for bad values', () => {
  assert.deepEqual(
    readSettings(() => undefined),
    DEFAULT_SETTINGS,
  );
  const values: Record<string, unknown> = {
    model: ' gpt2 ',
    device: 'cuda',
    maxTokens: 128,
    topK: 5,
    cacheFolder: '/tmp/hf',
    offline: true,
    streamAnimation: false,
    headThreshold: 0.5,
    prependBos: 'off',
  };
  assert.deepEqual(
    readSettings((k) => values[k]),
    {
      model: 'gpt2',
      device: 'cuda',
      maxTokens: 128,
      topK: 5,
      cacheFolder: '/tmp/hf',
      offline: true,
      streamAnimation: false,
      headThreshold: 0.5,
      prependBos: 'off',
    },
  );
  const bad: Record<string, unknown> = {
    model: 3,
    device: 'tpu',
    maxTokens: 1.5,
    topK: 0,
    cacheFolder: null,
    offline: 'yes',
    streamAnimation: 1,
    headThreshold: 2,
    // A boolean is not one of the three values.
    prependBos: true,
  };
  assert.deepEqual(
    readSettings((k) => bad[k]),
    DEFAULT_SETTINGS,
  );
  assert.deepEqual(changedSettings(DEFAULT_SETTINGS, { ...DEFAULT_SETTINGS, topK: 3, offline: true }), ['topK', 'offline']);
  // The model's own convention (TransformerLens's default_prepend_bos) is the default; requests then say nothing.
  assert.equal(DEFAULT_SETTINGS.prependBos, 'model');
  assert.deepEqual(
    PREPEND_BOS_SETTINGS.map((setting) => prependBosRequest(setting)),
    [undefined, true, false],
  );
});

test('model choice: parse, canonical id and engine spec', () => {
  assert.equal(parseModelChoice(''), null);
  assert.deepEqual(parseModelChoice('organism'), { kind: 'organism' });
  assert.deepEqual(parseModelChoice('Organism'), { kind: 'organism' });
  assert.deepEqual(parseModelChoice('gpt2'), { kind: 'hub', repo: 'gpt2' });
  assert.deepEqual(parseModelChoice('openai-community/gpt2@main'), { kind: 'hub', repo: 'openai-community/gpt2', revision: 'main' });
  assert.deepEqual(parseModelChoice('/models/my-gpt2'), { kind: 'folder', path: '/models/my-gpt2' });
  assert.deepEqual(parseModelChoice('~/models/x'), { kind: 'folder', path: '~/models/x' });
  assert.deepEqual(parseModelChoice('C:\\models\\x'), { kind: 'folder', path: 'C:\\models\\x' });
  assert.throws(() => parseModelChoice('not a model!'), /neither "organism"/);
  assert.throws(() => parseModelChoice('a--b/c'));
  assert.equal(modelChoiceId({ kind: 'hub', repo: 'gpt2', revision: 'main' }), 'gpt2');
  assert.equal(modelChoiceId({ kind: 'hub', repo: 'gpt2', revision: 'abc' }), 'gpt2@abc');
  for (const id of ['organism', 'openai-community/gpt2', 'gpt2@v1', '/x/y']) {
    assert.equal(modelChoiceId(parseModelChoice(id) as NonNullable<ReturnType<typeof parseModelChoice>>), id);
  }
  assert.deepEqual(toModelSpec({ kind: 'organism' }, '/store/organism', '/home/u'), { kind: 'organism', dir: '/store/organism' });
  assert.deepEqual(toModelSpec({ kind: 'folder', path: '~/m' }, '/s', '/home/u'), { kind: 'folder', path: '/home/u/m' });
  assert.deepEqual(toModelSpec({ kind: 'hub', repo: 'gpt2' }, '/s', '/h'), { kind: 'hub', repo: 'gpt2' });
  assert.equal(allowedWhenUntrusted({ kind: 'folder', path: '/x' }), false);
  assert.equal(allowedWhenUntrusted({ kind: 'hub', repo: 'gpt2' }), true);
  assert.equal(allowedWhenUntrusted({ kind: 'organism' }), true);
});

test('model choice: automatic default is the first known cached model, else the organism', () => {
  assert.deepEqual(automaticChoice({ knownRepos: ['openai-community/gpt2', 'distilgpt2'], cachedRepos: [] }), { kind: 'organism' });
  assert.deepEqual(automaticChoice({ knownRepos: ['openai-community/gpt2', 'distilgpt2'], cachedRepos: ['distilgpt2', 'other/x'] }), {
    kind: 'hub',
    repo: 'distilgpt2',
  });
  assert.deepEqual(automaticChoice({ knownRepos: [], cachedRepos: ['other/x'] }), { kind: 'organism' }, 'an unknown cached model is not picked silently');
});

test('registry: read defensively', () => {
  assert.deepEqual(readModelRegistry(undefined).models, []);
  assert.match(readModelRegistry('{').problems[0] ?? '', /not valid JSON/);
  assert.match(readModelRegistry('42').problems[0] ?? '', /neither an array/);
  const text = JSON.stringify({
    models: [
      { id: 'organism', kind: 'organism', displayName: 'Organism' },
      { repo: 'openai-community/gpt2', displayName: 'GPT-2 small', sizeBytes: 548105171, nLayers: 12, nHeads: 12, description: '124M' },
      { hubId: 'distilgpt2', name: 'DistilGPT-2', config: { n_layer: 6, n_head: 12 } },
      { repo: 'bad id with spaces' },
      'nonsense',
      { displayName: 'no repo' },
      { repo: 'openai-community/gpt2' },
    ],
  });
  const reading = readModelRegistry(text);
  assert.deepEqual(reading.models, [
    { repo: 'openai-community/gpt2', displayName: 'GPT-2 small', description: '124M', sizeBytes: 548105171, nLayers: 12, nHeads: 12 },
    { repo: 'distilgpt2', displayName: 'DistilGPT-2', nLayers: 6, nHeads: 12 },
  ]);
  assert.equal(reading.problems.length, 4);
  assert.equal(readModelRegistry(JSON.stringify([{ repo: 'gpt2' }])).models[0]?.displayName, 'gpt2');
});

test('catalog: organism, cached with size, known downloadable, active marked', () => {
  const entries = buildCatalog({
    organismName: 'Model organism',
    cached: [
      { repo: 'openai-community/gpt2', sizeOnDisk: 548_105_171, complete: true, partialDownloads: 0 },
      { repo: 'x/half', sizeOnDisk: 1000, complete: false, partialDownloads: 1 },
    ],
    known: [
      { repo: 'openai-community/gpt2', displayName: 'GPT-2 small' },
      { repo: 'distilgpt2', displayName: 'DistilGPT-2', sizeBytes: 352_833_716 },
    ],
    activeId: 'openai-community/gpt2',
  });
  assert.deepEqual(
    entries.map((e) => [e.kind, e.id, e.label, e.description, e.active]),
    [
      ['organism', 'organism', 'Model organism', 'built-in', false],
      ['cached', 'openai-community/gpt2', 'GPT-2 small', 'cached · 548 MB', true],
      ['cached', 'x/half', 'x/half', 'cached · incomplete, 1.0 kB (download can resume)', false],
      ['remote', 'distilgpt2', 'DistilGPT-2', 'download · 353 MB', false],
    ],
  );
  assert.deepEqual(
    completeCachedRepos([
      { repo: 'a', sizeOnDisk: 1, complete: true, partialDownloads: 0 },
      { repo: 'b', sizeOnDisk: 1, complete: false, partialDownloads: 0 },
    ]),
    ['a'],
  );
});

test('error actions by code', () => {
  assert.deepEqual(errorActions('MODEL_NOT_FOUND'), ['selectModel', 'downloadModel', 'showLogs']);
  assert.deepEqual(errorActions('CHECKSUM_MISMATCH'), ['downloadModel', 'showLogs']);
  assert.deepEqual(errorActions('PROMPT_TOO_LONG'), ['openSettings', 'showLogs']);
  assert.equal(settingForError('PROMPT_TOO_LONG'), 'circuitTrace.maxTokens');
  assert.equal(settingForError('DEVICE_UNAVAILABLE'), 'circuitTrace.device');
  assert.equal(isNotifiable('CANCELLED'), false);
  assert.equal(isNotifiable('INTERNAL'), true);
  assert.equal(isHubUnreachable('DOWNLOAD_FAILED'), true);
  assert.equal(isHubUnreachable('MODEL_NOT_FOUND'), false);
  const all: EngineErrorCode[] = [
    'EMPTY_PROMPT',
    'PROMPT_TOO_LONG',
    'MODEL_NOT_FOUND',
    'MODEL_FILE_MISSING',
    'CORRUPT_WEIGHTS',
    'MISSING_TENSOR',
    'WRONG_SHAPE',
    'UNSUPPORTED_DTYPE',
    'UNKNOWN_ARCHITECTURE',
    'BAD_CONFIG',
    'BAD_TOKENIZER',
    'NOT_SINGLE_TOKEN',
    'LENGTH_MISMATCH',
    'BAD_ARGUMENT',
    'DOWNLOAD_FAILED',
    'CHECKSUM_MISMATCH',
    'OFFLINE',
    'DEVICE_UNAVAILABLE',
    'WORKER_CRASHED',
    'INTERNAL',
  ];
  for (const code of all) assert.equal(errorActions(code).at(-1), 'showLogs', `${code} offers Show Logs last`);
});

test('transfer rate over a sliding window, resumes not counted as speed', () => {
  const rate = new TransferRate(5000);
  rate.sample({ file: 'model.safetensors', bytesDone: 100_000_000, bytesTotal: 500_000_000 }, 0); // resumed at 100 MB
  assert.equal(rate.bytesPerSecond(), null);
  rate.sample({ file: 'model.safetensors', bytesDone: 110_000_000, bytesTotal: 500_000_000 }, 1000);
  assert.equal(rate.bytesPerSecond(), 10_000_000);
  rate.sample({ file: 'model.safetensors', bytesDone: 130_000_000, bytesTotal: 500_000_000 }, 2000);
  assert.equal(rate.bytesPerSecond(), 15_000_000);
  // Ten seconds later only the recent samples count.
  rate.sample({ file: 'model.safetensors', bytesDone: 131_000_000, bytesTotal: 500_000_000 }, 12000);
  rate.sample({ file: 'model.safetensors', bytesDone: 132_000_000, bytesTotal: 500_000_000 }, 13000);
  assert.equal(rate.bytesPerSecond(), 1_000_000);
  // A new file's first event is a baseline.
  rate.sample({ file: 'tokenizer.json', bytesDone: 500_000, bytesTotal: 1_000_000 }, 13500);
  rate.sample({ file: 'tokenizer.json', bytesDone: 1_000_000, bytesTotal: 1_000_000 }, 14000);
  // 12000 → 14000: 1 MB of the weights + 0.5 MB of the tokenizer in 2 s.
  assert.equal(rate.bytesPerSecond(), 750_000);
  assert.equal(
    progressMessage({ file: 'model.safetensors', bytesDone: 120_000_000, bytesTotal: 548_000_000 }, 12_300_000),
    'model.safetensors · 120 MB of 548 MB (21.9%) · 12.3 MB/s',
  );
  assert.equal(progressMessage({ file: 'config.json', bytesDone: 665, bytesTotal: 0 }, null), 'config.json · 665 B');
});
