/**
 * Load Dictionary… and Show Features against the in-memory `vscode` and a fake feature engine (the
 * engine is never loaded): the Hub and folder choices become the engine's DictionarySpec, the load is
 * checked by the engine before the dictionary is kept in the workspace state, Show Features runs the
 * selection (or the `.prompt` prompt at the cursor) under the kept dictionary with the BOS setting,
 * and shows it in the Lab; without a dictionary it says how to load one. Also the dictionary choices.
 */
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FeaturesRequest, SteerFeaturesRequest } from '../../../src/protocol/features.js';
import type { AttributionGraphProgress, AttributionGraphRequest } from '../../../src/protocol/attribution-graph-run.js';
import { syntheticGraph } from '../../mocks/synthetic-graph.js';
import { fakeVscode, source } from '../../mocks/load-with-fakes.js';
import { syntheticFeatures, syntheticSteer } from '../../mocks/synthetic-features.js';
import { DEFAULT_SETTINGS, type Settings } from '../../../src/extension/settings.js';
import { dictionaryName, hubDictionary, parseSubfolder, storedDictionary } from '../../../src/extension/features/dictionary-choice.js';

const vscode = fakeVscode();
const { FEATURE_COMMANDS } = source<typeof import('../../../src/extension/features/feature-commands.js')>('src/extension/features/feature-commands.ts');
const { FeatureSession, DICTIONARY_STATE_KEY } = source<typeof import('../../../src/extension/features/feature-session.js')>(
  'src/extension/features/feature-session.ts',
);
const { PromptDocuments } = source<typeof import('../../../src/extension/prompt-file/prompt-documents.js')>('src/extension/prompt-file/prompt-documents.ts');

const tick = () => new Promise((r) => setImmediate(r));

function memento() {
  const map = new Map<string, unknown>();
  return { get: (k: string) => map.get(k), update: async (k: string, v: unknown) => void map.set(k, v), keys: () => [...map.keys()], map };
}

function setup(settings: Partial<Settings> = {}, fail?: Error) {
  const calls: { method: string; request: FeaturesRequest | SteerFeaturesRequest | AttributionGraphRequest }[] = [];
  const engine = {
    async features(request: FeaturesRequest) {
      calls.push({ method: 'features', request });
      if (fail) throw fail;
      return syntheticFeatures();
    },
    async steerFeatures(request: SteerFeaturesRequest) {
      calls.push({ method: 'steerFeatures', request });
      return syntheticSteer(request.edits, 2);
    },
    async attributionGraph(request: AttributionGraphRequest, hooks?: { onProgress?: (p: AttributionGraphProgress) => void }) {
      calls.push({ method: 'attributionGraph', request });
      hooks?.onProgress?.({ phase: 'backward', done: 3, total: 12 });
      if (fail) throw fail;
      return { ...syntheticGraph(), ...(request.nodeThreshold !== undefined ? { nodeThreshold: request.nodeThreshold } : {}) };
    },
  };
  let loads = 0;
  const models = {
    ensureLoaded: async () => {
      loads++;
      return { id: 'gpt2' } as never;
    },
    active: () => ({ displayName: 'GPT-2' }) as never,
    onWillSwitch: () => {},
  };
  const shown: { name: string; dictionary: unknown }[] = [];
  const graphs: { graph: unknown; source: unknown }[] = [];
  const busy: [string, boolean][] = [];
  const opened: (string | undefined)[] = [];
  const state = memento();
  const log = { info: () => {}, warn: () => {} };
  const features = new FeatureSession(engine, models, state as never, () => ({ ...DEFAULT_SETTINGS, ...settings }), log, {
    showFeatures: (_r, dictionary, name) => shown.push({ name, dictionary }),
    showGraph: (graph, source) => graphs.push({ graph, source }),
    setBusy: (run, on) => busy.push([run, on]),
  });
  const ctx = {
    features,
    models: { ...models, organismDir: '/storage/organism' },
    documents: new PromptDocuments(),
    session: { current: undefined },
    lab: { open: (view?: string) => opened.push(view) },
  };
  const command = (id: string) => FEATURE_COMMANDS.find((c) => c.id === id)!.factory(ctx as never) as (...args: unknown[]) => Promise<void>;
  return { calls, state, shown, graphs, busy, opened, command, features, engine, loads: () => loads };
}

beforeEach(() => {
  vscode.fake.reset();
  vscode.window.showQuickPick = async () => undefined;
  vscode.window.showInputBox = async () => undefined;
  vscode.window.showOpenDialog = async () => undefined;
});

test('Load Dictionary from the Hub: repository and subfolder asked for, checked by the engine, then kept for the workspace', async () => {
  const { calls, state, command } = setup({ prependBos: 'on' });
  const answers = ['owner/gpt2-transcoders@v2', 'layer_8/'];
  const validations: (string | undefined)[] = [];
  vscode.window.showQuickPick = (async (items: { action: string }[]) => items.find((i) => i.action === 'hub')) as never;
  vscode.window.showInputBox = (async (options: { validateInput(v: string): string | undefined }) => {
    validations.push(options.validateInput('not a repo!'), options.validateInput('../up'));
    return answers.shift();
  }) as never;
  await command('circuitTrace.loadDictionary')();
  const expected = { kind: 'hub', repo: 'owner/gpt2-transcoders', revision: 'v2', subfolder: 'layer_8' };
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]!.request, { dictionary: expected, prompt: 'The', topK: 1, logitTokens: 0, prependBos: true });
  assert.deepEqual(state.map.get(DICTIONARY_STATE_KEY), expected);
  assert.match(String(validations[0]), /not a Hugging Face repository id/);
  assert.match(String(validations[3]), /not a folder inside the repository/);
  const note = vscode.fake.messages.find((m) => m.kind === 'info');
  assert.match(
    note!.text,
    /loaded owner\/gpt2-transcoders@v2\/layer_8: transcoder, 2 layers \(blocks\.0\.ln2\.hook_normalized, blocks\.1\.ln2\.hook_normalized\), 8 features/,
  );
  assert.deepEqual(note!.items, ['Show Features']);
});

test("Load Dictionary offers the organism's built-in transcoders, generated beside the organism", async () => {
  const { calls, state, command } = setup();
  vscode.window.showQuickPick = (async (items: { action: string }[]) => items.find((i) => i.action === 'organism')) as never;
  await command('circuitTrace.loadDictionary')();
  const expected = { kind: 'organism', dir: join('/storage/organism', '..', 'organism-transcoder') };
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]!.request.dictionary, expected);
  assert.deepEqual(state.map.get(DICTIONARY_STATE_KEY), expected);
});

test('Load Dictionary from a folder; a failed check keeps the previous dictionary', async () => {
  const { state, command, features } = setup();
  vscode.window.showQuickPick = (async (items: { action: string }[]) => items.find((i) => i.action === 'folder')) as never;
  vscode.window.showOpenDialog = (async () => [vscode.Uri.file('/data/saes/resid')]) as never;
  await command('circuitTrace.loadDictionary')();
  assert.deepEqual(state.map.get(DICTIONARY_STATE_KEY), { kind: 'folder', path: '/data/saes/resid' });
  assert.equal(features.loaded?.name, 'resid');

  const failing = setup({}, new Error('The dictionary reads blocks.20.hook_resid_pre; the model has 12 layers.'));
  await failing.state.update(DICTIONARY_STATE_KEY, { kind: 'folder', path: '/old' });
  await assert.rejects(failing.command('circuitTrace.loadDictionary')({ kind: 'folder', path: '/new' }), /12 layers/);
  assert.deepEqual(failing.state.map.get(DICTIONARY_STATE_KEY), { kind: 'folder', path: '/old' });
});

test('backing out of any question loads nothing', async () => {
  const { calls, command } = setup();
  await command('circuitTrace.loadDictionary')();
  vscode.window.showQuickPick = (async (items: { action: string }[]) => items[0]) as never;
  vscode.window.showInputBox = (async () => 'owner/repo') as never;
  let asked = 0;
  vscode.window.showInputBox = (async () => (asked++ === 0 ? 'owner/repo' : undefined)) as never;
  await command('circuitTrace.loadDictionary')();
  assert.equal(calls.length, 0);
});

test('Show Features without a dictionary says how to load one, and runs nothing', async () => {
  const { calls, command } = setup();
  await assert.rejects(command('circuitTrace.showFeatures')(), (e: Error & { hint?: string }) => {
    assert.match(e.message, /No dictionary is loaded/);
    assert.match(String(e.hint), /Load Dictionary/);
    return true;
  });
  assert.equal(calls.length, 0);
});

test('Show Features runs the selection under the kept dictionary and opens the Features view', async () => {
  const { calls, state, shown, opened, command } = setup({ prependBos: 'off' });
  const spec = { kind: 'hub', repo: 'owner/saes', subfolder: 'blocks.8.hook_resid_pre' };
  await state.update(DICTIONARY_STATE_KEY, spec);
  const doc = new vscode.FakeDocument(vscode.Uri.file('/w/notes.md'), 'markdown', 'x When Mary and John went  \ny');
  vscode.fake.activeTextEditor = { document: doc, selection: new vscode.Selection(new vscode.Position(0, 2), new vscode.Position(0, 25)) } as never;
  await command('circuitTrace.showFeatures')();
  assert.deepEqual(calls[0]!.request, { dictionary: spec, prompt: 'When Mary and John went', topK: 10, prependBos: false });
  assert.deepEqual(shown, [{ name: 'owner/saes/blocks.8.hook_resid_pre', dictionary: spec }]);
  assert.deepEqual(opened, ['features']);
});

test("Show Features in a .prompt file runs the prompt at the cursor, with the model's BOS convention", async () => {
  const { calls, state, command } = setup();
  await state.update(DICTIONARY_STATE_KEY, { kind: 'folder', path: '/d' });
  const text = '## Induction\nThe cat sat on the mat. The cat sat on the\n';
  const doc = new vscode.FakeDocument(vscode.Uri.file('/w/a.prompt'), 'prompt', text);
  vscode.fake.activeTextEditor = { document: doc, selection: new vscode.Selection(new vscode.Position(1, 3), new vscode.Position(1, 3)) } as never;
  await command('circuitTrace.showFeatures')();
  assert.equal((calls[0]!.request as FeaturesRequest).prompt, 'The cat sat on the mat. The cat sat on the');
  assert.equal('prependBos' in calls[0]!.request, false, "the model's own BOS convention");
});

test('dictionary choices: names, subfolders and stored specs', () => {
  assert.deepEqual(hubDictionary(' jbloom/GPT2-Small-SAEs ', ' blocks.8.hook_resid_pre '), {
    kind: 'hub',
    repo: 'jbloom/GPT2-Small-SAEs',
    subfolder: 'blocks.8.hook_resid_pre',
  });
  assert.deepEqual(hubDictionary('a/b', ''), { kind: 'hub', repo: 'a/b' });
  assert.throws(() => hubDictionary('a/b', 'x/../../etc'), /not a folder inside/);
  assert.throws(() => hubDictionary('a/b', 'C:/x'), /forward slashes/);
  assert.throws(() => hubDictionary('/abs/path', ''), /not a Hugging Face repository id/);
  assert.equal(parseSubfolder('/a/b/'), 'a/b');
  assert.equal(dictionaryName({ kind: 'hub', repo: 'a/b', revision: 'main', subfolder: 's' }), 'a/b/s');
  assert.equal(dictionaryName({ kind: 'folder', path: '/x/y/tc' }), 'tc');
  assert.deepEqual(storedDictionary({ kind: 'hub', repo: 'a/b', revision: 'r1', subfolder: 's' }), {
    kind: 'hub',
    repo: 'a/b',
    revision: 'r1',
    subfolder: 's',
  });
  assert.equal(storedDictionary({ kind: 'hub', repo: '../x' }), null);
  assert.equal(storedDictionary({ kind: 'folder', path: '' }), null);
  assert.equal(storedDictionary('a/b'), null);
});

test('steering goes to the engine once the model is loaded', async () => {
  const { calls, features, loads } = setup();
  const result = await features.steer({ dictionary: { kind: 'folder', path: '/d' }, ids: [1, 2], edits: [{ layer: 0, feature: 1, kind: 'set', value: 0 }] });
  await tick();
  assert.equal(calls[0]!.method, 'steerFeatures');
  assert.equal(result.applied.length, 1);
  assert.equal(loads(), 1);
});

test("Attribution Graph runs the selection under the transcoders, shows the graph and the same ids' features, and marks the view busy meanwhile", async () => {
  const { calls, state, shown, graphs, busy, opened, command } = setup({ prependBos: 'on' });
  const spec = { kind: 'hub', repo: 'owner/gpt2-transcoders' };
  await state.update(DICTIONARY_STATE_KEY, spec);
  const doc = new vscode.FakeDocument(vscode.Uri.file('/w/notes.md'), 'markdown', 'The cat sat');
  vscode.fake.activeTextEditor = { document: doc, selection: new vscode.Selection(new vscode.Position(0, 0), new vscode.Position(0, 11)) } as never;
  await command('circuitTrace.attributionGraph')();
  assert.deepEqual(calls[0], { method: 'attributionGraph', request: { dictionary: spec, prompt: 'The cat sat', prependBos: true } });
  assert.deepEqual(calls[1], { method: 'features', request: { dictionary: spec, ids: syntheticGraph().ids } });
  assert.equal(graphs.length, 1);
  assert.deepEqual(graphs[0]!.source, { ids: syntheticGraph().ids, prompt: 'The cat sat', dictionary: spec, dictionaryName: 'owner/gpt2-transcoders' });
  assert.equal(shown.length, 1, 'the features of the same ids, for the hover details');
  assert.deepEqual(busy, [
    ['graph', true],
    ['graph', false],
  ]);
  assert.deepEqual(opened, ['attributionGraph']);
});

test("a rebuild runs the source's ids at the new thresholds; a failed graph clears the busy state and shows nothing", async () => {
  const { calls, features } = setup();
  const source = { ids: [1, 2, 3], prompt: 'x', dictionary: { kind: 'folder' as const, path: '/tc' }, dictionaryName: 'tc' };
  const graph = await features.rebuildGraph(source, { nodeThreshold: 0.6, edgeThreshold: 0.9 });
  assert.deepEqual(calls[0]!.request, { dictionary: source.dictionary, ids: [1, 2, 3], nodeThreshold: 0.6, edgeThreshold: 0.9 });
  assert.equal(graph.nodeThreshold, 0.6);

  const failing = setup({}, new Error('The dictionary is an SAE; attribution graphs need transcoders.'));
  await failing.state.update(DICTIONARY_STATE_KEY, { kind: 'folder', path: '/sae' });
  vscode.window.showInputBox = (async () => 'a prompt') as never;
  await assert.rejects(failing.command('circuitTrace.attributionGraph')(), /need transcoders/);
  assert.equal(failing.graphs.length, 0);
  assert.deepEqual(failing.busy.at(-1), ['graph', false]);
  assert.deepEqual(failing.opened, ['attributionGraph'], 'the view opened first, and says what is missing');
});

test('an untrusted workspace offers no local folder and reads no folder dictionary', async () => {
  const { calls, state, command } = setup();
  vscode.workspace.isTrusted = false;
  try {
    let offered: string[] = [];
    vscode.window.showQuickPick = (async (items: { action: string }[]) => {
      offered = items.map((i) => i.action);
      return undefined;
    }) as never;
    await command('circuitTrace.loadDictionary')();
    assert.deepEqual(offered.sort(), ['hub', 'organism']);
    await assert.rejects(command('circuitTrace.loadDictionary')({ kind: 'folder', path: '/w/saes' }), /not trusted/);
    await state.update(DICTIONARY_STATE_KEY, { kind: 'folder', path: '/w/saes' });
    await assert.rejects(command('circuitTrace.showFeatures')(), /not trusted/);
    assert.equal(calls.length, 0);
  } finally {
    vscode.workspace.isTrusted = true;
  }
});

test('a failed features run after the graph leaves the graph shown and says why in the log', async () => {
  const { state, graphs, shown, command, engine } = setup();
  await state.update(DICTIONARY_STATE_KEY, { kind: 'folder', path: '/tc' });
  engine.features = async () => {
    throw new Error('logit effects ran out of memory');
  };
  vscode.window.showInputBox = (async () => 'a prompt') as never;
  await command('circuitTrace.attributionGraph')();
  assert.equal(graphs.length, 1);
  assert.equal(shown.length, 0);
});
