/**
 * The feature commands in the activated extension (in-memory `vscode`, the fake engine client of
 * test/mocks): Load Dictionary with a spec, Show Features on a selection, the Features view's
 * panel receiving the features, and a steering request from that panel reaching the engine with
 * the shown prompt's ids and the loaded dictionary.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, fakeEngine, fakeVscode, source, useFakeEngineClient } from '../../mocks/load-with-fakes.js';

useFakeEngineClient();
const vscode = fakeVscode();
const extension = source<typeof import('../../../src/extension/extension.js')>('src/extension/extension.ts');
const { engineCalls } = fakeEngine();
const { fake, lab } = vscode;
const scratch = mkdtempSync(join(tmpdir(), 'circuit-trace-features-'));
let context: ReturnType<typeof vscode.fakeContext>;
const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms));

before(() => {
  fake.reset();
  lab.reset();
  fake.configuration.set('model', 'organism');
  fake.configuration.set('cacheFolder', join(scratch, 'hf-cache'));
  context = vscode.fakeContext(ROOT, join(scratch, 'storage'));
  extension.activate(context as never);
});

after(async () => {
  for (const d of (context.subscriptions as { dispose(): unknown }[]).splice(0)) d.dispose();
  await extension.deactivate();
  rmSync(scratch, { recursive: true, force: true });
});

test('Load Dictionary, Show Features and a steering run from the Features view, end to end through the extension', async () => {
  const spec = { kind: 'hub', repo: 'owner/gpt2-transcoders' };
  await vscode.commands.executeCommand('circuitTrace.loadDictionary', spec);
  const load = engineCalls.filter((c) => c.method === 'features');
  assert.equal(load.length, 1);
  assert.deepEqual((load[0]!.args as { dictionary: unknown }).dictionary, spec);
  assert.ok(engineCalls.findIndex((c) => c.method === 'loadModel') < engineCalls.findIndex((c) => c.method === 'features'), 'the model loads first');

  const doc = new vscode.FakeDocument(vscode.Uri.file(join(scratch, 'notes.md')), 'markdown', 'The cat sat');
  fake.activeTextEditor = { document: doc, selection: new vscode.Selection(new vscode.Position(0, 0), new vscode.Position(0, 11)) };
  await vscode.commands.executeCommand('circuitTrace.showFeatures');
  const run = engineCalls.filter((c) => c.method === 'features')[1]!.args as { prompt: string; dictionary: unknown };
  assert.equal(run.prompt, 'The cat sat');
  assert.deepEqual(run.dictionary, spec);

  const panel = lab.panels.find((p) => p.title === 'Features');
  assert.ok(panel, 'the Features view opened');
  panel.deliver({ type: 'ready', restore: null });
  await settle();
  const shown = panel.sent('features')[0] as { result: { tokens: { id: number }[] }; dictionaryName: string };
  assert.equal(shown.dictionaryName, 'owner/gpt2-transcoders');
  assert.equal(shown.result.tokens.length, 4, 'BOS and three words');

  panel.deliver({ type: 'steerFeatures', requestId: 3, edits: [{ layer: 1, feature: 4, kind: 'add', value: 5, positions: [3] }] });
  await settle();
  const steer = engineCalls.find((c) => c.method === 'steerFeatures');
  assert.ok(steer);
  assert.deepEqual(steer.args, {
    dictionary: spec,
    ids: shown.result.tokens.map((t) => t.id),
    edits: [{ layer: 1, feature: 4, kind: 'add', value: 5, positions: [3] }],
  });
  assert.equal(panel.sent('steered').length, 1);
  assert.deepEqual(panel.sent('reply').at(-1), { type: 'reply', requestId: 3, ok: true });
});

test("Attribution Graph in the activated extension: the graph view gets the graph, and its rebuild reaches the engine with the graph's ids", async () => {
  await vscode.commands.executeCommand('circuitTrace.attributionGraph');
  const graphCall = engineCalls.find((c) => c.method === 'attributionGraph');
  assert.ok(graphCall);
  assert.equal((graphCall.args as { prompt: string }).prompt, 'The cat sat');
  const panel = lab.panels.find((p) => p.title === 'Attribution Graph');
  assert.ok(panel, 'the Attribution Graph view opened');
  panel.deliver({ type: 'ready', restore: null });
  await settle();
  const shown = panel.sent('attributionGraph')[0] as { graph: { ids: number[] }; canRebuild: boolean; canExportJson: boolean };
  assert.equal(shown.canRebuild, true);
  panel.deliver({ type: 'rebuildGraph', requestId: 5, nodeThreshold: 0.7, edgeThreshold: 0.95 });
  await settle();
  const rebuild = engineCalls.filter((c) => c.method === 'attributionGraph')[1]!.args as Record<string, unknown>;
  assert.deepEqual(rebuild.ids, shown.graph.ids);
  assert.equal(rebuild.nodeThreshold, 0.7);
  assert.equal(rebuild.edgeThreshold, 0.95);
  assert.deepEqual(panel.sent('reply').at(-1), { type: 'reply', requestId: 5, ok: true });
});
