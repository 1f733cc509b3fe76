/**
 * Types of the worker RPC layer (rpc.ts): how a request map describes a worker's methods, what
 * handlers and callers see, and the messages that cross the thread boundary.
 *
 * A request map is an interface with one entry per method:
 *
 *   interface EngineWorkerApi {
 *     loadModel: { args: { spec: ModelSpec; options: LoadOptions }; result: LoadedModelInfo; event: DownloadProgress };
 *     analyze: { args: AnalyzeRequest; result: AnalysisResult; event: AnalysisLayerUpdate };
 *   }
 *
 * `event` is optional; methods without it stream nothing.
 */
import type { TransferListItem } from 'node:worker_threads';
import type { SerializedError } from '../errors.js';
import type { Transferring } from './rpc.js';

/** One method of a request map. Everything in it must be structured-clone safe. */
export interface RpcMethodSpec {
  args: unknown;
  result: unknown;
  event?: unknown;
}

/** The constraint on a request map `Api` (written this way so that interfaces qualify, not only index-signature types). */
export type RpcApi<Api> = { [M in keyof Api]: RpcMethodSpec };

/** The method names of a request map. */
export type RpcMethodName<Api> = keyof Api & string;

export type RpcArgs<Api, M extends keyof Api> = Api[M] extends { args: infer A } ? A : never;
export type RpcResult<Api, M extends keyof Api> = Api[M] extends { result: infer R } ? R : never;
/** The streamed event type of a method; `never` for methods that declare no `event`. */
export type RpcEvent<Api, M extends keyof Api> = Api[M] extends { event: infer E } ? E : never;

/** What a worker-side handler gets besides its arguments. */
export interface RpcHandlerContext<Event> {
  /**
   * Fires when the caller cancels. `signal.aborted` is also true as soon as the caller has
   * cancelled even while the handler runs synchronous code that never yields to the event loop,
   * so `throwIfCancelled(signal)` between units of work stops a blocking loop.
   */
  signal: AbortSignal;
  /** Streams an event to the caller's `onEvent`; `transfer` moves those ArrayBuffers instead of copying them. */
  emit(event: Event, transfer?: readonly TransferListItem[]): void;
}

/** A handler returns its result, or `withTransfer(result)` to move the result's buffers instead of copying them. */
export type RpcHandlerReturn<R> = R | Transferring<R> | Promise<R | Transferring<R>>;

export type RpcHandler<Api, M extends keyof Api> = (args: RpcArgs<Api, M>, context: RpcHandlerContext<RpcEvent<Api, M>>) => RpcHandlerReturn<RpcResult<Api, M>>;

/** One handler per method of the request map. */
export type RpcHandlers<Api> = { [M in keyof Api]: RpcHandler<Api, M> };

/** Options of one call on the client side. */
export interface RpcCallOptions<Event> {
  /** Aborting rejects the call at once with EngineError CANCELLED and cancels the handler in the worker. */
  signal?: AbortSignal;
  /** ArrayBuffers in `args` to move to the worker instead of copying (they are detached here afterwards). */
  transfer?: readonly TransferListItem[];
  /** Receives the handler's `emit`ted events, in order, before the call settles. */
  onEvent?: (event: Event) => void;
}

// ---- Messages on the wire ----------------------------------------------------------------------

/** Caller -> worker: run `method`. `cancelFlag` is an Int32Array(1) view's buffer, set to 1 on cancel. */
export interface RpcRequestMessage {
  type: 'request';
  id: number;
  method: string;
  args: unknown;
  cancelFlag: SharedArrayBuffer;
}

/** Caller -> worker: the caller gave up on request `id` (its promise has already rejected). */
export interface RpcCancelMessage {
  type: 'cancel';
  id: number;
}

export type RpcToWorkerMessage = RpcRequestMessage | RpcCancelMessage;

export interface RpcResultMessage {
  type: 'result';
  id: number;
  result: unknown;
}

export interface RpcErrorMessage {
  type: 'error';
  id: number;
  error: SerializedError;
}

export interface RpcEventMessage {
  type: 'event';
  id: number;
  event: unknown;
}

export type RpcFromWorkerMessage = RpcResultMessage | RpcErrorMessage | RpcEventMessage;

// ---- Messages between the host and the relay process (relay-process.ts, relay-main.ts) ----------

/**
 * Host -> relay: a request without its cancel flag (shared memory cannot cross a process
 * boundary; the relay makes a flag of its own and sets it when a cancel arrives), or a cancel.
 */
export type RelayToChildMessage = Omit<RpcRequestMessage, 'cancelFlag'> | RpcCancelMessage;

/** Relay -> host, just before the relay exits because its worker thread ended: why it ended. */
export interface RelayWorkerEndedMessage {
  type: 'worker-ended';
  why: string;
}

export type RelayFromChildMessage = RpcFromWorkerMessage | RelayWorkerEndedMessage;
