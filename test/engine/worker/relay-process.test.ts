/**
 * The RPC layer through a relay child process (src/engine/worker/relay-process.ts): the worker
 * thread runs in another process, and results, streamed events, cancellation, typed errors and
 * crashes (a native one included) behave as they do with an in-process worker.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { EngineError, type EngineErrorCode } from '../../../src/engine/errors.js';
import { WorkerRpcClient } from '../../../src/engine/worker/rpc.js';
import { forkRelay } from '../../../src/engine/worker/relay-process.js';
import type { BusyProgress, RpcTestApi } from '../../helpers/rpc-test-worker.js';

const RELAY_PATH = fileURLToPath(new URL('../../../src/engine/worker/relay-main.ts', import.meta.url));
const WORKER_PATH = fileURLToPath(new URL('../../helpers/rpc-test-worker.ts', import.meta.url));

const clients: WorkerRpcClient<RpcTestApi>[] = [];
function newClient(onCrash?: (error: EngineError) => void): WorkerRpcClient<RpcTestApi> {
  const client = new WorkerRpcClient<RpcTestApi>(() => forkRelay(RELAY_PATH, WORKER_PATH), onCrash ? { onCrash } : {});
  clients.push(client);
  return client;
}
after(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
});

async function rejectsWith(promise: Promise<unknown>, code: EngineErrorCode): Promise<EngineError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof EngineError, `expected an EngineError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a rejection with ${code}`);
}

test('calls are answered from another process; typed arrays cross in both directions', async () => {
  const client = newClient();
  const values = Float32Array.from([1.5, -2, 3.25]);
  const result = await client.call('echo', { text: 'héllo', values }, { transfer: [values.buffer] });
  assert.notEqual(result.pid, process.pid, 'the handler ran in the relay process');
  assert.equal(result.text, 'héllo');
  assert.ok(result.values instanceof Float32Array);
  assert.deepEqual(Array.from(result.values), [1.5, -2, 3.25]);
});

test('a transferred 4 MB Float32Array result arrives intact', async () => {
  const client = newClient();
  const length = 1_000_000;
  const { values } = await client.call('makeArray', { length });
  assert.ok(values instanceof Float32Array);
  assert.equal(values.length, length);
  let wrong = 0;
  for (let i = 0; i < length; i++) if (values[i] !== i / 2) wrong++;
  assert.equal(wrong, 0);
  // The worker moved it to the relay, which sent it on: the worker's copy is detached.
  assert.equal(await client.call('madeArrayByteLength', null), 0);
});

test('progress events stream through the relay, in order, before the call resolves', async () => {
  const client = newClient();
  const events: BusyProgress[] = [];
  let resolved = false;
  const outcome = await client.call(
    'busy',
    { ms: 400, progressEveryMs: 50 },
    {
      onEvent: (e) => {
        assert.equal(resolved, false, 'an event arrived after the result');
        events.push(e);
      },
    },
  );
  resolved = true;
  assert.equal(outcome.cancelled, false);
  assert.ok(events.length >= 3, `only ${events.length} progress events`);
  for (let i = 1; i < events.length; i++) assert.ok((events[i] as BusyProgress).iterations > (events[i - 1] as BusyProgress).iterations);
});

test('cancelling reaches a handler stuck in synchronous work inside the relay process', async () => {
  const client = newClient();
  await client.call('echo', { text: 'warm up', values: new Float32Array(1) });
  const controller = new AbortController();
  const started = performance.now();
  const pending = client.call('busy', { ms: 10_000, progressEveryMs: 1_000_000 }, { signal: controller.signal });
  setTimeout(() => controller.abort(), 200);
  await rejectsWith(pending, 'CANCELLED');
  // The handler never yields, so only the relay's shared flag can have stopped it.
  const last = await client.call('lastBusy', null);
  assert.ok(last, 'the busy handler has finished');
  assert.equal(last.cancelled, true);
  assert.ok(last.elapsedMs < 5_000, `the handler ran on for ${last.elapsedMs.toFixed(0)} ms after the cancel`);
  assert.ok(performance.now() - started < 5_000);
});

test('typed errors and unsendable arguments keep their codes', async () => {
  const client = newClient();
  const error = await rejectsWith(client.call('fail', { code: 'NOT_SINGLE_TOKEN', message: 'not one token' }), 'NOT_SINGLE_TOKEN');
  assert.match(error.message, /not one token/);
  await rejectsWith(client.call('echo', { text: 'x', values: (() => 1) as unknown as Float32Array }), 'BAD_ARGUMENT');
  assert.equal((await client.call('echo', { text: 'still here', values: new Float32Array(1) })).text, 'still here');
});

test('a native crash (SIGSEGV) ends only the relay: the call rejects with WORKER_CRASHED once, and the next call runs in a fresh process', async () => {
  const crashes: EngineError[] = [];
  const client = newClient((e) => crashes.push(e));
  const { pid: firstPid } = await client.call('echo', { text: 'before', values: new Float32Array(1) });
  const sleeping = client.call('sleep', { ms: 10_000 });
  const error = await rejectsWith(client.call('crash', { how: 'segv' }), 'WORKER_CRASHED');
  assert.match(error.message, /SIGSEGV/);
  await rejectsWith(sleeping, 'WORKER_CRASHED');
  assert.equal(crashes.length, 1);
  const { pid, text } = await client.call('echo', { text: 'after', values: new Float32Array(1) });
  assert.equal(text, 'after');
  assert.notEqual(pid, firstPid);
  assert.notEqual(pid, process.pid);
});

test("a worker's exit or uncaught error inside the relay is one crash, reported with the worker's reason", async () => {
  const crashes: EngineError[] = [];
  const client = newClient((e) => crashes.push(e));
  const exited = await rejectsWith(client.call('crash', { how: 'exit' }), 'WORKER_CRASHED');
  assert.match(exited.message, /exited with code 3/);
  const threw = await rejectsWith(client.call('crash', { how: 'throw-in-timer' }), 'WORKER_CRASHED');
  assert.match(threw.message, /boom in a timer/);
  assert.equal(crashes.length, 2);
  assert.equal((await client.call('echo', { text: 'again', values: new Float32Array(1) })).text, 'again');
});

test('dispose ends the relay process', async () => {
  const client = newClient();
  const { pid } = await client.call('echo', { text: 'x', values: new Float32Array(1) });
  await client.dispose();
  assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the relay process is gone');
});

test('an idle relay lets its host exit, and exits when the host has gone', async () => {
  const host = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../helpers/relay-idle-host.ts', import.meta.url))], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(host.status, 0, `host: status ${host.status}, signal ${host.signal}, stderr ${host.stderr.slice(0, 300)}`);
  const { relayPid } = JSON.parse(host.stdout.trim()) as { relayPid: number };
  const deadline = Date.now() + 10_000;
  while (isAlive(relayPid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(isAlive(relayPid), false, `relay ${relayPid} outlived its host`);
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
