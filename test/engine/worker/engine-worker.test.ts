/**
 * The engine behind its worker thread (in its relay process): the calling thread's event loop keeps
 * ticking while a large forward runs, results arrive with typed arrays, cancellation and crashes
 * (native ones included) become typed errors, and a crashed engine is replaced (with the model
 * loaded again) on the next call.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import { EngineError } from '../../../src/engine/errors.js';
import { createEngineClient, type EngineClient } from '../../../src/engine/worker/engine-client.js';
import { randomModelFolder } from '../../helpers/model-fixtures.js';

const workerPath = join(dirname(fileURLToPath(import.meta.url)), '../../../src/engine/worker/worker-main.ts');

describe('engine worker', () => {
  let client: EngineClient;
  before(async () => {
    client = createEngineClient({ workerPath });
  });
  after(() => client.dispose());

  test('the event loop keeps ticking while a GPT-2-small-shaped analysis runs in the worker', async () => {
    const fixture = await randomModelFolder('small', 5);
    const info = await client.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
    assert.equal(info.nLayers, 12);
    assert.equal(info.device, 'cpu');

    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.now()), 5);
    const layers: number[] = [];
    const started = performance.now();
    const ids = Array.from({ length: 64 }, (_, i) => (i * 7919 + 13) % 50000);
    const result = await client.analyze({ ids }, { onLayer: (u) => layers.push(u.layer) });
    const elapsed = performance.now() - started;
    clearInterval(timer);

    assert.deepEqual(layers, [...Array(12).keys()]);
    assert.ok(result.attention instanceof Float32Array, 'attention arrives as a typed array');
    assert.equal(result.attention.length, 12 * 12 * 64 * 64);
    assert.equal(result.heads.length, 144);
    let maxGap = 0;
    for (let i = 1; i < ticks.length; i++) maxGap = Math.max(maxGap, ticks[i]! - ticks[i - 1]!);
    // The main thread is free: timers fire throughout (a blocked thread would show one gap as long as the run).
    assert.ok(ticks.length >= Math.floor(elapsed / 5) / 4, `${ticks.length} ticks in ${elapsed.toFixed(0)} ms`);
    assert.ok(maxGap < Math.max(100, elapsed / 3), `largest gap between ticks ${maxGap.toFixed(0)} ms of ${elapsed.toFixed(0)} ms`);
  });

  test('a cancelled analysis rejects with CANCELLED and the next one works', async () => {
    const controller = new AbortController();
    const pending = client.analyze({ ids: Array.from({ length: 64 }, (_, i) => i + 100) }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 5);
    await assert.rejects(pending, (e: unknown) => e instanceof EngineError && e.code === 'CANCELLED');
    const result = await client.analyze({ prompt: 'The cat sat on the mat.' });
    // Whether a BOS token comes first is the engine's convention (prependBos); ' cat' follows 'The' either way.
    const texts = result.tokens.map((t) => t.text);
    assert.equal(texts[texts.indexOf('The') + 1], ' cat');
  });

  test('typed errors cross the thread boundary', async () => {
    await assert.rejects(client.analyze({ prompt: '' }), (e: unknown) => e instanceof EngineError && e.code === 'EMPTY_PROMPT');
    await assert.rejects(
      client.analyze({ ids: Array.from({ length: 65 }, () => 1) }),
      (e: unknown) => e instanceof EngineError && e.code === 'PROMPT_TOO_LONG',
    );
  });
});

test("isolation 'thread' keeps the worker in this process (no relay) and answers the same", async () => {
  const client = createEngineClient({ workerPath, isolation: 'thread' });
  try {
    const fixture = await randomModelFolder('tiny', 5);
    const info = await client.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
    const layers: number[] = [];
    const result = await client.analyze({ prompt: 'The cat sat on the mat' }, { onLayer: (u) => layers.push(u.layer) });
    assert.ok(result.attention instanceof Float32Array);
    assert.deepEqual(layers, [...Array(info.nLayers).keys()]);
  } finally {
    await client.dispose();
  }
});

describe('engine worker crash', () => {
  test('a crash fails the pending call, and the next call runs on a fresh worker with the model reloaded', async () => {
    process.env['CIRCUIT_TRACE_TEST_HOOKS'] = '1';
    const client = createEngineClient({ workerPath });
    try {
      const fixture = await randomModelFolder('tiny', 5);
      await client.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
      const before = await client.analyze({ prompt: 'The cat sat on the mat' });
      const crashes: Error[] = [];
      client.onCrash((e) => crashes.push(e));
      const pending = client.analyze({ ids: Array.from({ length: 64 }, (_, i) => i + 1) });
      await client.crashForTests();
      await assert.rejects(pending, (e: unknown) => e instanceof EngineError && e.code === 'WORKER_CRASHED');
      assert.equal(crashes.length, 1);
      const after = await client.analyze({ prompt: 'The cat sat on the mat' });
      assert.deepEqual(after.predictions, before.predictions, 'the same model answers after the restart');
    } finally {
      await client.dispose();
      delete process.env['CIRCUIT_TRACE_TEST_HOOKS'];
    }
  });

  test('after a crash, calls made at once all wait for the one reload of the model (none runs on the empty worker)', async () => {
    process.env['CIRCUIT_TRACE_TEST_HOOKS'] = '1';
    const client = createEngineClient({ workerPath });
    try {
      const fixture = await randomModelFolder('tiny', 5);
      await client.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
      await client.crashForTests();
      // A hover and a diagnostics refresh arriving together after the crash.
      const [analysis, tokens] = await Promise.all([client.analyze({ prompt: 'The cat sat on the mat' }), client.tokenize('The cat')]);
      assert.equal(analysis.tokens.at(-1)?.text, ' mat');
      assert.ok(tokens.length > 0);
    } finally {
      await client.dispose();
      delete process.env['CIRCUIT_TRACE_TEST_HOOKS'];
    }
  });

  test('an uncaught exception in the worker (an error event, then an exit) is reported as one crash', async () => {
    process.env['CIRCUIT_TRACE_TEST_HOOKS'] = '1';
    const client = createEngineClient({ workerPath });
    try {
      const crashes: Error[] = [];
      client.onCrash((e) => crashes.push(e));
      await client.crashForTests('uncaught');
      // Let the worker's 'exit' arrive after its 'error'.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(crashes.length, 1, crashes.map((e) => e.message).join(' | '));
      assert.ok(crashes[0] instanceof EngineError && crashes[0].code === 'WORKER_CRASHED', String(crashes[0]));
      const tokens = await client.tokenize('still alive').catch((e: unknown) => e);
      assert.ok(tokens instanceof EngineError, 'no model is loaded in the fresh worker, but it answers');
    } finally {
      await client.dispose();
      delete process.env['CIRCUIT_TRACE_TEST_HOOKS'];
    }
  });

  // These run in this test's own process, which plays the extension host: with the engine in a
  // worker thread of this process (as before the relay process), the signal would end it here.
  test('a native crash (SIGSEGV) fails the pending call with WORKER_CRASHED once; this process survives, and the next call runs on a fresh engine with the model reloaded', async () => {
    process.env['CIRCUIT_TRACE_TEST_HOOKS'] = '1';
    const client = createEngineClient({ workerPath });
    try {
      const fixture = await randomModelFolder('tiny', 5);
      await client.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
      const before = await client.analyze({ prompt: 'The cat sat on the mat' });
      const crashes: Error[] = [];
      client.onCrash((e) => crashes.push(e));
      const pending = client.analyze({ ids: Array.from({ length: 64 }, (_, i) => i + 1) });
      await client.crashForTests('native');
      await assert.rejects(pending, (e: unknown) => e instanceof EngineError && e.code === 'WORKER_CRASHED' && /SIGSEGV/.test(e.message));
      assert.equal(crashes.length, 1, crashes.map((e) => e.message).join(' | '));
      const after = await client.analyze({ prompt: 'The cat sat on the mat' });
      assert.deepEqual(after.predictions, before.predictions, 'the same model answers after the restart');
    } finally {
      await client.dispose();
      delete process.env['CIRCUIT_TRACE_TEST_HOOKS'];
    }
  });

  test('an abort (SIGABRT, as abort() in ONNX Runtime) is recovered the same way', async () => {
    process.env['CIRCUIT_TRACE_TEST_HOOKS'] = '1';
    const client = createEngineClient({ workerPath });
    try {
      const fixture = await randomModelFolder('tiny', 5);
      await client.loadModel({ kind: 'folder', path: fixture.dir }, { device: 'cpu', maxTokens: 64, offline: true });
      const crashes: Error[] = [];
      client.onCrash((e) => crashes.push(e));
      await client.crashForTests('abort');
      assert.equal(crashes.length, 1);
      assert.match(crashes[0]?.message ?? '', /SIGABRT/);
      const tokens = await client.tokenize('still alive');
      assert.ok(tokens.length > 0, 'the model was loaded again in the fresh engine');
    } finally {
      await client.dispose();
      delete process.env['CIRCUIT_TRACE_TEST_HOOKS'];
    }
  });
});
