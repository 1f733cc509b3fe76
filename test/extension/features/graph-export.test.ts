/**
 * The attribution graph's JSON export: circuit-tracer's graph JSON from the engine's exporter with
 * the Lab's pins and supernodes as qParams, named after the prompt; and the activated extension
 * writing it where the save dialog points when the Attribution Graph view asks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, fakeVscode, source, useFakeEngineClient } from '../../mocks/load-with-fakes.js';
import { syntheticGraph } from '../../mocks/synthetic-graph.js';
import { graphJsonDocument, graphSlug } from '../../../src/extension/features/graph-export.js';

useFakeEngineClient();
const vscode = fakeVscode();
const extension = source<typeof import('../../../src/extension/extension.js')>('src/extension/extension.ts');
const { fake, lab } = vscode;
const scratch = mkdtempSync(join(tmpdir(), 'circuit-trace-graph-export-'));
let context: ReturnType<typeof vscode.fakeContext>;
const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms));
const graphSource = { ids: [50256, 1000, 1001], prompt: 'The cat sat', dictionary: { kind: 'hub' as const, repo: 'owner/tc' }, dictionaryName: 'owner/tc' };

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

test('the document: circuit-tracer nodes and links of the graph, the prompt, and the pins and supernodes as qParams', () => {
  const graph = syntheticGraph();
  const json = graphJsonDocument(graph, graphSource, { pinnedIds: ['0_2_1', '1_4_2'], supernodes: [['subject', '0_2_1', '0_5_2']] });
  assert.equal(json.metadata.slug, 'the-cat-sat');
  assert.equal(json.metadata.prompt, 'The cat sat');
  assert.equal(json.metadata.scan, 'owner/tc');
  assert.deepEqual(json.qParams.pinnedIds, ['0_2_1', '1_4_2']);
  assert.deepEqual(json.qParams.supernodes, [['subject', '0_2_1', '0_5_2']]);
  assert.deepEqual(
    json.nodes.map((n) => n.node_id),
    graph.nodes.map((n) => n.id),
  );
  assert.deepEqual(json.links, graph.links);
  const feature = json.nodes.find((n) => n.node_id === '0_2_1')!;
  assert.equal(feature.feature_type, 'cross layer transcoder');
  assert.equal(feature.clerp, 'animals');
  assert.equal(graphSlug('  ¿Qué?  '), 'qu');
  assert.equal(graphSlug('!!!'), 'graph');
  assert.ok(graphSlug('x'.repeat(100)).length <= 48);
});

test('the activated extension writes the JSON where the save dialog points, with the pins the view sent', async () => {
  await vscode.commands.executeCommand('circuitTrace.loadDictionary', { kind: 'hub', repo: 'owner/tc' });
  const doc = new vscode.FakeDocument(vscode.Uri.file(join(scratch, 'notes.md')), 'markdown', 'The cat sat');
  fake.activeTextEditor = { document: doc, selection: new vscode.Selection(new vscode.Position(0, 0), new vscode.Position(0, 11)) };
  await vscode.commands.executeCommand('circuitTrace.attributionGraph');
  const panel = lab.panels.find((p) => p.title === 'Attribution Graph')!;
  panel.deliver({ type: 'ready', restore: null });
  await settle();
  assert.equal((panel.sent('attributionGraph')[0] as { canExportJson: boolean }).canExportJson, true);
  lab.saveAnswer = vscode.Uri.file(join(scratch, 'graph.json'));
  panel.deliver({ type: 'exportGraph', requestId: 9, pinnedIds: ['1_4_2'], supernodes: [['pair', '0_5_2', '0_3_2']] });
  await settle();
  assert.deepEqual(panel.sent('reply').at(-1), { type: 'reply', requestId: 9, ok: true });
  const written = JSON.parse(new TextDecoder().decode(lab.written.get(join(scratch, 'graph.json'))!)) as { metadata: { prompt: string }; qParams: unknown };
  assert.equal(written.metadata.prompt, 'The cat sat');
  assert.deepEqual(written.qParams, { pinnedIds: ['1_4_2'], supernodes: [['pair', '0_5_2', '0_3_2']], linkType: 'both', clickedId: '', sg_pos: '' });
});
