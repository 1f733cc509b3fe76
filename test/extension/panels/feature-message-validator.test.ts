/** The webview message validator on the feature views' messages: steerFeatures, rebuildGraph, exportGraph (clean copies, refusals naming the field). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateWebviewMessage } from '../../../src/extension/panels/webview-message-validator.js';
import { MAX_FEATURE_EDITS, MAX_GRAPH_PINS } from '../../../src/protocol/feature-messages.js';

const ok = (raw: unknown) => {
  const r = validateWebviewMessage(raw);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
};
const error = (raw: unknown): string => {
  const r = validateWebviewMessage(raw);
  assert.equal(r.ok, false, JSON.stringify(raw));
  return r.ok ? '' : r.error;
};

test('steerFeatures: a clean copy of the edits (unknown fields dropped), each kind with its own number', () => {
  const value = ok({
    type: 'steerFeatures',
    requestId: 3,
    position: 4,
    dictionary: { kind: 'folder', path: '/etc' },
    edits: [
      { layer: 2, feature: 17, kind: 'set', value: 0, extra: 1 },
      { layer: 2, feature: 18, kind: 'scale', factor: -2.5, positions: [0, 3] },
      { layer: 5, feature: 0, kind: 'add', value: 12 },
    ],
  });
  assert.deepEqual(value, {
    type: 'steerFeatures',
    requestId: 3,
    position: 4,
    edits: [
      { layer: 2, feature: 17, kind: 'set', value: 0 },
      { layer: 2, feature: 18, positions: [0, 3], kind: 'scale', factor: -2.5 },
      { layer: 5, feature: 0, kind: 'add', value: 12 },
    ],
  });
});

test('steerFeatures: refusals name the field', () => {
  const edit = { layer: 0, feature: 1, kind: 'set', value: 0 };
  assert.match(error({ type: 'steerFeatures', requestId: 1, edits: [] }), /edits must be an array of 1\.\.64/);
  assert.match(error({ type: 'steerFeatures', requestId: 1, edits: Array.from({ length: MAX_FEATURE_EDITS + 1 }, () => edit) }), /edits must be/);
  assert.match(error({ type: 'steerFeatures', requestId: 1, edits: [{ ...edit, layer: 1.5 }] }), /edits\[0\]\.layer/);
  assert.match(error({ type: 'steerFeatures', requestId: 1, edits: [{ ...edit, feature: -1 }] }), /edits\[0\]\.feature/);
  assert.match(error({ type: 'steerFeatures', requestId: 1, edits: [{ ...edit, kind: 'zero' }] }), /edits\[0\]\.kind must be one of set, scale, add/);
  assert.match(error({ type: 'steerFeatures', requestId: 1, edits: [{ ...edit, value: Infinity }] }), /edits\[0\]\.value must be a finite number/);
  assert.match(error({ type: 'steerFeatures', requestId: 1, edits: [{ ...edit, value: 2e6 }] }), /within ±1000000/);
  assert.match(error({ type: 'steerFeatures', requestId: 1, edits: [{ layer: 0, feature: 1, kind: 'scale', value: 2 }] }), /edits\[0\]\.factor/);
  assert.match(error({ type: 'steerFeatures', requestId: 1, edits: [{ ...edit, positions: [] }] }), /edits\[0\]\.positions must be a non-empty array/);
  assert.match(error({ type: 'steerFeatures', requestId: 1, edits: [{ ...edit, positions: [2, -1] }] }), /edits\[0\]\.positions\[1\]/);
  assert.match(error({ type: 'steerFeatures', requestId: 1, edits: [edit], position: 'last' }), /position must be an integer/);
});

test('rebuildGraph: thresholds are shares in (0, 1]', () => {
  assert.deepEqual(ok({ type: 'rebuildGraph', requestId: 2, nodeThreshold: 0.5, edgeThreshold: 1, extra: true }), {
    type: 'rebuildGraph',
    requestId: 2,
    nodeThreshold: 0.5,
    edgeThreshold: 1,
  });
  assert.match(error({ type: 'rebuildGraph', requestId: 2, nodeThreshold: 0, edgeThreshold: 1 }), /nodeThreshold must be a number in \(0, 1\]/);
  assert.match(error({ type: 'rebuildGraph', requestId: 2, nodeThreshold: 0.8, edgeThreshold: 1.01 }), /edgeThreshold/);
  assert.match(error({ type: 'rebuildGraph', requestId: 2, nodeThreshold: Number.NaN, edgeThreshold: 1 }), /nodeThreshold/);
});

test('exportGraph: circuit-tracer node ids only; supernodes as [name, ...ids]; bounded', () => {
  assert.deepEqual(
    ok({ type: 'exportGraph', requestId: 1, pinnedIds: ['3_1234_5', 'E_262_0', '0_2_7', '13_50256_4'], supernodes: [['say Austin', '3_1234_5', '0_2_7']] }),
    {
      type: 'exportGraph',
      requestId: 1,
      pinnedIds: ['3_1234_5', 'E_262_0', '0_2_7', '13_50256_4'],
      supernodes: [['say Austin', '3_1234_5', '0_2_7']],
    },
  );
  assert.match(error({ type: 'exportGraph', requestId: 1, pinnedIds: ['<script>'], supernodes: [] }), /pinnedIds\[0\] is not an attribution graph node id/);
  assert.match(error({ type: 'exportGraph', requestId: 1, pinnedIds: [], supernodes: [['only a name']] }), /supernodes\[0\] must be \[name, \.\.\.node ids\]/);
  assert.match(error({ type: 'exportGraph', requestId: 1, pinnedIds: [], supernodes: [['', '3_1_1']] }), /supernodes\[0\]\[0\] must not be empty/);
  assert.match(error({ type: 'exportGraph', requestId: 1, pinnedIds: [], supernodes: [['x'.repeat(81), '3_1_1']] }), /longer than 80/);
  assert.match(
    error({ type: 'exportGraph', requestId: 1, pinnedIds: Array.from({ length: MAX_GRAPH_PINS + 1 }, () => '1_1_1'), supernodes: [] }),
    /at most 2000/,
  );
  assert.match(error({ type: 'exportGraph', requestId: 1, supernodes: [] }), /pinnedIds must be an array/);
});
