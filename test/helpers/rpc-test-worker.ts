/**
 * A worker for the RPC layer's tests (test/engine/worker-rpc.test.ts): an echo, a blocking
 * CPU-bound loop standing in for a synchronous onnxruntime run, a typed failure and three kinds of crash.
 */
import { threadId } from 'node:worker_threads';
import { EngineError, type EngineErrorCode } from '../../src/engine/errors.js';
import { serveRpc, withTransfer } from '../../src/engine/worker/rpc.js';

export interface BusyOutcome {
  cancelled: boolean;
  elapsedMs: number;
  iterations: number;
  /** The loop's arithmetic, returned so that the work cannot be optimised away. */
  checksum: number;
}

export interface BusyProgress {
  elapsedMs: number;
  iterations: number;
}

export interface RpcTestApi {
  echo: { args: { text: string; values: Float32Array }; result: { text: string; values: Float32Array; threadId: number; pid: number } };
  /** Returns a new Float32Array with values[i] = i / 2, moved (not copied); the worker keeps a reference to it. */
  makeArray: { args: { length: number }; result: { values: Float32Array } };
  /** byteLength of the buffer of the array `makeArray` last returned, as the worker sees it now (0 once moved away). */
  madeArrayByteLength: { args: null; result: number };
  /** Blocks the worker's thread in synchronous work for `ms`, emitting progress every `progressEveryMs`; stops when cancelled. */
  busy: { args: { ms: number; progressEveryMs: number }; result: BusyOutcome; event: BusyProgress };
  /** The outcome of the last `busy` call, also when its caller has cancelled it. */
  lastBusy: { args: null; result: BusyOutcome | null };
  /** Resolves after `ms` without blocking the worker's event loop. */
  sleep: { args: { ms: number }; result: null };
  fail: { args: { code: EngineErrorCode; message: string }; result: never };
  /** 'segv' ends the whole process the worker runs in, as a native crash would. */
  crash: { args: { how: 'exit' | 'throw-in-timer' | 'segv' }; result: never };
}

let madeArray: Float32Array | null = null;
let lastBusy: BusyOutcome | null = null;

serveRpc<RpcTestApi>({
  echo: ({ text, values }) => withTransfer({ text, values, threadId, pid: process.pid }),
  makeArray: ({ length }) => {
    const values = new Float32Array(length);
    for (let i = 0; i < length; i++) values[i] = i / 2;
    madeArray = values;
    return withTransfer({ values });
  },
  madeArrayByteLength: () => madeArray?.buffer.byteLength ?? -1,
  busy: ({ ms, progressEveryMs }, { signal, emit }) => {
    const start = performance.now();
    let nextProgress = start + progressEveryMs;
    let iterations = 0;
    let checksum = 0;
    let cancelled = false;
    while (performance.now() - start < ms) {
      for (let i = 0; i < 20_000; i++) checksum = (checksum + Math.sqrt(i + (checksum % 7))) % 1e6;
      iterations++;
      // Read synchronously, without yielding: this is how a blocking run notices a cancel.
      if (signal.aborted) {
        cancelled = true;
        break;
      }
      const now = performance.now();
      if (now >= nextProgress) {
        emit({ elapsedMs: now - start, iterations });
        nextProgress += progressEveryMs;
      }
    }
    lastBusy = { cancelled, elapsedMs: performance.now() - start, iterations, checksum };
    if (cancelled) throw signal.reason;
    return lastBusy;
  },
  lastBusy: () => lastBusy,
  sleep: ({ ms }) => new Promise<null>((resolve) => setTimeout(() => resolve(null), ms)),
  fail: ({ code, message }) => {
    throw new EngineError(code, message);
  },
  crash: ({ how }) => {
    if (how === 'exit') process.exit(3);
    if (how === 'segv') process.kill(process.pid, 'SIGSEGV');
    setTimeout(() => {
      throw new Error('boom in a timer');
    }, 50);
    return new Promise<never>(() => undefined);
  },
});
