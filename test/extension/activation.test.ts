/**
 * The extension activates in plain Node against an in-memory `vscode` (test/mocks/vscode.ts) and a fake
 * engine (test/mocks/engine-client.ts), and its glue does what the issue asks: every command registered,
 * providers scoped to `{ language: 'prompt' }`, registrations in context.subscriptions, an empty
 * selection answered with a notification, CodeLens and hover that show a result only for the
 * prompt text it belongs to, tokenizer diagnostics, history, heads and the HTML export.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ROOT, fakeEngine, fakeVscode, source, useFakeEngineClient } from '../mocks/load-with-fakes.js';

// Route `vscode` and the engine client to the fakes before any extension module loads.
useFakeEngineClient();
type ExtensionModule = typeof import('../../src/extension/extension.js');
const vscode = fakeVscode();
const extension = source<ExtensionModule>('src/extension/extension.ts');
const engineFake = fakeEngine();
const { fake } = vscode;

interface Manifest {
  contributes: { commands: { command: string }[] };
}
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;

const scratch = mkdtempSync(join(tmpdir(), 'circuit-trace-activation-'));
const PRESETS_URI = vscode.Uri.file(join(scratch, 'presets.prompt'));
const EXTRA = '\n## Broken target\nHello there\n@target " two words"\n@corrupt "Hello there again"\n';
let context: ReturnType<typeof vscode.fakeContext>;
let promptDoc: InstanceType<(typeof vscode)['FakeDocument']>;

type LensProvider = { provideCodeLenses(doc: unknown): { command?: { title: string }; range: { start: { line: number } } }[] };
type HoverProvider = { provideHover(doc: unknown, position: unknown): { contents: { value: string } } | undefined };
type Tree = { getChildren(element?: unknown): unknown[] | Promise<unknown[]>; getTreeItem(element: unknown): { label: string; description?: string } };

function lensTitles(line: number): string[] {
  const provider = fake.codeLensProviders[0]?.provider as LensProvider;
  return provider
    .provideCodeLenses(promptDoc)
    .filter((l) => l.range.start.line === line)
    .map((l) => l.command?.title ?? '');
}

function headerLine(name: string): number {
  return promptDoc.getText().split('\n').indexOf(`## ${name}`);
}

async function settle(ms = 50): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

before(() => {
  fake.reset();
  fake.configuration.set('model', 'organism');
  fake.configuration.set('cacheFolder', join(scratch, 'hf-cache'));
  const presets = readFileSync(join(ROOT, 'test', 'e2e', 'workspace', 'presets.prompt'), 'utf8');
  promptDoc = new vscode.FakeDocument(PRESETS_URI, 'prompt', presets + EXTRA);
  fake.documents.push(promptDoc);
  context = vscode.fakeContext(ROOT, join(scratch, 'storage'));
  extension.activate(context as never);
});

after(async () => {
  for (const d of (context.subscriptions as { dispose(): unknown }[]).splice(0)) d.dispose();
  await extension.deactivate();
  rmSync(scratch, { recursive: true, force: true });
});

test('every contributed command is registered, once', () => {
  for (const { command } of manifest.contributes.commands) assert.ok(fake.commands.has(command), command);
});

test('every registration is in context.subscriptions; language providers are scoped to prompt files', () => {
  const subscriptions = new Set(context.subscriptions as unknown[]);
  for (const r of fake.registrations) assert.ok(subscriptions.has(r), 'a registration is missing from context.subscriptions');
  assert.equal(fake.codeLensProviders.length, 1);
  assert.equal(fake.hoverProviders.length, 1);
  for (const p of [...fake.codeLensProviders, ...fake.hoverProviders]) assert.deepEqual(p.selector, { language: 'prompt' });
  assert.deepEqual([...fake.treeViews.keys()].sort(), ['circuitTrace.heads', 'circuitTrace.history', 'circuitTrace.models', 'circuitTrace.presets']);
});

test('an empty selection outside a prompt file gets a clear notification, not an analysis', async () => {
  const doc = new vscode.FakeDocument(vscode.Uri.file(join(scratch, 'notes.txt')), 'plaintext', 'some text');
  fake.activeTextEditor = { document: doc, selection: new vscode.Selection(new vscode.Position(0, 2), new vscode.Position(0, 2)) };
  const analyzesBefore = engineFake.engineCalls.filter((c) => c.method === 'analyze').length;
  await fake.commands.get('circuitTrace.analyzeSelection')?.();
  const last = fake.messages.at(-1);
  assert.equal(last?.kind, 'info');
  assert.match(last?.text ?? '', /select the text to analyze/);
  assert.equal(engineFake.engineCalls.filter((c) => c.method === 'analyze').length, analyzesBefore);
  fake.activeTextEditor = undefined;
  await fake.commands.get('circuitTrace.analyzeSelection')?.();
  assert.match(fake.messages.at(-1)?.text ?? '', /open an editor/);
});

test('CodeLens: Analyze and Patch before a run, the top prediction after it', async () => {
  const line = headerLine('Induction');
  assert.deepEqual(lensTitles(line), ['Analyze', 'Patch']);
  assert.deepEqual(lensTitles(headerLine('Duplicate token')), ['Analyze']);
  await fake.commands.get('circuitTrace.analyzePrompt')?.(PRESETS_URI.toString(), 'Induction');
  assert.equal(fake.messages.filter((m) => m.kind === 'error').length, 0, JSON.stringify(fake.messages));
  // 11 words ("mat." is one): the fake engine predicts " next10" after the last one.
  assert.deepEqual(lensTitles(line), ['Analyze', 'Patch', '→ " next10" 44.6%']);
  const request = engineFake.engineCalls.filter((c) => c.method === 'analyze').at(-1)?.args as {
    prompt: string;
    target: unknown;
    perPosition: boolean;
    prependBos: unknown;
  };
  assert.equal(request.prompt, 'The cat sat on the mat. The cat sat on the');
  // The setting's default, 'model', leaves the BOS to the model's own convention (on for GPT-2).
  assert.equal(request.prependBos, undefined, 'the default circuitTrace.prependBos leaves the BOS to the model');
  assert.deepEqual(request.target, { text: ' mat' });
  assert.equal(request.perPosition, true, 'hovers need predictions at every position');
  assert.ok(
    fake.webviewPanels.some((p) => p.viewType === 'circuitTrace.lab'),
    'the Lab opened',
  );
  assert.match(fake.statusItems[0]?.text ?? '', /Organism · cpu/);
});

test('hover on a token of the analysed prompt: text, id, next tokens and heads', () => {
  const provider = fake.hoverProviders[0]?.provider as HoverProvider;
  const textLine = headerLine('Induction') + 1;
  // "sat" of the first sentence: token 2 (" sat"), characters 8..11.
  const hover = provider.provideHover(promptDoc, new vscode.Position(textLine, 9));
  assert.ok(hover);
  assert.match(hover.contents.value, /`" sat"`\*\* · token id \d+ · position 2/);
  assert.match(hover.contents.value, /\| `" next2"` \| 44\.6% \|/);
  assert.match(hover.contents.value, /\| L\dH\d \|/);
  assert.equal(provider.provideHover(promptDoc, new vscode.Position(headerLine('IOI') + 1, 3)), undefined, 'an unanalysed prompt has no hover');
});

test('after an edit of the prompt, its result disappears from CodeLens and hover', async () => {
  const line = headerLine('Induction');
  promptDoc.setText(promptDoc.getText().replace('The cat sat on the mat. The cat sat on the', 'The dog sat on the mat. The dog sat on the'));
  assert.deepEqual(lensTitles(line), ['Analyze', 'Patch']);
  const provider = fake.hoverProviders[0]?.provider as HoverProvider;
  assert.equal(provider.provideHover(promptDoc, new vscode.Position(line + 1, 9)), undefined);
  // Undoing the edit brings the (still valid) result back.
  promptDoc.setText(promptDoc.getText().replace('The dog sat on the mat. The dog sat on the', 'The cat sat on the mat. The cat sat on the'));
  assert.deepEqual(lensTitles(line), ['Analyze', 'Patch', '→ " next10" 44.6%']);
});

test('diagnostics: a multi-token target and a corrupted prompt of another length', async () => {
  promptDoc.setText(promptDoc.getText());
  await settle(400);
  const diagnostics = fake.diagnostics.get(PRESETS_URI.toString()) ?? [];
  const messages = diagnostics.map((d) => d.message);
  assert.ok(
    messages.some((m) => /@target " two words" must be a single token, but it is 2 tokens/.test(m)),
    messages.join('\n'),
  );
  assert.ok(
    messages.some((m) => /corrupted prompt is 3 tokens long but the prompt is 2 tokens long/.test(m)),
    messages.join('\n'),
  );
  assert.equal(diagnostics.filter((d) => /presets|IOI|Induction/.test(d.message)).length, 0);
});

test('diagnostics: a prompt of exactly maxTokens tokens is too long with the BOS, fine without it', async () => {
  const before = promptDoc.getText();
  const words = Array.from({ length: 64 }, (_, i) => `w${i}`).join(' ');
  const tooLong = (): string[] => (fake.diagnostics.get(PRESETS_URI.toString()) ?? []).map((d) => d.message).filter((m) => /over the limit of 64/.test(m));
  try {
    promptDoc.setText(`${before}\n## At the limit\n${words}\n`);
    await settle(400);
    assert.deepEqual(
      tooLong().map((m) => /65 tokens with the BOS/.test(m)),
      [true],
    );
    await vscode.workspace.getConfiguration().update('prependBos', 'off');
    await settle(100);
    assert.deepEqual(tooLong(), []);
  } finally {
    await vscode.workspace.getConfiguration().update('prependBos', 'model');
    promptDoc.setText(before);
    await settle(100);
  }
});

test('Heads and History views show the analysis; reopening and deleting history', async () => {
  const heads = fake.treeViews.get('circuitTrace.heads')?.treeDataProvider as Tree;
  const groups = await heads.getChildren();
  assert.ok(groups.length > 0);
  const history = fake.treeViews.get('circuitTrace.history')?.treeDataProvider as Tree;
  const items = (await history.getChildren()) as { entry: { id: string; name: string } }[];
  assert.deepEqual(
    items.map((i) => i.entry.name),
    ['Induction'],
  );
  const analyzes = engineFake.engineCalls.filter((c) => c.method === 'analyze').length;
  await fake.commands.get('circuitTrace.history.reopen')?.(items[0]);
  assert.equal(engineFake.engineCalls.filter((c) => c.method === 'analyze').length, analyzes, 'a result still in memory is shown, not recomputed');
  const models = fake.treeViews.get('circuitTrace.models')?.treeDataProvider as Tree;
  const modelItems = (await models.getChildren()).map((m) => models.getTreeItem(m));
  assert.match(modelItems[0]?.description ?? '', /active/);
});

test('Export Analysis writes a self-contained HTML report and the full JSON', async () => {
  const htmlUri = vscode.Uri.file(join(scratch, 'report.html'));
  await fake.commands.get('circuitTrace.exportAnalysis')?.({ format: 'html', uri: htmlUri.toString() });
  const html = fake.writtenFiles.get(htmlUri.toString()) ?? '';
  assert.ok(html, JSON.stringify(fake.messages.slice(-3)));
  assert.match(html, /<!DOCTYPE html>/);
  assert.match(html, /The cat sat on the mat/);
  const jsonUri = vscode.Uri.file(join(scratch, 'analysis.json'));
  await fake.commands.get('circuitTrace.exportAnalysis')?.({ format: 'json', uri: jsonUri.toString() });
  const json = JSON.parse(fake.writtenFiles.get(jsonUri.toString()) ?? '{}') as { prompt: string; attention: { shape: number[] } };
  assert.equal(json.prompt, 'The cat sat on the mat. The cat sat on the');
  assert.deepEqual(json.attention.shape, [2, 2, 11, 11]);
});

test('Patch runs the sweep of a prompt with a corrupted counterpart', async () => {
  await fake.commands.get('circuitTrace.patchPrompt')?.(PRESETS_URI.toString(), 'IOI');
  const request = engineFake.engineCalls.filter((c) => c.method === 'patch').at(-1)?.args as {
    clean: string;
    corrupt: string;
    target: unknown;
    contrast: unknown;
    kind: string;
    prependBos: unknown;
  };
  assert.equal(request.clean, 'When Mary and John went to the store, John gave a drink to');
  assert.equal(request.prependBos, undefined, 'the default circuitTrace.prependBos leaves the BOS to the model in sweeps too');
  assert.equal(request.corrupt, 'When Mary and John went to the store, Mary gave a drink to');
  assert.deepEqual(request.target, { text: ' Mary' });
  assert.deepEqual(request.contrast, { text: ' John' });
  assert.equal(request.kind, 'heads-last');
});

test("Find Circuit with the cursor on a prompt with @corrupt asks the engine for that prompt's circuit", async () => {
  const line = promptDoc.getText().split('\n').indexOf('When Mary and John went to the store, John gave a drink to');
  assert.ok(line >= 0);
  fake.activeTextEditor = { document: promptDoc, selection: new vscode.Selection(new vscode.Position(line, 3), new vscode.Position(line, 3)) };
  try {
    await fake.commands.get('circuitTrace.findCircuit')?.();
  } finally {
    fake.activeTextEditor = undefined;
  }
  const request = engineFake.engineCalls.filter((c) => c.method === 'circuit').at(-1)?.args as Record<string, unknown> | undefined;
  assert.ok(request, JSON.stringify(fake.messages.slice(-2)));
  assert.equal(request.clean, 'When Mary and John went to the store, John gave a drink to');
  assert.equal(request.corrupt, 'When Mary and John went to the store, Mary gave a drink to');
  assert.deepEqual(request.target, { text: ' Mary' });
  assert.deepEqual(request.contrast, { text: ' John' });
});

test("the Greater-than preset's sweep uses the paper's probability difference", async () => {
  await fake.commands.get('circuitTrace.patchPrompt')?.(PRESETS_URI.toString(), 'Greater-than');
  const request = engineFake.engineCalls.filter((c) => c.method === 'patch').at(-1)?.args as { clean: string; metric: unknown };
  assert.equal(request.clean, 'The war lasted from the year 1732 to 17');
  assert.deepEqual(request.metric, { kind: 'greater-than', startYear: 32 });
});

test("@metric reaches the analyze and patch requests of any prompt; without it, none (not even the preset's text)", async () => {
  const before = promptDoc.getText();
  const last = (method: string) =>
    engineFake.engineCalls.filter((c) => c.method === method).at(-1)?.args as { prompt?: string; clean?: string; metric?: unknown };
  try {
    promptDoc.setText(`${before}
## My years
The feud lasted from the year 1650 to 16
@target "99"
@corrupt "The feud lasted from the year 1601 to 16"
@metric greater-than 50

## Same text, no metric
The war lasted from the year 1732 to 17
@target "99"
@corrupt "The war lasted from the year 1701 to 17"
`);
    await fake.commands.get('circuitTrace.analyzePrompt')?.(PRESETS_URI.toString(), 'My years');
    assert.equal(last('analyze').prompt, 'The feud lasted from the year 1650 to 16');
    assert.deepEqual(last('analyze').metric, { kind: 'greater-than', startYear: 50 });
    await fake.commands.get('circuitTrace.patchPrompt')?.(PRESETS_URI.toString(), 'My years');
    assert.deepEqual(last('patch').metric, { kind: 'greater-than', startYear: 50 });
    await fake.commands.get('circuitTrace.patchPrompt')?.(PRESETS_URI.toString(), 'Same text, no metric');
    assert.equal(last('patch').clean, 'The war lasted from the year 1732 to 17');
    assert.equal(last('patch').metric, undefined, "the metric comes from @metric, not from matching the preset's text");
  } finally {
    promptDoc.setText(before);
  }
});

test('an engine error becomes a notification with actions chosen from its code', async () => {
  fake.nextMessageAnswer = undefined;
  // The fake engine refuses patches of different token lengths with LENGTH_MISMATCH.
  await fake.commands.get('circuitTrace.patchPrompt')?.(PRESETS_URI.toString(), 'Broken target');
  const last = fake.messages.at(-1);
  assert.equal(last?.kind, 'error');
  assert.match(last?.text ?? '', /Patch failed\. clean 2 vs corrupt 3 tokens/);
  assert.deepEqual(last?.items, ['Show Logs']);
});
