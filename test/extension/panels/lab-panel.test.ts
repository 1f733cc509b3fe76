/**
 * The Lab's host side (LabPanelController) against an in-memory `vscode` (test/mocks/vscode.ts):
 * the ready handshake and snapshots, streaming to late panels, selection relay, validation of
 * malformed messages, patch / trace / export requests with replies, and restore after a reload.
 */
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { AnalysisResult, CircuitTrace, PatchSweepResult } from '../../../src/protocol/analysis.js';
import type { PatchRequest } from '../../../src/protocol/engine.js';
import { fakeVscode, source } from '../../mocks/load-with-fakes.js';
import { syntheticPatch, syntheticResult } from '../../mocks/synthetic-result.js';
import { syntheticCircuit } from '../../mocks/synthetic-circuit.js';
import type { EdgeCheck, EdgeCheckRequest } from '../../../src/protocol/circuit.js';

type Panels = typeof import('../../../src/extension/panels/lab-panel.js');
const vscode = fakeVscode();
const { LabPanelController } = source<Panels>('src/extension/panels/lab-panel.ts');
const { lab } = vscode;

interface HostLog {
  lines: string[];
}

function makeHost(
  overrides: Partial<{
    getAnalysis: (id: string) => Promise<AnalysisResult | undefined>;
    runPatch: (r: PatchRequest) => Promise<PatchSweepResult>;
    retrace: (id: string, m: 'logit' | 'logit_diff') => Promise<CircuitTrace>;
    checkEdge: (request: EdgeCheckRequest, modelId: string) => Promise<EdgeCheck>;
  }> = {},
) {
  const lines: string[] = [];
  const selections: unknown[] = [];
  const patchRequests: PatchRequest[] = [];
  const log = { info: (t: string) => lines.push(`info ${t}`), warn: (t: string) => lines.push(`warn ${t}`), error: (t: string) => lines.push(`error ${t}`) };
  const host = {
    getAnalysis: overrides.getAnalysis ?? (async () => undefined),
    runPatch:
      overrides.runPatch ??
      (async (r: PatchRequest) => {
        patchRequests.push(r);
        return syntheticPatch('heads-last', 2, 2, 3);
      }),
    onSelection: (s: unknown) => selections.push(s),
    log: log as unknown as import('vscode').LogOutputChannel,
    ...(overrides.retrace ? { retrace: overrides.retrace } : {}),
    ...(overrides.checkEdge ? { checkEdge: overrides.checkEdge } : {}),
  };
  const subscriptions: { dispose(): unknown }[] = [];
  const context = { extensionUri: vscode.Uri.file('/ext'), subscriptions } as unknown as import('vscode').ExtensionContext;
  const controller = LabPanelController.register(context, host);
  return { controller, host, lines, selections, patchRequests, subscriptions, log: { lines } as HostLog };
}

const tick = () => new Promise((r) => setImmediate(r));

beforeEach(() => lab.reset());

test('register: a serializer for circuitTrace.lab, and the controller in context.subscriptions', () => {
  const { controller, subscriptions } = makeHost();
  assert.ok(lab.serializers.has('circuitTrace.lab'));
  assert.ok(subscriptions.includes(controller));
  controller.dispose();
  assert.equal(lab.serializers.size, 0);
});

test('open: a panel beside the editor with a strict CSP and resource roots limited to media and dist', () => {
  const { controller } = makeHost();
  controller.open();
  const panel = lab.panels[0]!;
  assert.equal(panel.viewType, 'circuitTrace.lab');
  assert.deepEqual(panel.showOptions, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false });
  assert.equal(panel.webview.options.enableScripts, true);
  assert.deepEqual(
    panel.webview.options.localResourceRoots!.map((u) => u.fsPath),
    ['/ext/media', '/ext/dist'],
  );
  assert.match(panel.webview.html, /default-src 'none'/);
  assert.match(panel.webview.html, /data-lab-content="lab"/);
  controller.open();
  assert.equal(lab.panels.length, 1, 'the Lab is revealed, not duplicated');
  assert.equal(panel.reveals, 1);
  controller.open('flow');
  assert.equal(lab.panels.length, 2);
  assert.match(lab.panels[1]!.webview.html, /data-lab-content="flow"/);
  controller.open('nonsense');
  assert.equal(lab.panels.length, 2, 'an unknown view opens (reveals) the whole Lab');
});

test('nothing is posted before ready; ready gets a snapshot of the current state', async () => {
  const { controller } = makeHost();
  const r = syntheticResult({ nLayers: 2, nHeads: 2, nTokens: 3 });
  controller.showAnalysis(r, 'h1'); // opens the Lab since none is open
  const panel = lab.panels[0]!;
  controller.select({ layer: 1, head: 0 });
  assert.equal(panel.posted.length, 0);
  panel.deliver({ type: 'ready', restore: null });
  await tick();
  assert.deepEqual(
    panel.posted.map((m) => (m as { type: string }).type),
    ['analysis', 'select'],
  );
  assert.equal((panel.sent('analysis')[0] as { result: unknown }).result, r, 'typed arrays travel as they are');
  assert.deepEqual(panel.sent('select')[0], { type: 'select', selection: { layer: 1, head: 0 } });
});

test('streaming reaches ready panels, and a panel opened mid-stream replays the layers', async () => {
  const { controller } = makeHost();
  controller.open();
  const first = lab.panels[0]!;
  first.deliver({ type: 'ready', restore: null });
  await tick();
  controller.beginAnalysis('The cat', { nLayers: 2, nHeads: 2 });
  const update = { layer: 0, nLayers: 2, pattern: new Float32Array(8) };
  controller.layer(update);
  assert.deepEqual(
    first.posted.map((m) => (m as { type: string }).type),
    ['analysisStarted', 'layer'],
  );
  controller.open('grid3d');
  const late = lab.panels[1]!;
  late.deliver({ type: 'ready', restore: null });
  await tick();
  assert.deepEqual(late.posted, [
    { type: 'analysisStarted', prompt: 'The cat', nLayers: 2, nHeads: 2 },
    { type: 'layer', update },
  ]);
});

test('a selection in one panel goes to the others and to the extension, not back', async () => {
  const { controller, selections } = makeHost();
  controller.open();
  controller.open('trace');
  const [a, b] = lab.panels as [InstanceType<(typeof vscode)['FakePanel']>, InstanceType<(typeof vscode)['FakePanel']>];
  a.deliver({ type: 'ready', restore: null });
  b.deliver({ type: 'ready', restore: null });
  await tick();
  a.deliver({ type: 'selectionChanged', selection: { layer: 3, head: 1, position: 2 } });
  await tick();
  assert.deepEqual(b.sent('select'), [{ type: 'select', selection: { layer: 3, head: 1, position: 2 } }]);
  assert.deepEqual(a.sent('select'), []);
  assert.deepEqual(selections, [{ layer: 3, head: 1, position: 2 }]);
});

test('malformed messages are logged and ignored', async () => {
  const { controller, lines, selections } = makeHost();
  controller.open();
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  for (const bad of [
    null,
    42,
    { type: 'selectionChanged', selection: { layer: -1 } },
    { type: 'runPatch', requestId: 1, request: { kind: 'all' } },
    { type: 'export', requestId: 1, view: 'lab', format: 'png', data: 'x' },
    { type: 'eval', code: '1' },
  ]) {
    panel.deliver(bad);
  }
  await tick();
  assert.equal(lines.filter((l) => l.startsWith('warn Lab: ignoring a malformed message')).length, 6);
  assert.deepEqual(selections, []);
  assert.deepEqual(panel.sent('reply'), []);
});

test('runPatch: busy, the sweep to every panel, then the reply; failures reply with the message', async () => {
  let fail = false;
  const { controller, patchRequests } = makeHost({
    runPatch: async (r) => {
      patchRequests.push(r);
      if (fail) throw new Error('The corrupt prompt has 5 tokens, the clean one 6.');
      return syntheticPatch('heads-last', 2, 2, 3);
    },
  });
  controller.open();
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  const request = { clean: 'a b', corrupt: 'a c', target: { text: ' b' }, kind: 'heads-last', junk: 1 };
  panel.deliver({ type: 'runPatch', requestId: 7, request });
  await tick();
  assert.deepEqual(patchRequests, [{ clean: 'a b', corrupt: 'a c', target: { text: ' b' }, kind: 'heads-last' }]);
  assert.deepEqual(
    panel.posted.map((m) => (m as { type: string }).type),
    ['patchBusy', 'patch', 'reply', 'patchBusy'],
  );
  assert.deepEqual(panel.sent('reply'), [{ type: 'reply', requestId: 7, ok: true }]);
  fail = true;
  panel.deliver({ type: 'runPatch', requestId: 8, request });
  await tick();
  assert.deepEqual(panel.sent('reply')[1], { type: 'reply', requestId: 8, ok: false, error: 'The corrupt prompt has 5 tokens, the clean one 6.' });
});

test('requestTrace: asks the host once, sends the trace to every panel, then replies', async () => {
  const r = syntheticResult({ contrast: true });
  const other = { ...r.trace, metric: 'logit' as const };
  let calls = 0;
  const { controller } = makeHost({ retrace: async () => (calls++, other) });
  controller.showAnalysis(r, 'h1');
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  panel.deliver({ type: 'requestTrace', requestId: 1, historyId: 'h1', metric: 'logit' });
  await tick();
  assert.deepEqual(panel.sent('trace'), [{ type: 'trace', historyId: 'h1', trace: other }]);
  assert.deepEqual(panel.sent('reply'), [{ type: 'reply', requestId: 1, ok: true }]);
  panel.deliver({ type: 'requestTrace', requestId: 2, historyId: 'h1', metric: 'logit' });
  await tick();
  assert.equal(calls, 1, 'cached');
  panel.deliver({ type: 'requestTrace', requestId: 3, historyId: 'old', metric: 'logit' });
  await tick();
  assert.equal((panel.sent('reply')[2] as { ok: boolean }).ok, false);
  // A reloaded page gets both traces in its snapshot.
  panel.setVisible(false);
  panel.setVisible(true);
  panel.posted.length = 0;
  panel.deliver({ type: 'ready', restore: null });
  await tick();
  assert.deepEqual(
    panel.posted.map((m) => (m as { type: string }).type),
    ['analysis', 'trace'],
  );
});

test('requestTrace without a host retrace replies with what the analysis holds', async () => {
  const { controller } = makeHost();
  controller.showAnalysis(syntheticResult({ contrast: true }), 'h1');
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  panel.deliver({ type: 'requestTrace', requestId: 1, historyId: 'h1', metric: 'logit' });
  await tick();
  assert.deepEqual(panel.sent('reply'), [{ type: 'reply', requestId: 1, ok: false, error: 'This analysis holds only the logit_diff trace.' }]);
});

test('export: PNG bytes and the Lab JSON are written where the user chose; cancel writes nothing', async () => {
  const { controller } = makeHost();
  const r = syntheticResult({ nLayers: 1, nHeads: 2, nTokens: 3 });
  controller.showAnalysis(r, 'h1');
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2]);
  lab.saveAnswer = vscode.Uri.file('/out/grid.png');
  panel.deliver({ type: 'export', requestId: 1, view: 'grid3d', format: 'png', data: png });
  await tick();
  assert.deepEqual(lab.written.get('/out/grid.png'), png);
  lab.saveAnswer = vscode.Uri.file('/out/lab.json');
  panel.deliver({ type: 'export', requestId: 2, view: 'lab', format: 'json' });
  await tick();
  const json = JSON.parse(new TextDecoder().decode(lab.written.get('/out/lab.json'))) as { attention: { shape: number[] } };
  assert.deepEqual(json.attention.shape, [1, 2, 3, 3]);
  lab.saveAnswer = undefined;
  panel.deliver({ type: 'export', requestId: 3, view: 'lab', format: 'json' });
  await tick();
  assert.equal(lab.written.size, 2);
  assert.deepEqual(
    panel.sent('reply').map((m) => m.ok),
    [true, true, true],
  );
  panel.deliver({ type: 'export', requestId: 4, view: 'patching', format: 'json' });
  await tick();
  assert.match(String(panel.sent('reply')[3]!.error), /no patch sweep/);
});

test('restore after a reload: the serializer adopts the panel; ready with a history id refetches it', async () => {
  const r = syntheticResult({ nLayers: 2, nHeads: 2, nTokens: 3 });
  const asked: string[] = [];
  const { controller } = makeHost({ getAnalysis: async (id) => (asked.push(id), id === 'h1' ? r : undefined) });
  const restored = new vscode.FakePanel('circuitTrace.lab', 'old', undefined);
  await lab.serializers.get('circuitTrace.lab')!.deserializeWebviewPanel(restored, { version: 1, content: 'lens', historyId: 'h1', selection: { layer: 1 } });
  assert.match(restored.webview.html, /data-lab-content="lens"/);
  assert.equal(restored.title, 'Logit Lens');
  restored.deliver({ type: 'ready', restore: { version: 1, content: 'lens', historyId: 'h1', selection: { layer: 1 } } });
  await tick();
  assert.deepEqual(asked, ['h1']);
  assert.deepEqual(
    restored.posted.map((m) => (m as { type: string }).type),
    ['analysis', 'select'],
  );
  assert.deepEqual(restored.sent('select')[0], { type: 'select', selection: { layer: 1 } });
  // Another restored panel whose entry is gone hears so.
  const gone = new vscode.FakePanel('circuitTrace.lab', 'old', undefined);
  await lab.serializers.get('circuitTrace.lab')!.deserializeWebviewPanel(gone, { version: 1, content: 'lab', historyId: 'h0', selection: {} });
  gone.deliver({ type: 'ready', restore: { version: 1, content: 'lab', historyId: 'h0', selection: {} } });
  await tick();
  assert.equal(gone.sent('analysis').length, 1, 'the current analysis (h1) is shown instead');
  void controller;
});

test('restore with unusable state opens the whole Lab; a missing entry is reported', async () => {
  const { lines } = makeHost();
  const panel = new vscode.FakePanel('circuitTrace.lab', 'old', undefined);
  await lab.serializers.get('circuitTrace.lab')!.deserializeWebviewPanel(panel, { version: 9 });
  assert.match(panel.webview.html, /data-lab-content="lab"/);
  assert.ok(lines.some((l) => l.includes('unusable state')));
  panel.deliver({ type: 'ready', restore: { version: 1, content: 'lab', historyId: 'gone', selection: {} } });
  await tick();
  assert.deepEqual(panel.sent('analysisMissing'), [{ type: 'analysisMissing', historyId: 'gone' }]);
});

test('a hidden panel gets nothing until it is ready again, then the whole snapshot; replies wait in its queue', async () => {
  const { controller } = makeHost();
  controller.open();
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  await tick();
  panel.setVisible(false);
  controller.showPatch(syntheticPatch('resid', 1, 1, 2));
  controller.select({ position: 1 });
  assert.equal(panel.posted.length, 0);
  panel.setVisible(true);
  panel.deliver({ type: 'ready', restore: null });
  await tick();
  assert.deepEqual(
    panel.posted.map((m) => (m as { type: string }).type),
    ['patch', 'select'],
  );
});

test('select from the extension merges into the selection and ignores bad input', async () => {
  const { controller, lines } = makeHost();
  controller.open();
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  await tick();
  controller.select({ layer: 2, head: 3 });
  controller.select({ position: 4 });
  controller.select({ layer: -1 });
  assert.deepEqual(
    panel.sent('select').map((m) => m.selection),
    [
      { layer: 2, head: 3 },
      { layer: 2, head: 3, position: 4 },
    ],
  );
  assert.ok(lines.some((l) => l.startsWith('warn Lab: ignoring selection')));
});

test('closing a panel stops its listeners; dispose closes every panel', () => {
  const { controller } = makeHost();
  controller.open();
  controller.open('flow');
  const [a, b] = lab.panels as [InstanceType<(typeof vscode)['FakePanel']>, InstanceType<(typeof vscode)['FakePanel']>];
  a.dispose();
  assert.equal(a.listenerCount(), 0);
  controller.open();
  assert.equal(lab.panels.length, 3, 'a closed Lab is created anew');
  controller.dispose();
  assert.ok(b.isDisposed && lab.panels[2]!.isDisposed);
});

test("circuit: shown in every panel and in the snapshot; checkEdge asks the host with the circuit's prompts and model, then replies", async () => {
  const asked: [EdgeCheckRequest, string][] = [];
  const check: EdgeCheck = { from: 'L0H1', to: 'L1H2.k', receivers: 'L1H2:k', logitDiff: 1, cleanLogitDiff: 6, corruptLogitDiff: -1, normalized: -5 / 7 };
  const { controller } = makeHost({ checkEdge: async (request, modelId) => (asked.push([request, modelId]), check) });
  const report = syntheticCircuit();
  controller.showCircuit(report);
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  await tick();
  assert.deepEqual(panel.sent('circuit'), [{ type: 'circuit', report }]);
  panel.deliver({ type: 'checkEdge', requestId: 4, from: 'L0H1', to: 'L1H2.k' });
  await tick();
  assert.deepEqual(asked, [
    [
      {
        cleanIds: report.cleanIds,
        corruptIds: report.corruptIds,
        target: { id: report.targetId },
        contrast: { id: report.contrastId! },
        from: 'L0H1',
        to: 'L1H2.k',
      },
      'organism',
    ],
  ]);
  assert.deepEqual(panel.sent('edgeCheck'), [{ type: 'edgeCheck', check }]);
  assert.deepEqual(panel.sent('reply'), [{ type: 'reply', requestId: 4, ok: true }]);
});

test("checkEdge without a circuit, or without the host's check, replies with why", async () => {
  const { controller } = makeHost();
  controller.showAnalysis(syntheticResult(), 'h1');
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  panel.deliver({ type: 'checkEdge', requestId: 1, from: 'L0H1', to: 'logits' });
  await tick();
  assert.match((panel.sent('reply')[0] as { error: string }).error, /run Find Circuit first/);
  controller.showCircuit(syntheticCircuit());
  panel.deliver({ type: 'checkEdge', requestId: 2, from: 'L0H1', to: 'logits' });
  await tick();
  assert.match((panel.sent('reply')[1] as { error: string }).error, /not available/);
});
