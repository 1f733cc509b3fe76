import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS, validatePersistedState, validateSelection, validateWebviewMessage } from '../../../src/extension/panels/webview-message-validator.js';

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);

function rejects(raw: unknown, pattern: RegExp) {
  const r = validateWebviewMessage(raw);
  assert.equal(r.ok, false, `accepted ${JSON.stringify(raw)}`);
  if (!r.ok) assert.match(r.error, pattern);
}

function accepts(raw: unknown) {
  const r = validateWebviewMessage(raw);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

test('non-objects and unknown types are rejected', () => {
  rejects(null, /object/);
  rejects('ready', /object/);
  rejects([], /object/);
  rejects({}, /unknown message type/);
  rejects({ type: 'toString' }, /unknown message type/);
  rejects({ type: '__proto__' }, /unknown message type/);
  rejects({ type: 42 }, /unknown message type/);
});

test('ready: restore is null or a valid persisted state', () => {
  assert.deepEqual(accepts({ type: 'ready', restore: null }), { type: 'ready', restore: null });
  assert.deepEqual(accepts({ type: 'ready' }), { type: 'ready', restore: null });
  assert.deepEqual(accepts({ type: 'ready', restore: { version: 1, content: 'trace', historyId: 'h', selection: { layer: 1 } } }), {
    type: 'ready',
    restore: { version: 1, content: 'trace', historyId: 'h', selection: { layer: 1 } },
  });
  rejects({ type: 'ready', restore: { version: 2, content: 'lab' } }, /version/);
  rejects({ type: 'ready', restore: { version: 1, content: 'evil' } }, /content/);
  rejects({ type: 'ready', restore: { version: 1, content: 'lab', historyId: 'x'.repeat(LIMITS.maxHistoryIdLength + 1) } }, /historyId/);
});

test('selectionChanged: indices must be non-negative bounded integers; extra fields are dropped', () => {
  assert.deepEqual(accepts({ type: 'selectionChanged', selection: { layer: 1, head: 2, position: 3, evil: 'x' }, extra: 1 }), {
    type: 'selectionChanged',
    selection: { layer: 1, head: 2, position: 3 },
  });
  assert.deepEqual(accepts({ type: 'selectionChanged', selection: {} }), { type: 'selectionChanged', selection: {} });
  rejects({ type: 'selectionChanged' }, /selection must be an object/);
  rejects({ type: 'selectionChanged', selection: { layer: -1 } }, /selection.layer/);
  rejects({ type: 'selectionChanged', selection: { head: 1.5 } }, /selection.head/);
  rejects({ type: 'selectionChanged', selection: { position: '3' } }, /selection.position/);
  rejects({ type: 'selectionChanged', selection: { layer: NaN } }, /selection.layer/);
  rejects({ type: 'selectionChanged', selection: { layer: LIMITS.maxIndex + 1 } }, /selection.layer/);
});

test('openView: only Lab view ids', () => {
  assert.deepEqual(accepts({ type: 'openView', view: 'flow' }), { type: 'openView', view: 'flow' });
  rejects({ type: 'openView', view: 'lab' }, /view/);
  rejects({ type: 'openView', view: '../../etc' }, /view/);
});

test('runPatch: a well-formed request passes; bad kinds, refs, prompts and ids do not', () => {
  const good = {
    type: 'runPatch',
    requestId: 4,
    request: {
      clean: 'When Mary and John',
      corrupt: 'When Alice and Bob',
      target: { text: ' Mary' },
      contrast: { id: 1757 },
      kind: 'heads-last',
      position: 3,
      junk: true,
    },
  };
  assert.deepEqual(accepts(good), {
    type: 'runPatch',
    requestId: 4,
    request: { clean: 'When Mary and John', corrupt: 'When Alice and Bob', target: { text: ' Mary' }, contrast: { id: 1757 }, kind: 'heads-last', position: 3 },
  });
  assert.deepEqual(
    accepts({
      type: 'runPatch',
      requestId: 0,
      request: { cleanIds: [1, 2], corruptIds: [3, 4], target: { id: 5 }, kind: 'single', component: { hook: 'z', layer: 1, head: 2 } },
    }).type,
    'runPatch',
  );
  rejects({ ...good, requestId: -1 }, /requestId/);
  rejects({ ...good, requestId: '4' }, /requestId/);
  rejects({ ...good, request: { ...good.request, kind: 'everything' } }, /request.kind/);
  rejects({ ...good, request: { ...good.request, target: {} } }, /request.target/);
  rejects({ ...good, request: { ...good.request, target: { text: '' } } }, /request.target.text/);
  rejects({ ...good, request: { ...good.request, clean: undefined } }, /clean prompt/);
  rejects({ ...good, request: { ...good.request, corrupt: 'x'.repeat(LIMITS.maxPromptLength + 1) } }, /request.corrupt/);
  rejects({ ...good, request: { ...good.request, cleanIds: [1, -2] } }, /cleanIds\[1\]/);
  rejects({ ...good, request: { ...good.request, cleanIds: [] } }, /cleanIds/);
  rejects({ ...good, request: { ...good.request, kind: 'single' } }, /component/);
  rejects({ ...good, request: { ...good.request, component: { hook: 'rm -rf', layer: 0 } } }, /hook/);
});

test('requestTrace: metric and history id', () => {
  assert.deepEqual(accepts({ type: 'requestTrace', requestId: 1, historyId: 'h', metric: 'logit_diff' }), {
    type: 'requestTrace',
    requestId: 1,
    historyId: 'h',
    metric: 'logit_diff',
  });
  rejects({ type: 'requestTrace', requestId: 1, historyId: 'h', metric: 'prob' }, /metric/);
  rejects({ type: 'requestTrace', requestId: 1, historyId: '', metric: 'logit' }, /historyId/);
});

test('export: PNG bytes with the signature, an <svg> document, or JSON without data', () => {
  const png = accepts({ type: 'export', requestId: 1, view: 'heatmap', format: 'png', data: PNG });
  assert.ok(png.type === 'export' && png.data instanceof Uint8Array);
  const fromBuffer = accepts({ type: 'export', requestId: 1, view: 'heatmap', format: 'png', data: PNG.slice().buffer });
  assert.ok(fromBuffer.type === 'export' && fromBuffer.data instanceof Uint8Array);
  accepts({ type: 'export', requestId: 2, view: 'flow', format: 'svg', data: '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>' });
  assert.deepEqual(accepts({ type: 'export', requestId: 3, view: 'lab', format: 'json' }), { type: 'export', requestId: 3, view: 'lab', format: 'json' });
  assert.deepEqual(accepts({ type: 'export', requestId: 4, view: 'circuit', format: 'json' }), {
    type: 'export',
    requestId: 4,
    view: 'circuit',
    format: 'json',
  });
  accepts({ type: 'export', requestId: 5, view: 'circuit', format: 'svg', data: '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0"/></svg>' });
  rejects({ type: 'export', requestId: 6, view: 'circuit', format: 'json', data: '{"edges":[]}' }, /carries no data/);
  assert.deepEqual(accepts({ type: 'openView', view: 'circuit' }), { type: 'openView', view: 'circuit' });
  assert.equal(validatePersistedState({ version: 1, content: 'circuit', historyId: null }).ok, true, 'a lone circuit panel restores');
  assert.deepEqual(accepts({ type: 'checkEdge', requestId: 7, from: 'L0H1', to: 'L1KV0.k', extra: 1 }), {
    type: 'checkEdge',
    requestId: 7,
    from: 'L0H1',
    to: 'L1KV0.k',
  });
  rejects({ type: 'checkEdge', requestId: 7, from: 'L0H1', to: 'L1H2.x' }, /circuit node name/);
  rejects({ type: 'checkEdge', requestId: 7, from: '<script>', to: 'logits' }, /circuit node name/);
  rejects({ type: 'checkEdge', requestId: 7, from: 'L0H1' }, /to must be a string/);
  rejects({ type: 'export', requestId: 1, view: 'heatmap', format: 'png', data: new Uint8Array([1, 2, 3]) }, /PNG signature/);
  rejects({ type: 'export', requestId: 1, view: 'heatmap', format: 'png', data: 'iVBORw0' }, /bytes/);
  rejects({ type: 'export', requestId: 1, view: 'flow', format: 'svg', data: '<html><script>' }, /<svg>/);
  rejects({ type: 'export', requestId: 1, view: 'flow', format: 'svg', data: new Uint8Array(4) }, /string/);
  rejects({ type: 'export', requestId: 1, view: 'lab', format: 'json', data: '{}' }, /no data/);
  rejects({ type: 'export', requestId: 1, view: 'lab', format: 'exe' }, /format/);
  rejects({ type: 'export', requestId: 1, view: '../x', format: 'json' }, /content/);
});

test('log: level enum, message truncated', () => {
  const m = accepts({ type: 'log', level: 'warn', message: 'x'.repeat(LIMITS.maxLogLength + 50) });
  assert.ok(m.type === 'log' && m.message.length === LIMITS.maxLogLength);
  rejects({ type: 'log', level: 'fatal', message: 'x' }, /level/);
  rejects({ type: 'log', level: 'info', message: { toString: 1 } }, /message/);
});

test('persisted state and extension selections use the same rules', () => {
  assert.equal(validatePersistedState(undefined).ok, false);
  assert.deepEqual(validatePersistedState({ version: 1, content: 'lab', historyId: null }), {
    ok: true,
    value: { version: 1, content: 'lab', historyId: null, selection: {} },
  });
  assert.deepEqual(validateSelection({ layer: 3 }), { ok: true, value: { layer: 3 } });
  assert.equal(validateSelection({ layer: -3 }).ok, false);
});
