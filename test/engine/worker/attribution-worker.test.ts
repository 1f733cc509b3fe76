/**
 * Engine.attribute and Engine.pathPatch through the engine's worker (in its relay process), as the
 * Lab's attribution view calls them: the maps that cross the process boundary are the in-thread
 * engine's on the same model (typed arrays intact), progress streams while they run, and a
 * cancelled run ends with CANCELLED.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { eapEdgeScorer } from '../../../src/engine/circuits/eap-edge-scorer.js';
import { Engine } from '../../../src/engine/engine.js';
import { EngineError } from '../../../src/engine/errors.js';
import { createEngineClient, type EngineClient } from '../../../src/engine/worker/engine-client.js';
import type { AttributionProgress, PathPatchMapProgress } from '../../../src/protocol/attribution.js';
import { randomModelFolder } from '../../helpers/model-fixtures.js';

const workerPath = join(dirname(fileURLToPath(import.meta.url)), '../../../src/engine/worker/worker-main.ts');
const PROMPTS = {
  clean: 'When Mary and John went to the store, John gave a drink to',
  corrupt: 'When Mary and John went to the store, Mary gave a drink to',
  target: { text: ' Mary' },
  contrast: { text: ' John' },
};

let client: EngineClient;
let local: Engine;
before(async () => {
  const fixture = await randomModelFolder('tiny', 7);
  client = createEngineClient({ workerPath });
  await client.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
  local = new Engine({ edgeScorer: eapEdgeScorer });
  await local.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
});
after(async () => {
  await client?.dispose();
  await local?.dispose();
});

test("AtP through the worker is the in-thread engine's map, with its passes streamed", async () => {
  const progress: AttributionProgress[] = [];
  const remote = await client.attribute({ ...PROMPTS, method: 'atp' }, { onProgress: (p) => progress.push(p) });
  const here = await local.attribute({ ...PROMPTS, method: 'atp' });
  assert.ok(remote.heads instanceof Float32Array && remote.positions!.mlp_out instanceof Float32Array);
  const { elapsedMs: _a, ...r } = remote;
  const { elapsedMs: _b, ...h } = here;
  assert.deepEqual(r, h);
  assert.deepEqual(
    progress.map((p) => `${p.done}/${p.total}`),
    ['0/4', '1/4', '2/4', '3/4', '4/4'],
  );
});

test("path patching to the logits through the worker is the in-thread engine's map, senders streamed", async () => {
  const progress: PathPatchMapProgress[] = [];
  const remote = await client.pathPatch({ ...PROMPTS, receivers: 'logits' }, { onProgress: (p) => progress.push(p) });
  const here = await local.pathPatch({ ...PROMPTS, receivers: 'logits' });
  const { elapsedMs: _a, ...r } = remote;
  const { elapsedMs: _b, ...h } = here;
  assert.deepEqual(r, h);
  assert.equal(remote.entries.length, remote.nLayers * remote.nHeads);
  assert.ok(progress.length > 0 && progress.at(-1)!.done === progress.at(-1)!.total);
});

test('a cancelled attribution ends with CANCELLED', async () => {
  const controller = new AbortController();
  const running = client.attribute({ ...PROMPTS, method: 'eap-ig', steps: 20 }, { signal: controller.signal });
  controller.abort();
  await assert.rejects(running, (e: unknown) => e instanceof EngineError && e.code === 'CANCELLED');
  // The worker stays usable.
  const map = await client.attribute({ ...PROMPTS, method: 'eap-ig', steps: 2 });
  assert.equal(map.positions, null);
});
