/**
 * What WorkerRpcClient talks to: the far end of the RPC layer, either a worker thread in this
 * process (`workerEndpoint`) or a relay child process that hosts the worker thread
 * (relay-process.ts), so that a native crash of the engine ends the child, not this process.
 */
import type { TransferListItem, Worker } from 'node:worker_threads';
import type { RpcFromWorkerMessage, RpcToWorkerMessage } from './rpc-types.js';

export interface RpcEndpointListeners {
  message(message: RpcFromWorkerMessage): void;
  /** The far end is gone (crashed, exited, or terminated); `why` completes "The engine worker stopped: …". Called at most once. */
  end(why: string): void;
}

export interface RpcEndpoint {
  /** Attaches the client's listeners; called once, in the same turn as the endpoint was created. */
  listen(listeners: RpcEndpointListeners): void;
  /** Throws synchronously when `message` cannot be serialized; `transfer` is a hint an endpoint may ignore (a process copies). */
  postMessage(message: RpcToWorkerMessage, transfer?: readonly TransferListItem[]): void;
  /** Keep this process alive while calls are pending; `unref` lets an idle engine not hold it open. */
  ref(): void;
  unref(): void;
  /** Ends the far end abruptly; resolves once it is gone. */
  terminate(): Promise<void>;
}

/** A worker thread as an endpoint: its uncaught 'error' (followed by 'exit') or its 'exit' is one end. */
export function workerEndpoint(worker: Worker): RpcEndpoint {
  return {
    listen(listeners) {
      let ended = false;
      const end = (why: string): void => {
        if (ended) return;
        ended = true;
        listeners.end(why);
      };
      worker.on('message', (message: RpcFromWorkerMessage) => listeners.message(message));
      worker.on('error', (error: Error) => end(`it threw an uncaught error: ${error.message}`));
      worker.on('exit', (code: number) => end(`it exited with code ${code}`));
    },
    postMessage: (message, transfer) => worker.postMessage(message, transfer),
    ref: () => worker.ref(),
    unref: () => worker.unref(),
    terminate: async () => {
      await worker.terminate();
    },
  };
}
