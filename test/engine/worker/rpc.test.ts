import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EngineError, type EngineErrorCode } from '../../../src/engine/errors.js';
import { WorkerRpcClient, collectTransferables, createWorker } from '../../../src/engine/worker/rpc.js';
import type { BusyProgress, RpcTestApi } from '../../helpers/rpc-test-worker.js';

const WORKER_URL = new URL('../../helpers/rpc-test-worker.ts', import.meta.url);

const clients: WorkerRpcClient<RpcTestApi>[] = [];
function newClient(): WorkerRpcClient<RpcTestApi> {
  const client = new WorkerRpcClient<RpcTestApi>(() => createWorker(WORKER_URL));
  clients.push(client);
  return client;
}
after(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
});

/** Asserts that `promise` rejects with an EngineError of `code`. */
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

test('a call round-trips typed arguments and result; transferred arguments are moved, not copied', async () => {
  const client = newClient();
  const values = Float32Array.from([1.5, -2, 3.25]);
  const result = await client.call('echo', { text: 'héllo', values }, { transfer: [values.buffer] });
  assert.equal(result.text, 'héllo');
  assert.ok(result.values instanceof Float32Array);
  assert.deepEqual(Array.from(result.values), [1.5, -2, 3.25]);
  assert.equal(values.byteLength, 0, 'the caller-side buffer is detached after the transfer');
  assert.notEqual(result.threadId, 0, 'the handler ran on a worker thread');
});

test('a Float32Array result is moved out of the worker: right values here, detached buffer there', async () => {
  const client = newClient();
  const length = 1_000_000;
  const { values } = await client.call('makeArray', { length });
  assert.equal(values.length, length);
  assert.equal(values[0], 0);
  assert.equal(values[12_345], 12_345 / 2);
  assert.equal(values[length - 1], (length - 1) / 2);
  assert.equal(await client.call('madeArrayByteLength', null), 0);
});

test('progress events stream to onEvent, in order, before the call resolves', async () => {
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

test('the main event loop keeps ticking while the worker runs 1.5 s of blocking work', async (t) => {
  const client = newClient();
  await client.call('echo', { text: 'warm up', values: new Float32Array(1) }); // the worker start is not the point here
  let ticks = 0;
  let last = performance.now();
  let largestGapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    largestGapMs = Math.max(largestGapMs, now - last);
    last = now;
    ticks++;
  }, 2);
  try {
    const outcome = await client.call('busy', { ms: 1500, progressEveryMs: 100 });
    assert.ok(outcome.elapsedMs >= 1500);
  } finally {
    clearInterval(timer);
  }
  t.diagnostic(`${ticks} ticks, largest gap ${largestGapMs.toFixed(1)} ms`);
  // Had the work run on this thread there would be one gap of 1.5 s and a single tick.
  assert.ok(largestGapMs < 100, `the main thread stalled for ${largestGapMs.toFixed(1)} ms`);
  assert.ok(ticks > 100, `only ${ticks} ticks in 1.5 s`);
});

test('aborting rejects at once with CANCELLED, and the blocking handler sees the cancel and stops', async () => {
  const client = newClient();
  const controller = new AbortController();
  let abortedAt = 0;
  const call = client.call(
    'busy',
    { ms: 5000, progressEveryMs: 20 },
    {
      signal: controller.signal,
      onEvent: () => {
        if (abortedAt === 0) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    },
  );
  await rejectsWith(call, 'CANCELLED');
  const rejectedAfterMs = performance.now() - abortedAt;
  assert.ok(rejectedAfterMs < 1000, `rejected ${rejectedAfterMs.toFixed(0)} ms after the abort, while the work had seconds left`);
  // The next call is served once the handler has stopped; it reports how the loop ended.
  const outcome = await client.call('lastBusy', null);
  assert.ok(outcome, 'the busy handler recorded no outcome');
  assert.equal(outcome.cancelled, true);
  assert.ok(outcome.elapsedMs < 4000, `the loop ran for ${outcome.elapsedMs.toFixed(0)} ms of 5000 despite the cancel`);
});

test('a call with an already aborted signal rejects with CANCELLED without running', async () => {
  const client = newClient();
  await rejectsWith(client.call('busy', { ms: 5000, progressEveryMs: 1000 }, { signal: AbortSignal.abort() }), 'CANCELLED');
  assert.equal(await client.call('lastBusy', null), null);
});

test('a typed EngineError thrown in the worker reaches the caller with the same code and message', async () => {
  const client = newClient();
  const error = await rejectsWith(client.call('fail', { code: 'BAD_ARGUMENT', message: 'Layer 99 does not exist. Pick a layer below 12.' }), 'BAD_ARGUMENT');
  assert.match(error.message, /Layer 99 does not exist/);
  // The worker is still serving.
  assert.equal((await client.call('echo', { text: 'still here', values: new Float32Array(0) })).text, 'still here');
});

test('an unknown method rejects with BAD_ARGUMENT', async () => {
  const client = newClient();
  const untyped = client as unknown as WorkerRpcClient<{ nope: { args: null; result: null } }>;
  await rejectsWith(untyped.call('nope', null), 'BAD_ARGUMENT');
});

test('a throwing onEvent listener fails its own call only', async () => {
  const client = newClient();
  const listenerError = new Error('listener broke');
  const call = client.call(
    'busy',
    { ms: 3000, progressEveryMs: 20 },
    {
      onEvent: () => {
        throw listenerError;
      },
    },
  );
  await assert.rejects(call, (e) => e === listenerError);
  assert.equal((await client.call('lastBusy', null))?.cancelled, true);
});

for (const how of ['exit', 'throw-in-timer'] as const) {
  test(`a worker crash (${how}) rejects every pending call with WORKER_CRASHED, and the next call starts a fresh worker`, async () => {
    const client = newClient();
    const before = await client.call('echo', { text: 'before', values: new Float32Array(0) });
    // Pending when the crash happens: queued behind process.exit, or sleeping while the timer throws.
    const queued = client.call('sleep', { ms: 60_000 });
    const crash = client.call('crash', { how });
    const [crashError, queuedError] = await Promise.all([rejectsWith(crash, 'WORKER_CRASHED'), rejectsWith(queued, 'WORKER_CRASHED')]);
    assert.match(crashError.message, how === 'exit' ? /exited with code 3/ : /boom in a timer/);
    assert.equal(queuedError.code, 'WORKER_CRASHED');
    const afterCrash = await client.call('echo', { text: 'after', values: Float32Array.from([7]) });
    assert.equal(afterCrash.text, 'after');
    assert.deepEqual(Array.from(afterCrash.values), [7]);
    assert.notEqual(afterCrash.threadId, before.threadId, 'the call after the crash ran on a new worker');
  });
}

test('dispose rejects pending calls with CANCELLED and refuses new ones', async () => {
  const client = newClient();
  const pending = rejectsWith(client.call('busy', { ms: 5000, progressEveryMs: 1000 }), 'CANCELLED');
  await client.dispose();
  await pending;
  await rejectsWith(client.call('lastBusy', null), 'INTERNAL');
});

test('createWorker starts a plain JavaScript worker (bundled build) from a path or a file URL, without tsx', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rpc-worker-'));
  try {
    const file = join(dir, 'worker.mjs');
    writeFileSync(file, "import { parentPort } from 'node:worker_threads';\nparentPort.postMessage(process.execArgv.join(' '));\n");
    for (const target of [file, pathToFileURL(file), pathToFileURL(file).href]) {
      const worker = createWorker(target, { execArgv: [] });
      const execArgv = await new Promise<string>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      assert.equal(execArgv, '', 'a .mjs worker gets no tsx import added');
      await worker.terminate();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('collectTransferables moves whole buffers only, once each, and skips shared and pooled memory', () => {
  const whole = new Float32Array(8);
  const sameBufferView = new Uint8Array(whole.buffer);
  const slice = new Float32Array(new ArrayBuffer(64), 16, 4); // a view of part of a buffer
  const pooled = Buffer.from('a few bytes from the shared Buffer pool');
  const shared = new Int32Array(new SharedArrayBuffer(16));
  const bare = new ArrayBuffer(12);
  const nested = new Float64Array(3);
  const cyclic: Record<string, unknown> = { whole };
  cyclic.self = cyclic;
  const found = collectTransferables({
    cyclic,
    list: [sameBufferView, slice, pooled, shared, new Float32Array(0)],
    map: new Map<unknown, unknown>([['k', { deep: [nested] }]]),
    set: new Set([bare]),
    text: 'not a buffer',
    n: 3,
  });
  assert.equal(found.length, 3);
  assert.ok(found.includes(whole.buffer as ArrayBuffer));
  assert.ok(found.includes(nested.buffer as ArrayBuffer));
  assert.ok(found.includes(bare));
  assert.ok(!found.includes(pooled.buffer as ArrayBuffer));
});
