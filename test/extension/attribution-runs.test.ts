/**
 * AttributionRuns (src/extension/attribution-runs.ts) with the shared fakes: the BOS setting goes
 * into requests that do not set it (and a request's own wins), the model is loaded first, progress
 * is reported from the engine's streamed passes, and a model switch cancels a waiting run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeVscode, source } from '../mocks/load-with-fakes.js';
import { createEngineClient, engineCalls } from '../mocks/engine-client.js';
import { DEFAULT_SETTINGS, type Settings } from '../../src/extension/settings.js';
import type { EngineApi } from '../../src/protocol/engine.js';
import { EngineError } from '../../src/engine/errors.js';

fakeVscode();
type Runs = typeof import('../../src/extension/attribution-runs.js');
const { AttributionRuns } = source<Runs>('src/extension/attribution-runs.ts');

function stubModels() {
  const switches: (() => void)[] = [];
  let loads = 0;
  const models = {
    active: () => ({ displayName: 'Fake organism' }),
    ensureLoaded: async () => (loads++, { id: 'organism' }),
    onWillSwitch: (listener: () => void) => switches.push(listener),
  };
  return { models: models as unknown as import('../../src/extension/model/model-manager.js').ModelManager, switches, loads: () => loads };
}

const log = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as import('vscode').LogOutputChannel;

test('attribute and pathPatch: the BOS setting fills requests that do not set it; the model loads first', async () => {
  const engine = createEngineClient({ workerPath: '' });
  const { models, loads } = stubModels();
  let settings: Settings = { ...DEFAULT_SETTINGS, prependBos: 'off' };
  const runs = new AttributionRuns(engine, models, () => settings, log);
  engineCalls.length = 0;
  const map = await runs.attribute({ clean: 'a b', corrupt: 'a c', target: { text: ' b' }, contrast: { text: ' c' }, method: 'atp' });
  assert.equal(map.method, 'atp');
  assert.equal(map.metric.name, 'logit_diff');
  settings = { ...DEFAULT_SETTINGS, prependBos: 'on' };
  await runs.pathPatch({ clean: 'a b', corrupt: 'a c', target: { text: ' b' }, receivers: 'logits', prependBos: false });
  assert.deepEqual(
    engineCalls.map((c) => [c.method, (c.args as { prependBos?: boolean }).prependBos]),
    [
      ['attribute', false],
      ['pathPatch', false],
    ],
    "the setting 'off', then the request's own false over the setting 'on'",
  );
  assert.equal(loads(), 2);
  runs.dispose();
});

test('a model switch cancels a run that waits on the engine; progress follows the streamed passes', async () => {
  const progress: unknown[] = [];
  let release!: () => void;
  const engine = {
    attribute: (_request: unknown, hooks: { signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void }) =>
      new Promise((resolve, reject) => {
        hooks.onProgress?.({ done: 1, total: 4 });
        progress.push('started');
        hooks.signal?.addEventListener('abort', () => reject(new EngineError('CANCELLED', 'The run was cancelled.')));
        release = () => resolve({});
      }),
  } as unknown as EngineApi;
  const { models, switches } = stubModels();
  const runs = new AttributionRuns(engine, models, () => DEFAULT_SETTINGS, log);
  const running = runs.attribute({ cleanIds: [1, 2], corruptIds: [1, 3], target: { id: 2 }, method: 'atp' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(progress, ['started']);
  assert.equal(switches.length, 1);
  switches[0]!();
  await assert.rejects(running, (e: unknown) => e instanceof EngineError && e.code === 'CANCELLED');
  release();
});
