import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatestWinsQueue } from '../../src/extension/request-queue.js';
import { EngineError } from '../../src/engine/errors.js';

/** A task that resolves with `value` when released, or rejects CANCELLED when its signal fires. */
function controllable<T>(value: T): {
  task: (signal: AbortSignal) => Promise<T>;
  release: () => void;
  started: () => boolean;
  signal: () => AbortSignal | undefined;
} {
  let release = (): void => {};
  let started = false;
  let seen: AbortSignal | undefined;
  const task = (signal: AbortSignal): Promise<T> => {
    started = true;
    seen = signal;
    return new Promise<T>((resolve, reject) => {
      release = () => resolve(value);
      signal.addEventListener('abort', () => reject(new EngineError('CANCELLED', 'cancelled')), { once: true });
    });
  };
  return { task, release: () => release(), started: () => started, signal: () => seen };
}

function isCancelled(error: unknown): boolean {
  return error instanceof EngineError && error.code === 'CANCELLED';
}

test('a single task runs and resolves', async () => {
  const q = new LatestWinsQueue();
  assert.equal(await q.submit(async () => 42), 42);
  assert.equal(q.busy, false);
});

test('a newer request aborts the running one and runs after it settles', async () => {
  const q = new LatestWinsQueue();
  const first = controllable('first');
  const second = controllable('second');
  const p1 = q.submit(first.task);
  assert.equal(first.started(), true);
  const p2 = q.submit(second.task);
  assert.equal(first.signal()?.aborted, true, 'the superseded run is aborted');
  await assert.rejects(p1, isCancelled);
  await new Promise((r) => setImmediate(r));
  assert.equal(second.started(), true);
  second.release();
  assert.equal(await p2, 'second');
  assert.equal(q.busy, false);
});

test('only the newest of several waiting requests runs', async () => {
  const q = new LatestWinsQueue();
  // The first task ignores its signal: the queue must wait for it before starting another.
  let releaseFirst = (): void => {};
  const p1 = q.submit(() => new Promise<string>((resolve) => (releaseFirst = () => resolve('first'))));
  const middle = controllable('middle');
  const last = controllable('last');
  const p2 = q.submit(middle.task);
  const p3 = q.submit(last.task);
  await assert.rejects(p2, isCancelled);
  assert.equal(middle.started(), false, 'a superseded waiting request never starts');
  assert.equal(last.started(), false, 'nothing starts while the running task has not settled');
  releaseFirst();
  assert.equal(await p1, 'first', 'a task that ignores cancellation still delivers its own result');
  await new Promise((r) => setImmediate(r));
  assert.equal(last.started(), true);
  last.release();
  assert.equal(await p3, 'last');
});

test('an external signal cancels a running task', async () => {
  const q = new LatestWinsQueue();
  const c = new AbortController();
  const t = controllable('x');
  const p = q.submit(t.task, c.signal);
  c.abort();
  await assert.rejects(p, isCancelled);
  assert.equal(q.busy, false);
});

test('an external signal drops a waiting task; an already aborted one never starts', async () => {
  const q = new LatestWinsQueue();
  const running = controllable('running');
  void q.submit(running.task).catch(() => {});
  const c = new AbortController();
  const waiting = controllable('waiting');
  const p = q.submit(waiting.task, c.signal);
  c.abort();
  await assert.rejects(p, isCancelled);
  assert.equal(waiting.started(), false);

  const q2 = new LatestWinsQueue();
  const pre = new AbortController();
  pre.abort();
  let ran = false;
  await assert.rejects(
    q2.submit(async () => (ran = true), pre.signal),
    isCancelled,
  );
  assert.equal(ran, false);
});

test('cancelAll aborts the running task and drops the waiting one', async () => {
  const q = new LatestWinsQueue();
  let releaseFirst = (): void => {};
  let firstSignal: AbortSignal | undefined;
  const p1 = q.submit((signal) => {
    firstSignal = signal;
    return new Promise<string>((resolve) => (releaseFirst = () => resolve('first')));
  });
  const w = controllable('w');
  const p2 = q.submit(w.task);
  assert.equal(firstSignal?.aborted, true);
  q.cancelAll('Model changed.');
  await assert.rejects(p2, (e: unknown) => isCancelled(e) && (e as Error).message === 'Model changed.');
  releaseFirst();
  await p1;
  await new Promise((r) => setImmediate(r));
  assert.equal(w.started(), false);
  assert.equal(q.busy, false);
});

test('a failing task rejects with its own error and the queue moves on', async () => {
  const q = new LatestWinsQueue();
  await assert.rejects(
    q.submit(async () => {
      throw new EngineError('EMPTY_PROMPT', 'empty');
    }),
    (e: unknown) => e instanceof EngineError && e.code === 'EMPTY_PROMPT',
  );
  assert.equal(await q.submit(async () => 'next'), 'next');
});
