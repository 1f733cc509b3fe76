/**
 * The attribution view's host side (LabAttributionRuns through LabPanelController) against the
 * in-memory `vscode` (test/mocks/vscode.ts): runAttribution and runPathPatch messages validated and
 * run with busy messages, the map to every panel, one reply each; a refused architecture's error
 * (with its hint) as the reply; one run of a kind at a time; the maps in the snapshot of a panel
 * that becomes ready later; and the view's title.
 */
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { AttributionMap, AttributionMapRequest, PathPatchMap, PathPatchMapRequest } from '../../../src/protocol/attribution.js';
import { EngineError } from '../../../src/engine/errors.js';
import { fakeVscode, source } from '../../mocks/load-with-fakes.js';
import { syntheticAttributionMap, syntheticPathPatchMap } from '../../mocks/synthetic-attribution.js';

type Panels = typeof import('../../../src/extension/panels/lab-panel.js');
type Runs = typeof import('../../../src/extension/panels/lab-attribution.js');
const vscode = fakeVscode();
const { LabPanelController } = source<Panels>('src/extension/panels/lab-panel.ts');
const { errorText } = source<Runs>('src/extension/panels/lab-attribution.ts');
const { lab } = vscode;

function makeHost(
  overrides: { attribute?: (r: AttributionMapRequest) => Promise<AttributionMap>; pathPatch?: (r: PathPatchMapRequest) => Promise<PathPatchMap> } = {},
) {
  const lines: string[] = [];
  const log = { info: (t: string) => lines.push(`info ${t}`), warn: (t: string) => lines.push(`warn ${t}`), error: (t: string) => lines.push(`error ${t}`) };
  const host = {
    getAnalysis: async () => undefined,
    runPatch: async () => {
      throw new Error('no sweeps here');
    },
    onSelection: () => undefined,
    log: log as unknown as import('vscode').LogOutputChannel,
    ...overrides,
  };
  const context = { extensionUri: vscode.Uri.file('/ext'), subscriptions: [] } as unknown as import('vscode').ExtensionContext;
  return { controller: LabPanelController.register(context, host), lines };
}

const tick = () => new Promise((r) => setImmediate(r));
const types = (posted: unknown[]) => posted.map((m) => (m as { type: string }).type);

beforeEach(() => lab.reset());

test('runAttribution: the validated request reaches the host; busy, the map to every panel, the reply, not busy', async () => {
  const requests: AttributionMapRequest[] = [];
  const map = syntheticAttributionMap();
  const { controller } = makeHost({ attribute: async (r) => (requests.push(r), map) });
  controller.open();
  controller.open('attribution');
  const [a, b] = lab.panels;
  a!.deliver({ type: 'ready', restore: null });
  b!.deliver({ type: 'ready', restore: null });
  await tick();
  assert.match(b!.webview.html, /data-lab-content="attribution"/);
  assert.equal(b!.title, 'Attribution and Path Patching');
  b!.deliver({ type: 'runAttribution', requestId: 3, request: { clean: 'a b', corrupt: 'a c', target: { text: ' b' }, method: 'eap-ig', steps: 4, junk: 1 } });
  await tick();
  assert.deepEqual(requests, [{ clean: 'a b', corrupt: 'a c', target: { text: ' b' }, method: 'eap-ig', steps: 4 }]);
  assert.deepEqual(types(b!.posted), ['attributionBusy', 'attributionMap', 'attributionBusy', 'reply']);
  assert.deepEqual(types(a!.posted), ['attributionBusy', 'attributionMap', 'attributionBusy'], 'the other panel gets the map, not the reply');
  assert.equal(b!.sent('attributionMap')[0]!.map, map, 'typed arrays travel as they are');
  assert.deepEqual(b!.sent('reply'), [{ type: 'reply', requestId: 3, ok: true }]);
  assert.deepEqual(b!.sent('attributionBusy'), [
    { type: 'attributionBusy', run: 'attribution', busy: true },
    { type: 'attributionBusy', run: 'attribution', busy: false },
  ]);
});

test('runPathPatch: receivers checked and spaces dropped; the map is in the snapshot of a panel that opens later', async () => {
  const requests: PathPatchMapRequest[] = [];
  const paths = syntheticPathPatchMap({ receivers: 'L1H0:k,L1H1:q' });
  const { controller, lines } = makeHost({ pathPatch: async (r) => (requests.push(r), paths) });
  controller.open('attribution');
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  panel.deliver({ type: 'runPathPatch', requestId: 1, request: { cleanIds: [1, 2], corruptIds: [1, 3], target: { id: 2 }, receivers: 'L1H0:k, L1H1:q' } });
  panel.deliver({ type: 'runPathPatch', requestId: 2, request: { cleanIds: [1, 2], corruptIds: [1, 3], target: { id: 2 }, receivers: 'L1H0.k' } });
  panel.deliver({ type: 'runAttribution', requestId: 3, request: { cleanIds: [1, 2], corruptIds: [1, 3], target: { id: 2 }, method: 'eap' } });
  await tick();
  assert.deepEqual(requests, [{ cleanIds: [1, 2], corruptIds: [1, 3], target: { id: 2 }, receivers: 'L1H0:k,L1H1:q' }]);
  assert.equal(lines.filter((l) => l.startsWith('warn Lab: ignoring a malformed message')).length, 2, 'a bad receiver list and an edge method are refused');
  controller.open('lab');
  const late = lab.panels[1]!;
  late.deliver({ type: 'ready', restore: null });
  await tick();
  assert.deepEqual(late.sent('pathPatchMap'), [{ type: 'pathPatchMap', map: paths }]);
});

test('a refused architecture: the reply carries the error with its hint, the log says so, the view is no longer busy', async () => {
  const refused = new EngineError(
    'UNSUPPORTED_ARCHITECTURE',
    'Gradient graphs are not built for gpt_neox models.',
    'They run on GPT-2-family and Llama-family models.',
  );
  const { controller, lines } = makeHost({
    attribute: async () => {
      throw refused;
    },
  });
  controller.open('attribution');
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  panel.deliver({ type: 'runAttribution', requestId: 9, request: { cleanIds: [1, 2], corruptIds: [1, 3], target: { id: 2 }, method: 'atp' } });
  await tick();
  assert.deepEqual(panel.sent('reply'), [{ type: 'reply', requestId: 9, ok: false, error: errorText(refused) }]);
  assert.match(errorText(refused), /gpt_neox models\. They run on GPT-2-family/);
  assert.ok(lines.some((l) => /^error Lab: attribution failed: Gradient graphs/.test(l)));
  assert.deepEqual(panel.sent('attributionBusy').at(-1), { type: 'attributionBusy', run: 'attribution', busy: false, error: errorText(refused) });
  controller.open('lab');
  const late = lab.panels[1]!;
  late.deliver({ type: 'ready', restore: null });
  await tick();
  assert.deepEqual(
    late.sent('attributionBusy'),
    [{ type: 'attributionBusy', run: 'attribution', busy: false, error: errorText(refused) }],
    'a panel opened later shows the error too',
  );
});

test('one run of a kind at a time; a host without path patching says so', async () => {
  let release!: () => void;
  const { controller } = makeHost({
    attribute: () =>
      new Promise<AttributionMap>((resolve) => {
        release = () => resolve(syntheticAttributionMap());
      }),
  });
  controller.open('attribution');
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  const request = { cleanIds: [1, 2], corruptIds: [1, 3], target: { id: 2 }, method: 'atp' };
  panel.deliver({ type: 'runAttribution', requestId: 1, request });
  await tick();
  panel.deliver({ type: 'runAttribution', requestId: 2, request });
  panel.deliver({ type: 'runPathPatch', requestId: 3, request: { ...request, method: undefined, receivers: 'logits' } });
  await tick();
  assert.deepEqual(panel.sent('reply'), [
    { type: 'reply', requestId: 2, ok: false, error: 'Attribution is already running; wait for it to finish.' },
    { type: 'reply', requestId: 3, ok: false, error: 'Path patching is not available here.' },
  ]);
  release();
  await tick();
  assert.deepEqual(panel.sent('reply').at(-1), { type: 'reply', requestId: 1, ok: true });
});

test('a command can run a map through the controller: it is shown in every panel and returned', async () => {
  const map = syntheticAttributionMap({ method: 'atp-star' });
  const { controller } = makeHost({ attribute: async () => map });
  const shown = await controller.attribution.attribute({ clean: 'a b', corrupt: 'a c', target: { text: ' b' }, method: 'atp-star' });
  assert.equal(shown, map);
  assert.equal(lab.panels.length, 1, 'the Lab opens when a map arrives and none is open');
  const panel = lab.panels[0]!;
  panel.deliver({ type: 'ready', restore: null });
  await tick();
  assert.deepEqual(panel.sent('attributionMap'), [{ type: 'attributionMap', map }]);
  assert.deepEqual(controller.attribution.maps, { attribution: map, pathPatch: null });
});
