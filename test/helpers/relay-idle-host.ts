/**
 * A host process for relay-process.test.ts: makes one call through a relay, prints the relay's
 * pid, and then neither disposes the client nor exits: an idle relay must let it end by itself.
 */
import { fileURLToPath } from 'node:url';
import { WorkerRpcClient } from '../../src/engine/worker/rpc.js';
import { forkRelay } from '../../src/engine/worker/relay-process.js';
import type { RpcTestApi } from './rpc-test-worker.js';

const relayPath = fileURLToPath(new URL('../../src/engine/worker/relay-main.ts', import.meta.url));
const workerPath = fileURLToPath(new URL('./rpc-test-worker.ts', import.meta.url));
const client = new WorkerRpcClient<RpcTestApi>(() => forkRelay(relayPath, workerPath));
// No top-level await: tsx may run this file as CommonJS.
void client.call('echo', { text: 'x', values: new Float32Array(1) }).then(({ pid }) => console.log(JSON.stringify({ relayPid: pid })));
