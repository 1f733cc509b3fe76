import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activeTrace, initialLabState, labReducer, persistedState, type LabState } from '../../../src/webviews/lab/state/lab-state.js';
import {
  clampSelection,
  cursorFrom,
  defaultSelection,
  moveCursor,
  selectHead,
  selectLayer,
  selectPosition,
} from '../../../src/webviews/lab/state/selection.js';
import type { HostToWebview } from '../../../src/protocol/webview-messages.js';
import { syntheticResult } from '../../mocks/synthetic-result.js';
import { syntheticCircuit } from '../../mocks/synthetic-circuit.js';

const host = (state: LabState, message: HostToWebview, now = 0) => labReducer(state, { type: 'host', message, now });

test('selection helpers: heads carry their layer, clamping drops out-of-range fields', () => {
  assert.deepEqual(selectHead({ position: 3 }, 2, 5), { position: 3, layer: 2, head: 5 });
  assert.deepEqual(selectLayer({ layer: 2, head: 5 }, 3), { layer: 3 });
  assert.deepEqual(selectLayer({ layer: 3, head: 5 }, 3), { layer: 3, head: 5 });
  assert.deepEqual(selectPosition({ layer: 1 }, 4), { layer: 1, position: 4 });
  const dims = { nLayers: 2, nHeads: 3, nTokens: 4 };
  assert.deepEqual(clampSelection({ layer: 1, head: 2, position: 3 }, dims), { layer: 1, head: 2, position: 3 });
  assert.deepEqual(clampSelection({ layer: 2, head: 2, position: 4 }, dims), {});
  assert.deepEqual(clampSelection({ head: 1 }, dims), {}, 'a head without a layer is not a head');
  assert.deepEqual(clampSelection({ layer: 0.5 }, dims), {});
});

test('keyboard cursor moves one head or layer and stops at the edges', () => {
  const dims = { nLayers: 3, nHeads: 4 };
  assert.deepEqual(moveCursor({ layer: 0, head: 0 }, 1, 0, dims), { layer: 1, head: 0 });
  assert.deepEqual(moveCursor({ layer: 0, head: 0 }, -1, -1, dims), { layer: 0, head: 0 });
  assert.deepEqual(moveCursor({ layer: 2, head: 3 }, 1, 1, dims), { layer: 2, head: 3 });
  assert.deepEqual(cursorFrom({}), { layer: 0, head: 0 });
  assert.deepEqual(cursorFrom({ layer: 2 }), { layer: 2, head: 0 });
});

test('default selection is the strongest direct contributor at the traced position', () => {
  const r = syntheticResult({ nLayers: 3, nHeads: 4, nTokens: 6 });
  r.trace.heads.fill(0.1);
  r.trace.heads[2 * 4 + 1] = -5;
  assert.deepEqual(defaultSelection(r), { layer: 2, head: 1, position: 5 });
});

test('streaming: analysisStarted reserves the layers, each layer update fills one, the result replaces them', () => {
  let s = initialLabState('lab', null);
  s = host(s, { type: 'analysisStarted', prompt: 'ab', nLayers: 3, nHeads: 2 });
  assert.equal(s.phase, 'streaming');
  assert.deepEqual(s.streamed, [null, null, null]);
  const pattern = new Float32Array(2 * 5 * 5);
  s = host(s, { type: 'layer', update: { layer: 1, nLayers: 3, pattern } });
  assert.equal(s.streamed[1], pattern);
  assert.equal(s.nTokens, 5);
  const ignored = host(s, { type: 'layer', update: { layer: 7, nLayers: 3, pattern } });
  assert.equal(ignored, s, 'a layer outside the model is ignored');
  const r = syntheticResult({ nLayers: 3, nHeads: 2, nTokens: 5 });
  s = host(s, { type: 'analysis', result: r, historyId: 'h1' }, 123);
  assert.equal(s.phase, 'ready');
  assert.equal(s.result, r);
  assert.deepEqual(s.streamed, []);
  assert.equal(s.resultArrivedAt, 123);
  assert.equal(s.historyId, 'h1');
  assert.deepEqual(s.selection, defaultSelection(r));
});

test('a restored selection that fits the result is kept; one that does not is replaced', () => {
  const r = syntheticResult({ nLayers: 3, nHeads: 2, nTokens: 5 });
  const restored = initialLabState('trace', { version: 1, content: 'trace', historyId: 'h1', selection: { layer: 1, head: 0, position: 2 } });
  assert.deepEqual(host(restored, { type: 'analysis', result: r, historyId: 'h1' }).selection, { layer: 1, head: 0, position: 2 });
  const tooBig = initialLabState('trace', { version: 1, content: 'trace', historyId: 'h1', selection: { layer: 9, head: 0, position: 2 } });
  assert.deepEqual(host(tooBig, { type: 'analysis', result: r, historyId: 'h1' }).selection, { ...defaultSelection(r), position: 2 });
});

test('selection sync: host select and local select both clamp; persisted state holds identifiers only', () => {
  const r = syntheticResult({ nLayers: 3, nHeads: 2, nTokens: 5 });
  let s = host(initialLabState('lab', null), { type: 'analysis', result: r, historyId: 'h9' });
  s = host(s, { type: 'select', selection: { layer: 2, head: 1, position: 0 } });
  assert.deepEqual(s.selection, { layer: 2, head: 1, position: 0 });
  s = labReducer(s, { type: 'select', selection: { layer: 0, head: 5 } });
  assert.deepEqual(s.selection, { layer: 0 });
  assert.deepEqual(persistedState(s), { version: 1, content: 'lab', historyId: 'h9', selection: { layer: 0 } });
});

test('circuit: a circuit message is held (across new analyses) and not persisted', () => {
  const report = syntheticCircuit();
  const s = host(initialLabState('lab', null), { type: 'circuit', report });
  assert.equal(s.circuit, report);
  const r = syntheticResult({ nLayers: 2, nHeads: 2, nTokens: 4 });
  assert.equal(host(s, { type: 'analysis', result: r, historyId: 'h2' }).circuit, report, 'the circuit view keeps its circuit');
  assert.deepEqual(Object.keys(persistedState(s)).sort(), ['content', 'historyId', 'selection', 'version']);
  const check = { from: 'L0H1', to: 'L1H2.k', receivers: 'L1H2:k', logitDiff: 1, cleanLogitDiff: 6, corruptLogitDiff: -1, normalized: -5 / 7 };
  const checked = host(s, { type: 'edgeCheck', check });
  assert.equal(checked.edgeCheck, check);
  assert.equal(host(checked, { type: 'circuit', report: syntheticCircuit({ size: 2 }) }).edgeCheck, null, 'a new circuit clears the old check');
});

test('trace metric switch: pending until the other trace arrives for the same analysis', () => {
  const r = syntheticResult({ contrast: true });
  let s = host(initialLabState('lab', null), { type: 'analysis', result: r, historyId: 'h1' });
  assert.equal(s.traceMetric, 'logit_diff');
  s = labReducer(s, { type: 'setTraceMetric', metric: 'logit', pending: true });
  assert.equal(s.tracePending, true);
  assert.equal(activeTrace(s), r.trace, 'shows the held trace meanwhile');
  const other = { ...r.trace, metric: 'logit' as const };
  assert.equal(host(s, { type: 'trace', historyId: 'other', trace: other }).tracePending, true, 'a trace of another analysis is ignored');
  s = host(s, { type: 'trace', historyId: 'h1', trace: other });
  assert.equal(s.tracePending, false);
  assert.equal(activeTrace(s), other);
  s = labReducer(s, { type: 'setTraceMetric', metric: 'logit_diff', pending: true });
  assert.equal(s.tracePending, false, 'already held');
  assert.equal(activeTrace(s), r.trace);
});

test('missing history entry leaves a notice; a failed reply clears pending state', () => {
  let s = host(initialLabState('lab', { version: 1, content: 'lab', historyId: 'gone', selection: {} }), { type: 'analysisMissing', historyId: 'gone' });
  assert.equal(s.historyId, null);
  assert.match(s.notice ?? '', /no longer in the history/);
  s = { ...s, tracePending: true };
  s = host(s, { type: 'reply', requestId: 1, ok: false, error: 'boom' });
  assert.equal(s.notice, 'boom');
  assert.equal(s.tracePending, false);
});

test('patch results and busy flags', () => {
  let s = initialLabState('patching', null);
  s = host(s, { type: 'patchBusy', busy: true });
  assert.equal(s.patchBusy, true);
  const patch = {
    kind: 'single' as const,
    targetId: 1,
    target: 'a',
    contrastId: null,
    contrast: null,
    metric: 'log_prob' as const,
    prependBos: false,
    cleanTokens: [],
    corruptTokens: [],
    clean: { value: 0, logitDiff: 1, prob: 1 },
    corrupt: { value: -Infinity, logitDiff: 0, prob: 0 },
    entries: [],
    elapsedMs: 1,
  };
  s = host(s, { type: 'patch', result: patch });
  assert.equal(s.patch, patch);
});
