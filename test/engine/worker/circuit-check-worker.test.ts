/**
 * checkCircuit through the engine's worker (in its relay process), as the @circuit CodeLens calls
 * it: the verdict that crosses the process boundary is the in-thread engine's on the same model, and
 * a hypothesis naming a head the model lacks arrives as a typed error naming it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { rmSync } from 'node:fs';
import { Engine } from '../../../src/engine/engine.js';
import { EngineError } from '../../../src/engine/errors.js';
import { createEngineClient, type EngineClient } from '../../../src/engine/worker/engine-client.js';
import type { CircuitCheckRequest } from '../../../src/protocol/circuit-check.js';
import { randomModelFolder } from '../../helpers/model-fixtures.js';

const workerPath = join(dirname(fileURLToPath(import.meta.url)), '../../../src/engine/worker/worker-main.ts');
const REQUEST: CircuitCheckRequest = {
  clean: 'When Mary and John went to the store, John gave a drink to',
  corrupt: 'When Mary and John went to the store, Mary gave a drink to',
  target: { text: ' Mary' },
  contrast: { text: ' John' },
  nodes: ['L0H1', 'L1H2', 'mlp1'],
  threshold: 0.5,
};

let client: EngineClient;
let local: Engine;
let dir: string;
before(async () => {
  const fixture = await randomModelFolder('tiny', 7);
  dir = fixture.dir;
  client = createEngineClient({ workerPath });
  await client.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
  local = new Engine();
  await local.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
});
after(async () => {
  await client?.dispose();
  await local?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('the worker’s verdict is the in-thread engine’s', async () => {
  const remote = await client.checkCircuit(REQUEST);
  const here = await local.checkCircuit(REQUEST);
  const { elapsedMs: _a, ...r } = remote;
  const { elapsedMs: _b, ...h } = here;
  assert.deepEqual(r, h);
  assert.ok(Number.isFinite(remote.faithfulness));
  assert.equal(remote.passed, remote.faithfulness >= 0.5);
});

test('a head the model lacks crosses the boundary as a typed error naming it', async () => {
  await assert.rejects(
    client.checkCircuit({ ...REQUEST, nodes: ['L0H1', 'L7H0'] }),
    (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && /names L7H0, which this model does not have/.test(e.message),
  );
});
