/**
 * Entry of the engine's relay process (forked by relay-process.ts, bundled as dist/engine-relay.js):
 * runs the worker entry named by its first argument in a worker thread, unchanged, and passes the
 * RPC messages between that thread and the host's IPC channel. Cancellation keeps its shared
 * flag, made here (shared memory does not cross processes): a cancel from the host sets it, so a
 * handler stuck in synchronous work still sees it. When the worker ends, the relay tells the host
 * why and exits; when the host goes away, the relay exits with it.
 */
import type { TransferListItem } from 'node:worker_threads';
import { collectTransferables, createWorker } from './rpc.js';
import type { RelayFromChildMessage, RelayToChildMessage, RpcFromWorkerMessage, RpcToWorkerMessage } from './rpc-types.js';

const workerPath = process.argv[2];
const sendToHost = process.send?.bind(process);
if (!workerPath || !sendToHost) {
  console.error('relay-main: run it through relay-process.ts (fork with an IPC channel), with the worker entry as its argument.');
  process.exit(2);
}
const send = (message: RelayFromChildMessage, done?: () => void): void => {
  sendToHost(message, undefined, {}, () => done?.());
};

const worker = createWorker(workerPath);
const cancelFlags = new Map<number, Int32Array>();

const postToWorker = (message: RpcToWorkerMessage, transfer: readonly TransferListItem[] = []): void => {
  try {
    worker.postMessage(message, transfer);
  } catch {
    // A buffer that cannot be moved is still worth sending as a copy.
    worker.postMessage(message);
  }
};

process.on('message', (message: RelayToChildMessage) => {
  if (message.type === 'cancel') {
    const flag = cancelFlags.get(message.id);
    if (flag) Atomics.store(flag, 0, 1);
    cancelFlags.delete(message.id);
    postToWorker(message);
    return;
  }
  const flag = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  cancelFlags.set(message.id, flag);
  // The relay keeps nothing of the arguments: move their buffers on rather than copy them again.
  postToWorker({ ...message, cancelFlag: flag.buffer as SharedArrayBuffer }, collectTransferables(message.args));
});

worker.on('message', (message: RpcFromWorkerMessage) => {
  if (message.type !== 'event') cancelFlags.delete(message.id);
  send(message);
});

let ending = false;
const workerEnded = (why: string, exitCode: number): void => {
  if (ending) return;
  ending = true;
  // The host's 'close' alone would only say "exited with code N"; exit once the reason is sent.
  send({ type: 'worker-ended', why }, () => process.exit(exitCode));
};
worker.on('error', (error: Error) => workerEnded(`it threw an uncaught error: ${error.message}`, 1));
worker.on('exit', (code: number) => workerEnded(`it exited with code ${code}`, code === 0 ? 1 : code));

// The host closed the channel (it disposed the engine, or it died): nothing is left to serve.
process.on('disconnect', () => process.exit(0));
