import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LabBridge, readPersistedState, type MessageSource, type VsCodeApi } from '../../../src/webviews/lab/state/bridge.js';
import type { HostToWebview } from '../../../src/protocol/webview-messages.js';

/** A fake `acquireVsCodeApi()` and window: records posts, holds state, lets the test deliver host messages. */
function fakeWebview(initialState?: unknown) {
  const posted: unknown[] = [];
  let state = initialState;
  const listeners = new Set<(e: { data: unknown }) => void>();
  const api: VsCodeApi = { postMessage: (m) => posted.push(m), getState: () => state, setState: (s) => (state = s) };
  const source: MessageSource = { addEventListener: (_t, l) => listeners.add(l), removeEventListener: (_t, l) => listeners.delete(l) };
  return { api, source, posted, deliver: (data: unknown) => listeners.forEach((l) => l({ data })), state: () => state, listeners };
}

test('ready handshake carries the persisted state; early host messages reach the handler', () => {
  const saved = { version: 1, content: 'trace', historyId: 'h1', selection: { layer: 2, head: 3 } };
  const w = fakeWebview(saved);
  const bridge = new LabBridge(w.api, w.source);
  w.deliver({ type: 'select', selection: { layer: 1 } });
  const got: HostToWebview[] = [];
  bridge.start((m) => got.push(m));
  assert.deepEqual(got, [{ type: 'select', selection: { layer: 1 } }]);
  assert.deepEqual(w.posted, [{ type: 'ready', restore: saved }]);
  bridge.saveState({ version: 1, content: 'trace', historyId: 'h2', selection: {} });
  assert.deepEqual(w.state(), { version: 1, content: 'trace', historyId: 'h2', selection: {} });
});

test('unknown and malformed host messages are dropped', () => {
  const w = fakeWebview();
  const bridge = new LabBridge(w.api, w.source);
  const got: HostToWebview[] = [];
  bridge.start((m) => got.push(m));
  w.deliver(null);
  w.deliver('analysis');
  w.deliver({ type: 'runPatch' });
  w.deliver({ type: 'patchBusy', busy: true });
  assert.deepEqual(got, [{ type: 'patchBusy', busy: true }]);
});

test('requests get increasing ids and settle on the matching reply only', async () => {
  const w = fakeWebview();
  const bridge = new LabBridge(w.api, w.source);
  bridge.start(() => {});
  const a = bridge.request({ type: 'requestTrace', historyId: 'h', metric: 'logit' });
  const b = bridge.request({ type: 'export', view: 'lab', format: 'json' });
  assert.deepEqual(w.posted.slice(1), [
    { type: 'requestTrace', historyId: 'h', metric: 'logit', requestId: 1 },
    { type: 'export', view: 'lab', format: 'json', requestId: 2 },
  ]);
  w.deliver({ type: 'reply', requestId: 2, ok: false, error: 'no analysis' });
  await assert.rejects(b, /no analysis/);
  w.deliver({ type: 'reply', requestId: 99, ok: true });
  w.deliver({ type: 'reply', requestId: 1, ok: true });
  await a;
});

test('dispose rejects what is still waiting and stops listening', async () => {
  const w = fakeWebview();
  const bridge = new LabBridge(w.api, w.source);
  const pending = bridge.request({ type: 'runPatch', request: { clean: 'a', corrupt: 'b', target: { text: ' x' }, kind: 'heads-last' } });
  bridge.dispose();
  await assert.rejects(pending, /closed/);
  assert.equal(w.listeners.size, 0);
});

test('readPersistedState accepts only the expected shape', () => {
  assert.equal(readPersistedState(undefined), null);
  assert.equal(readPersistedState({ version: 2, content: 'lab' }), null);
  assert.equal(readPersistedState({ version: 1, content: 'nope' }), null);
  assert.deepEqual(readPersistedState({ version: 1, content: 'lab', historyId: 5, selection: { layer: -1, head: 2, position: 1.5 } }), {
    version: 1,
    content: 'lab',
    historyId: null,
    selection: { head: 2 },
  });
  assert.deepEqual(
    readPersistedState({ version: 1, content: 'circuit', topHeadLinks: true }),
    { version: 1, content: 'circuit', historyId: null, selection: {} },
    'the circuit view restores; a field of the removed top-head toggle is dropped',
  );
});
