/**
 * The size slider's glue, with the extension activated against the in-memory `vscode` and the fake
 * engine (test/mocks): after Find Circuit, a Lab panel's measureCircuitSize reaches the engine as a
 * circuitSizes request with the circuit's prompts as run, target, contrast and every edge's score (no
 * new discovery); the measured point goes to every panel and into the circuit a panel opened later
 * gets; a newer size cancels an older one still running; bad or impossible requests are answered
 * with an error or ignored.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, fakeEngine, fakeVscode, source, useFakeEngineClient } from '../mocks/load-with-fakes.js';
import type { CircuitReport } from '../../src/protocol/circuit.js';
import type { CircuitSizesRequest } from '../../src/protocol/circuit-sizes.js';

useFakeEngineClient();
type ExtensionModule = typeof import('../../src/extension/extension.js');
type SizesModule = typeof import('../../src/extension/panels/lab-circuit-sizes.js');
const vscode = fakeVscode();
const extension = source<ExtensionModule>('src/extension/extension.ts');
const { circuitSizesRequest, reportMetric } = source<SizesModule>('src/extension/panels/lab-circuit-sizes.ts');
const engineFake = fakeEngine();
const { fake, lab } = vscode;

const scratch = mkdtempSync(join(tmpdir(), 'circuit-trace-sizes-'));
let context: ReturnType<typeof vscode.fakeContext>;
const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));
const calls = () => engineFake.engineCalls.filter((c) => c.method === 'circuitSizes').map((c) => c.args as CircuitSizesRequest);

before(async () => {
  fake.reset();
  lab.reset();
  fake.configuration.set('model', 'organism');
  fake.configuration.set('cacheFolder', join(scratch, 'hf-cache'));
  context = vscode.fakeContext(ROOT, join(scratch, 'storage'));
  extension.activate(context as never);
  // Find Circuit on a selection: the clean prompt, the corrupted one, the target and the contrast asked for.
  const answers = ['The cat sat on the mat', 'The dog sat on the mat', '" mat"', '" rug"'];
  const window = vscode.window as unknown as { showInputBox: () => Promise<string | undefined> };
  const original = window.showInputBox;
  window.showInputBox = async () => answers.shift();
  try {
    await fake.commands.get('circuitTrace.findCircuit')?.();
  } finally {
    window.showInputBox = original;
  }
});

after(async () => {
  for (const d of (context.subscriptions as { dispose(): unknown }[]).splice(0)) d.dispose();
  await extension.deactivate();
  rmSync(scratch, { recursive: true, force: true });
});

test('a size asked for by a panel is measured from the circuit’s own scores, sent to every panel and kept for later ones', async () => {
  assert.equal(engineFake.engineCalls.filter((c) => c.method === 'circuit').length, 1, JSON.stringify(fake.messages.slice(-2)));
  const [panel] = lab.panels;
  assert.ok(panel, 'the Lab opened with the circuit');
  panel.deliver({ type: 'ready', restore: null });
  await tick();
  const report = panel.sent('circuit').at(-1)!.report as CircuitReport;
  panel.deliver({ type: 'measureCircuitSize', requestId: 7, edges: 3 });
  await tick();
  const [request] = calls();
  assert.ok(request);
  assert.deepEqual(request.cleanIds, report.cleanIds);
  assert.deepEqual(request.corruptIds, report.corruptIds);
  assert.deepEqual(request.target, { id: report.targetId });
  assert.deepEqual(request.contrast, { id: report.contrastId });
  assert.equal(request.metric, undefined);
  assert.ok(request.scores instanceof Float64Array);
  assert.deepEqual(
    [...request.scores],
    report.allEdges.map((e) => e.score),
  );
  assert.deepEqual(request.sizes, [3]);
  assert.equal(engineFake.engineCalls.filter((c) => c.method === 'circuit').length, 1, 'no new discovery');
  assert.deepEqual(panel.sent('circuitSize').at(-1), { type: 'circuitSize', point: { requested: 3, edges: 3, faithfulness: 0.95, circuit: [0, 1, 2] } });
  assert.deepEqual(panel.sent('reply').at(-1), { type: 'reply', requestId: 7, ok: true });
  // A panel that opens now gets the circuit with the measured size on its curve.
  await fake.commands.get('circuitTrace.openLab')?.('circuit');
  const later = lab.panels.at(-1)!;
  assert.notEqual(later, panel);
  later.deliver({ type: 'ready', restore: null });
  await tick();
  const kept = later.sent('circuit').at(-1)!.report as CircuitReport;
  assert.deepEqual(
    kept.curve!.map((p) => p.requested),
    [...report.curve!.map((p) => p.requested), 3].sort((a, b) => a - b),
  );
  assert.deepEqual(kept.curveCircuits[kept.curve!.findIndex((p) => p.requested === 3)], [0, 1, 2]);
});

test('a newer size cancels the older one still running: only the newer point is sent', async () => {
  const panel = lab.panels[0]!;
  const before = panel.sent('circuitSize').length;
  panel.deliver({ type: 'measureCircuitSize', requestId: 20, edges: 5 });
  panel.deliver({ type: 'measureCircuitSize', requestId: 21, edges: 6 });
  await tick();
  const replies = panel.sent('reply');
  const first = replies.find((r) => r.requestId === 20)!;
  assert.equal(first.ok, false);
  assert.match(String(first.error), /Superseded|cancel/i);
  assert.deepEqual(
    replies.find((r) => r.requestId === 21),
    { type: 'reply', requestId: 21, ok: true },
  );
  assert.deepEqual(
    panel
      .sent('circuitSize')
      .slice(before)
      .map((m) => (m.point as { requested: number }).requested),
    [6],
  );
});

test('a size beyond the scored edges is answered with an error; a malformed one is ignored', async () => {
  const panel = lab.panels[0]!;
  const asked = calls().length;
  panel.deliver({ type: 'measureCircuitSize', requestId: 30, edges: 9 });
  panel.deliver({ type: 'measureCircuitSize', requestId: 31, edges: 0 });
  panel.deliver({ type: 'measureCircuitSize', requestId: 32, edges: 2.5 });
  await tick();
  assert.deepEqual(
    panel.sent('reply').find((r) => r.requestId === 30),
    {
      type: 'reply',
      requestId: 30,
      ok: false,
      error: 'This circuit has 8 scored edges; 9 were asked for.',
    },
  );
  assert.equal(panel.sent('reply').filter((r) => r.requestId === 31 || r.requestId === 32).length, 0, 'malformed: not acted on');
  assert.equal(calls().length, asked);
});

test('the request carries the discovery’s named metric (greater-than) when it had one', () => {
  const report = { ...(lab.panels[0]!.sent('circuit').at(-1)!.report as CircuitReport) };
  report.metric = { ...report.metric, clean: { name: 'prob_diff_greater_than', value: 0.5, startYear: 32 } };
  assert.deepEqual(reportMetric(report), { kind: 'greater-than', startYear: 32 });
  const request = circuitSizesRequest({ ...report, contrastId: null }, [4]);
  assert.deepEqual(request.metric, { kind: 'greater-than', startYear: 32 });
  assert.equal(request.contrast, undefined);
});
