/**
 * The Presets view against the in-memory `vscode` (test/mocks/vscode.ts): it reads the workspace's
 * `.prompt` files only when the view first asks for its items, one file per turn of the event loop,
 * skips files too large to parse, and its tooltips show prompt text verbatim: a code fence,
 * backticks, `<img>` or a `[link](command:…)` in a prompt cannot break out of the tooltip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeVscode, source } from '../../mocks/load-with-fakes.js';

// Route `vscode` to the fake before the view's module loads.
type PresetsViewModule = typeof import('../../../src/extension/views/presets-view.js');
type HistoryViewModule = typeof import('../../../src/extension/views/history-view.js');
type MarkdownTextModule = typeof import('../../../src/extension/format/markdown-text.js');
const vscode = fakeVscode();
const { PresetsViewProvider } = source<PresetsViewModule>('src/extension/views/presets-view.ts');
const { HistoryItem } = source<HistoryViewModule>('src/extension/views/history-view.ts');
const { markdownCodeBlock } = source<MarkdownTextModule>('src/extension/format/markdown-text.ts');
const { fake } = vscode;

type Node = { kind: string };
type Item = { label: string; description?: string; tooltip?: string | { value: string; isTrusted?: unknown } };

const log = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {}, trace: () => {} } as never;

/** Stands in for the workspace: files by path, with counters of what the view asked for. */
function fakeWorkspace(files: Record<string, string>, sizes: Record<string, number> = {}) {
  const calls = { findFiles: 0, stat: [] as string[], readFile: [] as string[] };
  const workspace = vscode.workspace as unknown as Record<string, unknown> & { fs: Record<string, unknown> };
  workspace.findFiles = async () => {
    calls.findFiles++;
    return Object.keys(files).map((p) => vscode.Uri.file(p));
  };
  workspace.fs.stat = async (uri: { fsPath: string }) => {
    calls.stat.push(uri.fsPath);
    return { size: sizes[uri.fsPath] ?? new TextEncoder().encode(files[uri.fsPath] ?? '').length };
  };
  workspace.fs.readFile = async (uri: { fsPath: string }) => {
    calls.readFile.push(uri.fsPath);
    return new TextEncoder().encode(files[uri.fsPath] ?? '');
  };
  return calls;
}

test('activation reads no file: the first request for the items starts the scan, which then refreshes the view', async () => {
  fake.reset();
  const calls = fakeWorkspace({ '/w/a.prompt': '## one\nhello\n', '/w/b.prompt': '## two\nworld\n## three\nagain\n' });
  const view = new PresetsViewProvider(log);
  let refreshed = 0;
  view.onDidChangeTreeData(() => refreshed++);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(calls.findFiles, 0, 'constructing the view (on activation) must not touch the workspace');

  const first = view.getChildren() as Node[];
  assert.ok(
    first.every((n) => n.kind === 'preset'),
    'the presets show at once, without waiting for files',
  );
  await view.whenScanned();
  assert.equal(calls.findFiles, 1);
  assert.equal(refreshed, 1);
  const files = (view.getChildren() as Node[]).filter((n) => n.kind === 'file');
  assert.deepEqual(
    files.map((f) => view.getTreeItem(f as never).description),
    ['1 prompt', '2 prompts'],
  );
  view.dispose();
});

test('files are parsed one per turn of the event loop, so other work runs in between', async () => {
  fake.reset();
  const paths = ['/w/1.prompt', '/w/2.prompt', '/w/3.prompt', '/w/4.prompt'];
  fakeWorkspace(Object.fromEntries(paths.map((p) => [p, ''])));
  // Open editors: their text is read synchronously, so only the view's own yielding separates them.
  const events: string[] = [];
  for (const path of paths) {
    const doc = new vscode.FakeDocument(vscode.Uri.file(path), 'prompt', `## p\n${path}\n`);
    const getText = doc.getText.bind(doc);
    doc.getText = (range?: never) => {
      events.push('parse');
      return getText(range);
    };
    fake.documents.push(doc);
  }
  const view = new PresetsViewProvider(log);
  let ticking = true;
  const tick = (): void => {
    events.push('tick');
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  await view.whenScanned();
  ticking = false;
  const parses = events.map((e, i) => (e === 'parse' ? i : -1)).filter((i) => i >= 0);
  assert.equal(parses.length, paths.length);
  for (let k = 1; k < parses.length; k++) {
    assert.ok(events.slice(parses[k - 1], parses[k]).includes('tick'), `no other work ran between two files: ${events.join(' ')}`);
  }
  view.dispose();
});

test('a file too large to parse is listed without being read', async () => {
  fake.reset();
  const calls = fakeWorkspace({ '/w/huge.prompt': '', '/w/ok.prompt': '## fine\ntext\n' }, { '/w/huge.prompt': 50_000_000 });
  const view = new PresetsViewProvider(log);
  view.getChildren();
  await view.whenScanned();
  assert.deepEqual(calls.readFile, ['/w/ok.prompt'], 'the huge file is never read');
  const files = (view.getChildren() as Node[]).filter((n) => n.kind === 'file');
  assert.deepEqual(
    files.map((f) => view.getTreeItem(f as never).description),
    ['too large to list (50.0 MB)', '1 prompt'],
  );
  assert.deepEqual(view.getChildren(files[0] as never), []);
  view.dispose();
});

const FENCE_TEXT = 'Say ```js\n[run me](command:workbench.action.terminal.new) `tick` <img src=x onerror=alert(1)>\n```\n````';
const CORRUPT = '``` [x](command:evil) `y` <b>';

test('prompt tooltips show text with code fences, backticks, HTML and command links verbatim', async () => {
  fake.reset();
  fakeWorkspace({ '/w/evil.prompt': `## evil\n${FENCE_TEXT}\n@corrupt ${JSON.stringify(CORRUPT)}\n` });
  const view = new PresetsViewProvider(log);
  view.getChildren();
  await view.whenScanned();
  const file = (view.getChildren() as Node[]).find((n) => n.kind === 'file');
  const promptNode = view.getChildren(file as never)[0];
  const item = view.getTreeItem(promptNode as never) as unknown as Item;
  assert.equal(item.label, 'evil');
  const tooltip = item.tooltip;
  assert.ok(tooltip && typeof tooltip !== 'string');
  assert.notEqual(tooltip.isTrusted, true, 'user text is never in a trusted MarkdownString');
  assert.equal(tooltip.value, `${markdownCodeBlock(FENCE_TEXT)}\n\nCorrupted:\n\n${markdownCodeBlock(CORRUPT)}`);
  // The prompt's longest backtick run is 4: the fence is 5, so no line of the prompt can close it.
  assert.ok(tooltip.value.startsWith('`````text\n'));
  view.dispose();
});

test('history tooltips escape the prompt name and fence the prompt text', () => {
  const item = new HistoryItem({
    id: 'h1',
    name: '[click](command:workbench.action.terminal.new) <b>x</b>',
    prompt: FENCE_TEXT,
    modelName: 'my `model`',
    modelId: 'm',
    createdAt: 0,
  } as never) as unknown as Item;
  const tooltip = item.tooltip;
  assert.ok(tooltip && typeof tooltip !== 'string');
  assert.notEqual(tooltip.isTrusted, true);
  const [title, , ...rest] = tooltip.value.split('\n');
  assert.equal(title, '**\\[click\\]\\(command\\:workbench\\.action\\.terminal\\.new\\) \\<b\\>x\\<\\/b\\>** on my \\`model\\`');
  assert.ok(rest.join('\n').startsWith(markdownCodeBlock(FENCE_TEXT)));
});
