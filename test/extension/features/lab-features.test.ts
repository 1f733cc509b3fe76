/**
 * The Lab host's feature runs through the real LabPanelController and its message validator, against
 * the in-memory `vscode`: features reach every panel and late panels' snapshots; a steering message
 * runs on the shown prompt's ids and dictionary (never a dictionary the page names); bad steering
 * requests are refused with a reply, malformed ones never reach the host; busy states are broadcast.
 */
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { SteerFeaturesRequest, SteerFeaturesResult } from '../../../src/protocol/features.js';
import { fakeVscode, source } from '../../mocks/load-with-fakes.js';
import { syntheticFeatures, syntheticSteer } from '../../mocks/synthetic-features.js';
import { syntheticGraph } from '../../mocks/synthetic-graph.js';
import type { AttributionGraphResult } from '../../../src/protocol/attribution-graph-run.js';
import type { GraphPins, GraphSource } from '../../../src/extension/features/lab-features.js';

type Panels = typeof import('../../../src/extension/panels/lab-panel.js');
const vscode = fakeVscode();
const { LabPanelController } = source<Panels>('src/extension/panels/lab-panel.ts');
const { lab } = vscode;
const tick = () => new Promise((r) => setImmediate(r));

function makeLab(steer?: (r: SteerFeaturesRequest) => Promise<SteerFeaturesResult>) {
  const lines: string[] = [];
  const requests: SteerFeaturesRequest[] = [];
  const log = { info: (t: string) => lines.push(`info ${t}`), warn: (t: string) => lines.push(`warn ${t}`), error: (t: string) => lines.push(`error ${t}`) };
  const host = {
    getAnalysis: async () => undefined,
    runPatch: async () => {
      throw new Error('unused');
    },
    onSelection: () => {},
    log: log as unknown as import('vscode').LogOutputChannel,
    steerFeatures:
      steer ??
      (async (r: SteerFeaturesRequest) => {
        requests.push(r);
        return syntheticSteer(r.edits, r.position ?? 2);
      }),
  };
  const context = { extensionUri: vscode.Uri.file('/ext'), subscriptions: [] } as unknown as import('vscode').ExtensionContext;
  return { controller: LabPanelController.register(context, host), requests, lines };
}

async function readyPanel(controller: ReturnType<Panels['LabPanelController']['register']>, view = 'features') {
  controller.open(view);
  const panel = lab.panels.at(-1)!;
  panel.deliver({ type: 'ready', restore: null });
  await tick();
  return panel;
}

beforeEach(() => lab.reset());

const spec = { kind: 'hub' as const, repo: 'owner/transcoders', subfolder: 'gpt2' };

test("features open the Lab when no panel shows, reach every panel, and come back in a late panel's snapshot", async () => {
  const { controller } = makeLab();
  const result = syntheticFeatures();
  controller.features.showFeatures(result, spec, 'owner/transcoders/gpt2');
  assert.equal(lab.panels.length, 1, 'the Lab opened');
  assert.match(lab.panels[0]!.webview.html, /data-lab-content="lab"/);
  const panel = await readyPanel(controller);
  const sent = panel.sent('features');
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.result, result);
  assert.equal(sent[0]!.dictionaryName, 'owner/transcoders/gpt2');
  assert.equal(panel.title, 'Features');
});

test('steering runs on the shown ids and dictionary, broadcasts the result and the busy state, then replies ok', async () => {
  const { controller, requests } = makeLab();
  const result = syntheticFeatures();
  controller.features.showFeatures(result, spec, 'owner/transcoders/gpt2');
  const panel = await readyPanel(controller);
  const edits = [{ layer: 0, feature: 2, kind: 'set', value: 0, positions: [1, 2] }];
  panel.deliver({ type: 'steerFeatures', requestId: 7, edits, position: 2, dictionary: { kind: 'folder', path: '/etc' } });
  await tick();
  await tick();
  assert.equal(requests.length, 1);
  assert.deepEqual(requests[0], { dictionary: spec, ids: result.tokens.map((t) => t.id), edits, position: 2 });
  assert.deepEqual(
    panel.sent('featureBusy').map((m) => [m.run, m.busy]),
    [
      ['steer', true],
      ['steer', false],
    ],
  );
  assert.equal(panel.sent('steered').length, 1);
  assert.deepEqual(panel.sent('steered')[0]!.edits, edits);
  assert.deepEqual(panel.sent('reply').at(-1), { type: 'reply', requestId: 7, ok: true });
  // The Lab opened by showFeatures says ready only now: its snapshot holds the features and the steering run.
  const late = lab.panels[0]!;
  assert.notEqual(late, panel);
  late.deliver({ type: 'ready', restore: null });
  await tick();
  assert.equal(late.sent('features').length, 1);
  assert.equal(late.sent('steered').length, 1);
});

test('steering is refused with a reply before any features, and for layers or positions the shown features lack', async () => {
  const { controller, requests } = makeLab();
  const panel = await readyPanel(controller);
  const edit = { layer: 0, feature: 2, kind: 'scale', factor: 2 };
  panel.deliver({ type: 'steerFeatures', requestId: 1, edits: [edit] });
  await tick();
  assert.match(String(panel.sent('reply').at(-1)!.error), /Show Features first/);
  controller.features.showFeatures(syntheticFeatures(), spec, 'tc');
  panel.deliver({ type: 'steerFeatures', requestId: 2, edits: [{ ...edit, layer: 9 }] });
  await tick();
  assert.match(String(panel.sent('reply').at(-1)!.error), /no layer 9/);
  panel.deliver({ type: 'steerFeatures', requestId: 3, edits: [{ ...edit, positions: [3] }] });
  await tick();
  assert.match(String(panel.sent('reply').at(-1)!.error), /Position 3 is past the prompt's 3 tokens/);
  panel.deliver({ type: 'steerFeatures', requestId: 4, edits: [edit], position: 5 });
  await tick();
  assert.match(String(panel.sent('reply').at(-1)!.error), /Position 5/);
  assert.equal(requests.length, 0);
});

test('malformed steering messages never reach the engine (validated), and an engine error is the reply', async () => {
  const { controller, lines } = makeLab(async () => {
    throw Object.assign(new Error('Feature 99 is outside layer 0.'), { hint: 'Pick a feature below 8.' });
  });
  controller.features.showFeatures(syntheticFeatures(), spec, 'tc');
  const panel = await readyPanel(controller);
  for (const bad of [
    { type: 'steerFeatures', requestId: 1, edits: [] },
    { type: 'steerFeatures', requestId: 1, edits: [{ layer: 0, feature: 1, kind: 'set', value: Number.NaN }] },
    { type: 'steerFeatures', requestId: 1, edits: [{ layer: 0, feature: 1, kind: 'scale', value: 2 }] },
    { type: 'steerFeatures', requestId: 1, edits: [{ layer: -1, feature: 1, kind: 'add', value: 2 }] },
    { type: 'steerFeatures', requestId: 1, edits: [{ layer: 0, feature: 1, kind: 'erase', value: 2 }] },
  ])
    panel.deliver(bad);
  await tick();
  assert.equal(panel.sent('reply').length, 0, 'no reply to what failed validation');
  assert.equal(lines.filter((l) => l.startsWith('warn Lab: ignoring a malformed message')).length, 5);
  panel.deliver({ type: 'steerFeatures', requestId: 9, edits: [{ layer: 0, feature: 99, kind: 'add', value: 1 }] });
  await tick();
  await tick();
  assert.deepEqual(panel.sent('reply').at(-1), { type: 'reply', requestId: 9, ok: false, error: 'Feature 99 is outside layer 0. Pick a feature below 8.' });
  assert.ok(lines.some((l) => l.startsWith('error Lab: steering failed')));
});

test("a new Show Features while a steering run goes: the stale run is not broadcast as the new prompt's", async () => {
  let release: (r: SteerFeaturesResult) => void = () => {};
  const { controller } = makeLab((r) => new Promise((resolve) => (release = () => resolve(syntheticSteer(r.edits, 2)))));
  controller.features.showFeatures(syntheticFeatures(), spec, 'tc');
  const panel = await readyPanel(controller);
  panel.deliver({ type: 'steerFeatures', requestId: 1, edits: [{ layer: 0, feature: 2, kind: 'set', value: 0 }] });
  await tick();
  controller.features.showFeatures(syntheticFeatures(), spec, 'tc');
  release(syntheticSteer([], 2));
  await tick();
  await tick();
  assert.equal(panel.sent('steered').length, 0);
  assert.deepEqual(panel.sent('reply').at(-1), { type: 'reply', requestId: 1, ok: true });
});

function graphLab(host: {
  rebuildGraph?: (s: GraphSource, t: { nodeThreshold: number; edgeThreshold: number }) => Promise<AttributionGraphResult>;
  saveGraphJson?: (s: GraphSource, g: AttributionGraphResult, pins: GraphPins) => Promise<boolean>;
}) {
  const lines: string[] = [];
  const log = { info: (t: string) => lines.push(`info ${t}`), warn: (t: string) => lines.push(`warn ${t}`), error: (t: string) => lines.push(`error ${t}`) };
  const context = { extensionUri: vscode.Uri.file('/ext'), subscriptions: [] } as unknown as import('vscode').ExtensionContext;
  const controller = LabPanelController.register(context, {
    getAnalysis: async () => undefined,
    runPatch: async () => {
      throw new Error('unused');
    },
    onSelection: () => {},
    log: log as unknown as import('vscode').LogOutputChannel,
    ...host,
  });
  return { controller, lines };
}

const graphSource: GraphSource = { ids: [50256, 1000, 1001], prompt: ' cat sat', dictionary: spec, dictionaryName: 'owner/transcoders/gpt2' };

test('a graph reaches the panels (with whether it can be rebuilt); a rebuild runs the shown source at the asked thresholds', async () => {
  const asked: unknown[] = [];
  const { controller } = graphLab({
    rebuildGraph: async (s, t) => {
      asked.push([s, t]);
      return { ...syntheticGraph(), nodeThreshold: t.nodeThreshold, edgeThreshold: t.edgeThreshold };
    },
  });
  controller.features.showGraph(syntheticGraph(), graphSource);
  const panel = await readyPanel(controller, 'attributionGraph');
  assert.equal(panel.title, 'Attribution Graph');
  const first = panel.sent('attributionGraph')[0]!;
  assert.equal(first.canRebuild, true);
  assert.equal(first.canExportJson, false, 'this host cannot save JSON');
  assert.equal(first.dictionaryName, 'owner/transcoders/gpt2');
  panel.deliver({ type: 'rebuildGraph', requestId: 4, nodeThreshold: 0.6, edgeThreshold: 0.9 });
  await tick();
  await tick();
  assert.deepEqual(asked, [[graphSource, { nodeThreshold: 0.6, edgeThreshold: 0.9 }]]);
  const graphs = panel.sent('attributionGraph');
  assert.equal((graphs.at(-1)!.graph as AttributionGraphResult).nodeThreshold, 0.6);
  assert.deepEqual(
    panel.sent('featureBusy').map((m) => [m.run, m.busy]),
    [
      ['graph', true],
      ['graph', false],
    ],
  );
  assert.deepEqual(panel.sent('reply').at(-1), { type: 'reply', requestId: 4, ok: true });
});

test('rebuilds and exports are refused without a graph or a host method; thresholds outside (0, 1] never arrive', async () => {
  const { controller, lines } = graphLab({});
  const panel = await readyPanel(controller, 'attributionGraph');
  panel.deliver({ type: 'rebuildGraph', requestId: 1, nodeThreshold: 0.8, edgeThreshold: 0.98 });
  await tick();
  assert.match(String(panel.sent('reply').at(-1)!.error), /no attribution graph/);
  controller.features.showGraph(syntheticGraph(), graphSource);
  assert.equal(panel.sent('attributionGraph').at(-1)!.canRebuild, false);
  panel.deliver({ type: 'rebuildGraph', requestId: 2, nodeThreshold: 0.8, edgeThreshold: 0.98 });
  panel.deliver({ type: 'exportGraph', requestId: 3, pinnedIds: [], supernodes: [] });
  await tick();
  assert.match(String(panel.sent('reply').find((r) => r.requestId === 2)!.error), /not available/);
  assert.match(String(panel.sent('reply').find((r) => r.requestId === 3)!.error), /not available/);
  for (const bad of [
    { type: 'rebuildGraph', requestId: 5, nodeThreshold: 0, edgeThreshold: 0.9 },
    { type: 'rebuildGraph', requestId: 5, nodeThreshold: 0.8, edgeThreshold: 1.5 },
    { type: 'rebuildGraph', requestId: 5, nodeThreshold: '0.8', edgeThreshold: 0.9 },
    { type: 'exportGraph', requestId: 5, pinnedIds: ['../etc'], supernodes: [] },
    { type: 'exportGraph', requestId: 5, pinnedIds: [], supernodes: [['name only']] },
    { type: 'exportGraph', requestId: 5, pinnedIds: [], supernodes: [['', '0_2_1']] },
    { type: 'exportGraph', requestId: 5, pinnedIds: [], supernodes: [['x', 'L3']] },
  ])
    panel.deliver(bad);
  await tick();
  assert.equal(panel.sent('reply').filter((r) => r.requestId === 5).length, 0);
  assert.equal(lines.filter((l) => l.startsWith('warn Lab: ignoring a malformed message')).length, 7);
});

test("the JSON export gets the shown graph and its source, with pins and supernodes limited to the graph's nodes", async () => {
  const saved: unknown[] = [];
  const { controller } = graphLab({
    saveGraphJson: async (s, g, pins) => {
      saved.push([s, g.nodes.length, pins]);
      return true;
    },
  });
  controller.features.showGraph(syntheticGraph(), graphSource);
  const panel = await readyPanel(controller, 'attributionGraph');
  panel.deliver({
    type: 'exportGraph',
    requestId: 8,
    pinnedIds: ['0_2_1', '9_9_9', '1_4_2'],
    supernodes: [
      ['subject', '0_2_1', '9_9_9'],
      ['gone', '8_8_8'],
    ],
  });
  await tick();
  await tick();
  assert.deepEqual(saved, [[graphSource, 10, { pinnedIds: ['0_2_1', '1_4_2'], supernodes: [['subject', '0_2_1']] }]]);
  assert.deepEqual(panel.sent('reply').at(-1), { type: 'reply', requestId: 8, ok: true });
});
