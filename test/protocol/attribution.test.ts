/**
 * The attribution protocol round trip: an AttributionMap and a PathPatchMap survive the copies
 * they cross (structured clone, as worker_threads and a webview's postMessage make them, and V8's
 * serializer, as the engine's relay process sends them) with their typed arrays and nulls; the
 * webview's requests come out of the host's validator as they went in; and the webview's bridge
 * lets the host's attribution messages through to the Lab.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deserialize, serialize } from 'node:v8';
import type { AttributionMap, PathPatchMap } from '../../src/protocol/attribution.js';
import type { RunAttributionMessage, RunPathPatchMessage } from '../../src/protocol/attribution-messages.js';
import type { HostToWebview } from '../../src/protocol/webview-messages.js';
import { validateWebviewMessage } from '../../src/extension/panels/webview-message-validator.js';
import { LabBridge, type MessageSource, type VsCodeApi } from '../../src/webviews/lab/state/bridge.js';
import { syntheticAttributionMap, syntheticPathPatchMap } from '../mocks/synthetic-attribution.js';

function roundTrips<T>(value: T): T[] {
  return [structuredClone(value), deserialize(serialize(value)) as T];
}

test('an attribution map crosses threads and processes with its Float32Arrays', () => {
  const map = syntheticAttributionMap({ nLayers: 3, nHeads: 4 });
  for (const copy of roundTrips<AttributionMap>(map)) {
    assert.ok(copy.heads instanceof Float32Array);
    assert.deepEqual(Array.from(copy.heads), Array.from(map.heads));
    for (const c of ['resid_pre', 'attn_out', 'mlp_out'] as const) {
      assert.ok(copy.positions![c] instanceof Float32Array);
      assert.deepEqual(Array.from(copy.positions![c]), Array.from(map.positions![c]));
    }
    assert.deepEqual({ ...copy, heads: null, positions: null }, { ...map, heads: null, positions: null });
  }
  const ig = syntheticAttributionMap({ method: 'eap-ig' });
  for (const copy of roundTrips(ig)) assert.deepEqual([copy.positions, copy.steps, copy.method], [null, 5, 'eap-ig']);
});

test('a path-patching map keeps its nulls (no NaN on the wire)', () => {
  const paths = syntheticPathPatchMap();
  paths.entries[0]!.normalized = null;
  for (const copy of roundTrips<PathPatchMap>(paths)) assert.deepEqual(copy, paths);
  assert.deepEqual(JSON.parse(JSON.stringify(paths)), paths, 'JSON too (the exports)');
});

test("the webview's requests come out of the validator as they went in", () => {
  const messages: (RunAttributionMessage | RunPathPatchMessage)[] = [
    { type: 'runAttribution', requestId: 1, request: { clean: 'a b', corrupt: 'a c', target: { text: ' b' }, contrast: { text: ' c' }, method: 'atp' } },
    {
      type: 'runAttribution',
      requestId: 2,
      request: { cleanIds: [1, 2], corruptIds: [1, 3], target: { id: 2 }, method: 'eap-ig', steps: 7, prependBos: false },
    },
    { type: 'runAttribution', requestId: 3, request: { clean: 'a', corrupt: 'b', target: { id: 4 }, method: 'atp-star' } },
    { type: 'runPathPatch', requestId: 4, request: { clean: 'a b', corrupt: 'a c', target: { text: ' b' }, receivers: 'logits' } },
    { type: 'runPathPatch', requestId: 5, request: { cleanIds: [1, 2], corruptIds: [1, 3], target: { id: 2 }, receivers: 'L9H6:q,L9H9:k,L10H0:v' } },
  ];
  for (const m of messages) {
    const checked = validateWebviewMessage(structuredClone(m));
    assert.ok(checked.ok, checked.ok ? '' : checked.error);
    assert.deepEqual(checked.value, m);
  }
  const bad = (request: unknown, pattern: RegExp) => {
    const checked = validateWebviewMessage({ type: 'runAttribution', requestId: 1, request });
    assert.ok(!checked.ok);
    assert.match(checked.error, pattern);
  };
  bad({ clean: 'a', corrupt: 'b', target: { id: 1 }, method: 'eap' }, /request.method must be one of atp, atp-star, eap-ig/);
  bad({ clean: 'a', corrupt: 'b', target: { id: 1 }, method: 'eap-ig', steps: 101 }, /request.steps/);
  bad({ clean: 'a', target: { id: 1 }, method: 'atp' }, /corrupt prompt/);
  bad({ clean: 'a', corrupt: 'b', method: 'atp' }, /request.target/);
  bad({ clean: 'a', corrupt: 'b', target: { id: 1 }, method: 'atp', prependBos: 'yes' }, /prependBos must be a boolean/);
  const badPath = validateWebviewMessage({ type: 'runPathPatch', requestId: 1, request: { clean: 'a', corrupt: 'b', target: { id: 1 }, receivers: 'L1H0' } });
  assert.ok(!badPath.ok);
  assert.match(badPath.error, /receivers must be "logits"/);
});

test("the bridge passes the host's attribution messages to the Lab", () => {
  const listeners = new Set<(e: { data: unknown }) => void>();
  const api: VsCodeApi = { postMessage: () => undefined, getState: () => undefined, setState: () => undefined };
  const source: MessageSource = { addEventListener: (_t, l) => listeners.add(l), removeEventListener: (_t, l) => listeners.delete(l) };
  const bridge = new LabBridge(api, source);
  const got: HostToWebview[] = [];
  bridge.start((m) => got.push(m));
  const sent: HostToWebview[] = [
    { type: 'attributionMap', map: syntheticAttributionMap() },
    { type: 'pathPatchMap', map: syntheticPathPatchMap() },
    { type: 'attributionBusy', run: 'pathPatch', busy: true },
  ];
  for (const m of sent) listeners.forEach((l) => l({ data: structuredClone(m) }));
  assert.deepEqual(got, sent);
});
