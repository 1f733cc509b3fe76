/** The pure model selection (src/extension/model/model-selection.ts): which model, how it may load. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  activeModel,
  chosenModel,
  loadKey,
  loadOptionsOf,
  modelDisplayName,
  networkUse,
  untrustedFolderError,
} from '../../../src/extension/model/model-selection.js';
import { DEFAULT_SETTINGS } from '../../../src/extension/settings.js';

const known = [{ repo: 'openai-community/gpt2', displayName: 'GPT-2 small' }];
const cached = [{ repo: 'openai-community/gpt2', sizeOnDisk: 1, complete: true, partialDownloads: 0 }];

test('the setting chooses; empty is the first cached known model, else the organism; invalid is reported', () => {
  assert.deepEqual(chosenModel({ setting: 'gpt2', known, cached: [] }), { choice: { kind: 'hub', repo: 'gpt2' }, problem: null });
  assert.deepEqual(chosenModel({ setting: '', known, cached }).choice, { kind: 'hub', repo: 'openai-community/gpt2' });
  assert.deepEqual(chosenModel({ setting: '', known, cached: [] }).choice, { kind: 'organism' });
  const invalid = chosenModel({ setting: 'not a model!', known, cached: [] });
  assert.deepEqual(invalid.choice, { kind: 'organism' });
  assert.match(invalid.problem ?? '', /circuitTrace\.model/);
});

test('a fallback replaces only the model it stands in for', () => {
  const fallback = { fromId: 'openai-community/gpt2', reason: 'Hub unreachable' };
  const active = activeModel({ setting: 'openai-community/gpt2', known, cached, fallback });
  assert.equal(active.id, 'organism');
  assert.equal(active.fallbackReason, 'Hub unreachable');
  assert.equal(activeModel({ setting: 'distilgpt2', known, cached, fallback }).id, 'distilgpt2');
  assert.equal(activeModel({ setting: 'openai-community/gpt2', known, cached, fallback: null }).displayName, 'GPT-2 small');
  assert.equal(modelDisplayName({ kind: 'folder', path: '/models/my-gpt2/' }, known), 'my-gpt2');
  assert.equal(modelDisplayName({ kind: 'folder', path: 'C:\\models\\x' }, known), 'x');
});

test('load options and keys follow the settings that change what is loaded', () => {
  const options = loadOptionsOf({ ...DEFAULT_SETTINGS, cacheFolder: '/hf' });
  assert.deepEqual(options, { device: 'auto', maxTokens: 64, offline: false, cacheDir: '/hf' });
  assert.equal(loadKey('gpt2', options), loadKey('gpt2', { ...options }));
  assert.notEqual(loadKey('gpt2', options), loadKey('gpt2', { ...options, maxTokens: 128 }));
  assert.notEqual(loadKey('gpt2', options), loadKey('organism', options));
});

test('network use: background loads never, explicit ones when trusted, or after asking when not', () => {
  assert.equal(networkUse({ background: true, trusted: true }), 'cache-only');
  assert.equal(networkUse({ background: true, trusted: false }), 'cache-only');
  assert.equal(networkUse({ background: false, trusted: true }), 'allowed');
  assert.equal(networkUse({ background: false, trusted: false }), 'ask-first');
});

test('an untrusted workspace refuses folders with UNTRUSTED_WORKSPACE, not Hub models or the organism', () => {
  const folder = activeModel({ setting: '/models/x', known, cached, fallback: null });
  assert.equal(untrustedFolderError(folder, false)?.code, 'UNTRUSTED_WORKSPACE');
  assert.equal(untrustedFolderError(folder, true), null);
  assert.equal(untrustedFolderError(activeModel({ setting: 'gpt2', known, cached, fallback: null }), false), null);
  assert.equal(untrustedFolderError(activeModel({ setting: 'organism', known, cached, fallback: null }), false), null);
});
