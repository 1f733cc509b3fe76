/**
 * circuitSizes through the engine's worker (in its relay process), as the Lab's size slider calls
 * it: the answer that crosses the process boundary is the in-thread engine's on the same model and
 * scores, a cancelled request ends with CANCELLED and the worker answers the next one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { rmSync } from 'node:fs';
import { Engine } from '../../../src/engine/engine.js';
import { EngineError } from '../../../src/engine/errors.js';
import { createEngineClient, type EngineClient } from '../../../src/engine/worker/engine-client.js';
import type { CircuitSizesRequest } from '../../../src/protocol/circuit-sizes.js';
import { randomModelFolder } from '../../helpers/model-fixtures.js';

const workerPath = join(dirname(fileURLToPath(import.meta.url)), '../../../src/engine/worker/worker-main.ts');

let client: EngineClient;
let local: Engine;
let dir: string;
let request: CircuitSizesRequest;
before(async () => {
  const fixture = await randomModelFolder('tiny', 11);
  dir = fixture.dir;
  client = createEngineClient({ workerPath });
  await client.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
  local = new Engine();
  await local.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
  const total = (await local.circuitTools()).patcher.graph.edges.length;
  // Any scores do: the request carries them (a discovery's, in the Lab); these rank the edges pseudo-randomly.
  const scores = Float64Array.from({ length: total }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 - Math.floor(Math.sin(i * 12.9898) * 43758.5453) - 0.5);
  const [clean, corrupt] = [await local.tokenize(' a b c d e f'), await local.tokenize(' a b x d e f')];
  request = { cleanIds: clean.map((t) => t.id), corruptIds: corrupt.map((t) => t.id), target: { id: 5 }, contrast: { id: 9 }, scores, sizes: [1, 4, 40] };
});
after(async () => {
  await client?.dispose();
  await local?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('the worker’s circuits and faithfulness are the in-thread engine’s', async () => {
  const { elapsedMs: _a, ...remote } = await client.circuitSizes(request);
  const { elapsedMs: _b, ...here } = await local.circuitSizes(request);
  assert.deepEqual(remote, here);
  assert.equal(remote.points.length, 3);
  assert.ok(remote.points.every((p, i) => p.edges <= request.sizes[i]! && p.circuit.length === p.edges));
});

test('a cancelled request ends with CANCELLED, and the worker answers the next', async () => {
  const controller = new AbortController();
  const running = client.circuitSizes(request, { signal: controller.signal });
  controller.abort();
  await assert.rejects(running, (e: unknown) => e instanceof EngineError && e.code === 'CANCELLED');
  const next = await client.circuitSizes({ ...request, sizes: [2] });
  assert.equal(next.points.length, 1);
});
