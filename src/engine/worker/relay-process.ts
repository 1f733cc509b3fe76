/**
 * The host's side of the engine's relay process. The engine's worker thread runs inside a child
 * process (relay-main.ts) instead of this one, so that a native crash in ONNX Runtime (SIGSEGV,
 * abort()) ends that child, not the extension host: worker threads share their process. The
 * child is an RpcEndpoint like a worker, so WorkerRpcClient rejects the pending calls with
 * WORKER_CRASHED when it dies and starts a fresh one on the next call.
 */
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { resolveTsxExport } from './rpc.js';
import type { RpcEndpoint } from './rpc-endpoint.js';
import type { RelayFromChildMessage, RelayToChildMessage } from './rpc-types.js';

const isTypeScript = (path: string): boolean => /\.[cm]?tsx?$/.test(path);

/**
 * The relay entry that sits beside a worker entry: dist/engine-relay.js beside the bundled
 * dist/engine-worker.js (scripts/build.mjs), relay-main.ts beside worker-main.ts in the sources.
 */
export function relayEntryBeside(workerPath: string): string {
  return join(dirname(workerPath), isTypeScript(workerPath) ? 'relay-main.ts' : 'engine-relay.js');
}

/** Starts the relay process `relayPath`, which runs the worker `workerPath` in a thread of its own. */
export function forkRelay(relayPath: string, workerPath: string): RpcEndpoint {
  const child = fork(relayPath, [workerPath], {
    // Structured clone (v8 serializer) instead of JSON, so typed arrays and ArrayBuffers survive.
    serialization: 'advanced',
    // Never the host's own flags: an extension host's (--inspect-brk=PORT, --js-flags=…) make
    // the child fail to start or fight over the debug port (microsoft/vscode#302602).
    execArgv: isTypeScript(relayPath) ? ['--import', resolveTsxExport(relayPath, '.')] : [],
    // Inside VS Code process.execPath is Electron: this makes it run as plain Node. Electron's
    // fork() sets it as well; set here in case a host does not.
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    // Like a worker thread's, the engine's output goes to this process's stdout and stderr.
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let reportedWhy: string | null = null;
  let gone = false;
  const closed = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    // A process that never started emits 'error' with no pid, and may never emit 'close'.
    child.once('error', () => {
      if (child.pid === undefined) resolve();
    });
  }).then(() => {
    gone = true;
  });

  return {
    listen(listeners) {
      let ended = false;
      const end = (why: string): void => {
        if (ended) return;
        ended = true;
        listeners.end(why);
      };
      child.on('message', (message: RelayFromChildMessage) => {
        if (message.type === 'worker-ended') reportedWhy = message.why;
        else listeners.message(message);
      });
      // 'close', not 'exit': it comes after the IPC channel has delivered everything the child sent.
      child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
        end(reportedWhy ?? (signal ? `its process was killed by ${signal}` : `its process exited with code ${code}`));
      });
      child.on('error', (error: Error) => {
        // Other errors (a failed kill, a send on a closed channel) are followed by 'close' or harmless.
        if (child.pid === undefined) end(`its process could not start: ${error.message}`);
      });
    },
    postMessage(message) {
      // The cancel flag is shared memory, which cannot cross processes: the relay makes its own.
      const sent: RelayToChildMessage = message.type === 'request' ? { type: 'request', id: message.id, method: message.method, args: message.args } : message;
      // Serialization errors throw here; a closed channel is reported through the callback, and 'close' follows.
      child.send(sent, (error: Error | null) => void error);
    },
    ref() {
      child.ref();
      child.channel?.ref();
    },
    unref() {
      child.unref();
      child.channel?.unref();
    },
    async terminate() {
      if (!gone) {
        // Held until it has closed: an idle (unref'd) child would otherwise let the loop end first.
        child.ref();
        child.channel?.ref();
        child.kill('SIGKILL');
      }
      await closed;
    },
  };
}
