/**
 * A small typed RPC layer over worker_threads, so that the engine's heavy work (model loading,
 * onnxruntime runs, analyses) never blocks the extension host's event loop.
 *
 * Caller side: `WorkerRpcClient<Api>` numbers each request, matches responses and streamed events
 * by id, cancels through AbortSignal, and replaces a crashed worker on the next call.
 * Worker side: `serveRpc(handlers)` runs one handler per request and sends back its result or
 * its error (as a serialized EngineError, so the caller sees the same `code`).
 * Large arrays cross without copies through transfer lists (`withTransfer`, `collectTransferables`).
 */
import { Worker, parentPort, type MessagePort, type TransferListItem, type WorkerOptions } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isArrayBuffer } from 'node:util/types';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EngineError, deserializeError, serializeError } from '../errors.js';
import { workerEndpoint, type RpcEndpoint } from './rpc-endpoint.js';
import type {
  RpcApi,
  RpcArgs,
  RpcCallOptions,
  RpcEvent,
  RpcFromWorkerMessage,
  RpcHandlerContext,
  RpcHandlers,
  RpcMethodName,
  RpcRequestMessage,
  RpcResult,
  RpcToWorkerMessage,
} from './rpc-types.js';

export type * from './rpc-types.js';

// ---- Transfers ---------------------------------------------------------------------------------

/** A handler's result together with the buffers to move (not copy) to the caller. */
export class Transferring<T> {
  constructor(
    readonly value: T,
    readonly transfer: readonly TransferListItem[],
  ) {}
}

/**
 * Marks a handler's result so that its ArrayBuffers are moved to the caller instead of copied;
 * by default every buffer `collectTransferables` finds in it. The worker must not use those
 * arrays afterwards (they are detached), so never pass arrays the worker keeps, e.g. cached weights.
 */
export function withTransfer<T>(value: T, transfer: readonly TransferListItem[] = collectTransferables(value)): Transferring<T> {
  return new Transferring(value, transfer);
}

/**
 * The ArrayBuffers that can be moved along with `value`: a deep walk through objects, arrays, Maps
 * and Sets, each buffer once. A typed array's buffer is taken only when the array covers all of
 * it, because moving a buffer detaches every other view of it (a Node Buffer from the shared pool
 * is a slice of an 8 KiB buffer used by unrelated code). SharedArrayBuffers are shared, never
 * moved, and empty (or already detached) buffers are skipped.
 */
export function collectTransferables(value: unknown): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  const seen = new Set<object>();
  const visit = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    if (isArrayBuffer(v)) {
      if (v.byteLength > 0) buffers.add(v);
    } else if (ArrayBuffer.isView(v)) {
      const buffer = v.buffer;
      if (isArrayBuffer(buffer) && buffer.byteLength > 0 && v.byteOffset === 0 && v.byteLength === buffer.byteLength) buffers.add(buffer);
    } else if (v instanceof Map) {
      for (const [key, item] of v) {
        visit(key);
        visit(item);
      }
    } else if (v instanceof Set) {
      for (const item of v) visit(item);
    } else {
      for (const item of Object.values(v)) visit(item);
    }
  };
  visit(value);
  return [...buffers];
}

// ---- Creating the worker -----------------------------------------------------------------------

/**
 * Starts a worker on `url` (a file URL, `file:` string or path). A bundled `.js` entry starts as
 * is. A TypeScript entry (tests and development run from sources) is loaded through tsx: on
 * Node 20, `execArgv: ['--import', 'tsx']` does not reach a worker's entry module (loader hooks
 * registered by `--import` are not applied to it and it fails with "Unknown file extension .ts"),
 * so the worker instead runs a two-line bootstrap that imports the entry with tsx's `tsImport`.
 */
export function createWorker(url: URL | string, options: WorkerOptions = {}): Worker {
  const path = typeof url === 'string' && !url.startsWith('file:') ? url : fileURLToPath(url);
  if (!/\.[cm]?tsx?$/.test(path)) return new Worker(path, options);
  const entry = JSON.stringify(pathToFileURL(path).href);
  const bootstrap = [
    `import(${JSON.stringify(resolveTsxExport(path, './esm/api'))})`,
    // A failure to load the entry rejects here, which ends the worker with an 'error' event.
    `  .then(({ tsImport }) => tsImport(${entry}, ${entry}));`,
  ].join('\n');
  return new Worker(bootstrap, { ...options, eval: true });
}

/**
 * The file URL of one of tsx's exports (import condition): `./esm/api` for a worker's bootstrap,
 * `.` (its loader, for `--import`) for a relay process. Found from the entry's folder first, then
 * from this module's. Read from tsx's package.json because require.resolve would pick the
 * CommonJS build, whose lazy import of the ESM loader does not resolve from a worker.
 */
export function resolveTsxExport(entryPath: string, subpath: './esm/api' | '.'): string {
  for (const base of [entryPath, import.meta.url]) {
    let packageJsonPath: string;
    try {
      packageJsonPath = createRequire(base).resolve('tsx/package.json');
    } catch {
      continue;
    }
    const exportsField: unknown = (JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { exports?: unknown }).exports;
    const entry = (exportsField as Record<string, unknown> | undefined)?.[subpath];
    const target = typeof entry === 'string' ? entry : (entry as { import?: { default?: unknown } } | undefined)?.import?.default;
    if (typeof target === 'string') return pathToFileURL(join(dirname(packageJsonPath), target)).href;
  }
  throw new EngineError(
    'INTERNAL',
    `Cannot start the TypeScript entry ${entryPath}: the tsx package (with its ${subpath} export) is not installed.`,
    'Install it (npm install --save-dev tsx) or run the bundled build.',
  );
}

// ---- Caller side -------------------------------------------------------------------------------

function cancelledError(): EngineError {
  return new EngineError('CANCELLED', 'The run was cancelled.');
}

interface PendingCall {
  resolve(result: unknown): void;
  reject(error: unknown): void;
  onEvent: ((event: unknown) => void) | undefined;
  /** Int32Array(1) shared with the worker; 1 once the caller cancelled. */
  cancelFlag: Int32Array;
  /** Removes the abort listener. */
  detach(): void;
}

/** One worker and the calls waiting on it; a crash ends the session, and the next call opens a new one. */
interface WorkerSession {
  worker: RpcEndpoint;
  pending: Map<number, PendingCall>;
  alive: boolean;
}

export interface WorkerRpcClientOptions {
  /** Called once per crash (an unexpected end of the worker or its process), after the pending calls were rejected. */
  onCrash?: (error: EngineError) => void;
}

/**
 * Calls the methods of a worker that runs `serveRpc`. The worker is started on the first call,
 * and again on the next call after it crashed. While no call is pending it does not keep the
 * process alive.
 */
export class WorkerRpcClient<Api extends RpcApi<Api>> {
  private session: WorkerSession | null = null;
  private nextId = 1;
  private disposed = false;

  /**
   * `startWorker` creates the worker (e.g. `() => createWorker(new URL('./worker-main.js', import.meta.url))`)
   * or an endpoint standing for one (a relay process, relay-process.ts); it is called again after a crash.
   */
  constructor(
    private readonly startWorker: () => Worker | RpcEndpoint,
    private readonly options: WorkerRpcClientOptions = {},
  ) {}

  call<M extends RpcMethodName<Api>>(method: M, args: RpcArgs<Api, M>, options: RpcCallOptions<RpcEvent<Api, M>> = {}): Promise<RpcResult<Api, M>> {
    return new Promise<RpcResult<Api, M>>((resolve, reject) => {
      if (this.disposed) {
        reject(new EngineError('INTERNAL', `Cannot call ${method}: the engine worker has been shut down.`));
        return;
      }
      const { signal, onEvent } = options;
      if (signal?.aborted) {
        reject(cancelledError());
        return;
      }
      let session: WorkerSession;
      try {
        session = this.currentSession();
      } catch (error) {
        reject(new EngineError('WORKER_CRASHED', `The engine worker could not start: ${error instanceof Error ? error.message : String(error)}`));
        return;
      }
      const id = this.nextId++;
      const cancelFlag = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
      const onAbort = (): void => this.cancel(session, id, cancelledError());
      session.pending.set(id, {
        resolve: resolve as (result: unknown) => void,
        reject,
        onEvent: onEvent as ((event: unknown) => void) | undefined,
        cancelFlag,
        detach: () => signal?.removeEventListener('abort', onAbort),
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      session.worker.ref();
      const request: RpcRequestMessage = { type: 'request', id, method, args, cancelFlag: cancelFlag.buffer as SharedArrayBuffer };
      try {
        session.worker.postMessage(request, options.transfer);
      } catch (error) {
        // Arguments that cannot be cloned (functions, class instances with private state, ...).
        this.take(session, id);
        reject(
          new EngineError(
            'BAD_ARGUMENT',
            `The arguments of ${method} cannot be sent to the engine worker: ${error instanceof Error ? error.message : String(error)}`,
          ),
        );
      }
    });
  }

  /** Terminates the worker; pending calls reject with CANCELLED. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const session = this.session;
    this.session = null;
    if (!session) return;
    this.endSession(session, () => new EngineError('CANCELLED', 'The engine worker was shut down.'));
    await session.worker.terminate();
  }

  private currentSession(): WorkerSession {
    if (this.session?.alive) return this.session;
    const started = this.startWorker();
    const worker = started instanceof Worker ? workerEndpoint(started) : started;
    const session: WorkerSession = { worker, pending: new Map(), alive: true };
    worker.listen({
      message: (message) => this.onMessage(session, message),
      end: (why) => this.crash(session, why),
    });
    worker.unref();
    this.session = session;
    return session;
  }

  private onMessage(session: WorkerSession, message: RpcFromWorkerMessage): void {
    // Replies to calls already settled (cancelled) are dropped.
    if (message.type === 'event') {
      const call = session.pending.get(message.id);
      if (!call?.onEvent) return;
      try {
        call.onEvent(message.event);
      } catch (error) {
        // A failing listener fails its own call, not the whole client.
        this.cancel(session, message.id, error);
      }
      return;
    }
    const call = this.take(session, message.id);
    if (!call) return;
    if (message.type === 'result') call.resolve(message.result);
    else call.reject(deserializeError(message.error));
  }

  /** Settles call `id` with `reason`, and tells the worker to stop working on it. */
  private cancel(session: WorkerSession, id: number, reason: unknown): void {
    const call = this.take(session, id);
    if (!call) return;
    // The flag reaches a handler stuck in synchronous code; the message fires its signal's listeners.
    Atomics.store(call.cancelFlag, 0, 1);
    if (session.alive) session.worker.postMessage({ type: 'cancel', id } satisfies RpcToWorkerMessage);
    call.reject(reason);
  }

  /** Removes call `id` from the pending set; an idle worker stops holding the process open. */
  private take(session: WorkerSession, id: number): PendingCall | undefined {
    const call = session.pending.get(id);
    if (!call) return undefined;
    session.pending.delete(id);
    call.detach();
    if (session.pending.size === 0 && session.alive) session.worker.unref();
    return call;
  }

  private crash(session: WorkerSession, why: string): void {
    if (!session.alive) return;
    const error = (): EngineError =>
      new EngineError('WORKER_CRASHED', `The engine worker stopped: ${why}.`, 'Run the command again; a fresh worker will start.');
    this.endSession(session, error);
    // After an 'error' event the thread is already exiting; terminate makes sure of it.
    void session.worker.terminate().catch(() => undefined);
    this.options.onCrash?.(error());
  }

  private endSession(session: WorkerSession, error: () => EngineError): void {
    session.alive = false;
    if (this.session === session) this.session = null;
    const calls = [...session.pending.values()];
    session.pending.clear();
    for (const call of calls) {
      call.detach();
      call.reject(error());
    }
  }
}

// ---- Worker side -------------------------------------------------------------------------------

type LooseHandler = (args: unknown, context: RpcHandlerContext<unknown>) => unknown;

/**
 * Serves `handlers` to the thread's parent (or to `port`). Each request runs its handler with a
 * context holding a cancel signal and `emit` for streamed events; a thrown error reaches the
 * caller as an EngineError with the same code (INTERNAL for anything else). Returns a function
 * that stops serving.
 */
export function serveRpc<Api extends RpcApi<Api>>(handlers: RpcHandlers<Api>, port: MessagePort | null = parentPort): () => void {
  if (!port) throw new EngineError('INTERNAL', 'serveRpc must run inside a worker thread (there is no parentPort).');
  const servingPort = port;
  const running = new Map<number, AbortController>();
  const table = handlers as unknown as Record<string, LooseHandler | undefined>;

  const post = (message: RpcFromWorkerMessage, transfer: readonly TransferListItem[] = []): void => {
    try {
      servingPort.postMessage(message, transfer);
    } catch (error) {
      // A buffer that cannot be moved (e.g. one a native addon owns) is still worth sending as a copy.
      if (transfer.length === 0) throw error;
      servingPort.postMessage(message);
    }
  };

  const handle = async (request: RpcRequestMessage): Promise<void> => {
    const { id, method } = request;
    const controller = new AbortController();
    running.set(id, controller);
    const context: RpcHandlerContext<unknown> = {
      signal: signalWithCancelFlag(controller, new Int32Array(request.cancelFlag)),
      emit: (event, transfer) => post({ type: 'event', id, event }, transfer),
    };
    try {
      const handler = Object.hasOwn(table, method) ? table[method] : undefined;
      if (typeof handler !== 'function') throw new EngineError('BAD_ARGUMENT', `The engine worker has no method "${method}".`);
      const returned = await handler(request.args, context);
      const [result, transfer] = returned instanceof Transferring ? [returned.value, returned.transfer] : [returned, []];
      try {
        post({ type: 'result', id, result }, transfer);
      } catch (error) {
        throw new EngineError(
          'INTERNAL',
          `The result of ${method} cannot be sent back from the engine worker: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    } catch (error) {
      servingPort.postMessage({ type: 'error', id, error: serializeError(error) } satisfies RpcFromWorkerMessage);
    } finally {
      running.delete(id);
    }
  };

  const onMessage = (message: RpcToWorkerMessage): void => {
    if (message.type === 'cancel') running.get(message.id)?.abort(cancelledError());
    else void handle(message);
  };
  servingPort.on('message', onMessage);
  return () => {
    servingPort.off('message', onMessage);
  };
}

/**
 * The controller's signal, made to also read the cancel flag the caller sets in shared memory:
 * a handler in a synchronous loop never lets the 'cancel' message in, but reading
 * `signal.aborted` (as throwIfCancelled does) sees the flag and aborts the signal there and then.
 */
function signalWithCancelFlag(controller: AbortController, flag: Int32Array): AbortSignal {
  const signal = controller.signal;
  const nativeAborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')?.get;
  if (!nativeAborted) return signal;
  Object.defineProperty(signal, 'aborted', {
    configurable: true,
    get(): boolean {
      if (!nativeAborted.call(signal) && Atomics.load(flag, 0) !== 0) controller.abort(cancelledError());
      return nativeAborted.call(signal) as boolean;
    },
  });
  return signal;
}
