/**
 * The `@circuit` CodeLens in the activated extension (in-memory `vscode`, fake engine): "Check
 * circuit" on each hypothesis line, the command sends the hypothesis with the prompt's tokens and
 * the BOS setting to the engine, and the lens then shows the verdict; an edit of the prompt shows
 * "Check circuit" again. The fake engine credits each named node with 30% (test/mocks/engine-client.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ROOT, fakeEngine, fakeVscode, source, useFakeEngineClient } from '../mocks/load-with-fakes.js';

useFakeEngineClient();
type ExtensionModule = typeof import('../../src/extension/extension.js');
const vscode = fakeVscode();
const extension = source<ExtensionModule>('src/extension/extension.ts');
const engineFake = fakeEngine();
const { fake } = vscode;

const scratch = mkdtempSync(join(tmpdir(), 'circuit-trace-circuit-lens-'));
const URI = vscode.Uri.file(join(scratch, 'circuits.prompt'));
const TEXT = [
  '## IOI',
  'When Mary and John went to the store, John gave a drink to',
  '@target " Mary"',
  '@contrast " John"',
  '@corrupt "When Mary and John went to the store, Mary gave a drink to"',
  '@circuit L9H6 L9H9 L10H0 ≥ 80%',
  '@circuit L9H6 >= 80%',
  '',
].join('\n');
let context: ReturnType<typeof vscode.fakeContext>;
let doc: InstanceType<(typeof vscode)['FakeDocument']>;

type LensProvider = {
  provideCodeLenses(doc: unknown): { command?: { title: string; command: string; arguments?: unknown[] }; range: { start: { line: number } } }[];
};

function lenses(line: number): { title: string; command: string; arguments?: unknown[] }[] {
  const provider = fake.codeLensProviders[0]?.provider as LensProvider;
  return provider
    .provideCodeLenses(doc)
    .filter((l) => l.range.start.line === line)
    .map((l) => l.command!);
}

before(() => {
  fake.reset();
  fake.configuration.set('model', 'organism');
  fake.configuration.set('cacheFolder', join(scratch, 'hf-cache'));
  doc = new vscode.FakeDocument(URI, 'prompt', TEXT);
  fake.documents.push(doc);
  context = vscode.fakeContext(ROOT, join(scratch, 'storage'));
  extension.activate(context as never);
});

after(async () => {
  for (const d of (context.subscriptions as { dispose(): unknown }[]).splice(0)) d.dispose();
  await extension.deactivate();
  rmSync(scratch, { recursive: true, force: true });
});

test('"Check circuit" on each @circuit line, the verdict after the check, "Check circuit" again after an edit', async () => {
  assert.deepEqual(
    lenses(5).map((l) => [l.title, l.command, l.arguments]),
    [['Check circuit', 'circuitTrace.checkCircuit', [URI.toString(), 'IOI', 5]]],
  );
  assert.deepEqual(
    lenses(6).map((l) => l.title),
    ['Check circuit'],
  );

  await fake.commands.get('circuitTrace.checkCircuit')?.(URI.toString(), 'IOI', 5);
  await fake.commands.get('circuitTrace.checkCircuit')?.(URI.toString(), 'IOI', 6);
  assert.equal(fake.messages.filter((m) => m.kind === 'error').length, 0, JSON.stringify(fake.messages));
  const requests = engineFake.engineCalls.filter((c) => c.method === 'checkCircuit').map((c) => c.args);
  assert.deepEqual(requests[0], {
    clean: 'When Mary and John went to the store, John gave a drink to',
    corrupt: 'When Mary and John went to the store, Mary gave a drink to',
    target: { text: ' Mary' },
    contrast: { text: ' John' },
    nodes: ['L9H6', 'L9H9', 'L10H0'],
    threshold: 0.8,
  });
  assert.deepEqual(
    lenses(5).map((l) => l.title),
    ['✓ 90% (≥ 80%)'],
  );
  assert.deepEqual(
    lenses(6).map((l) => l.title),
    ['✗ 30% (≥ 80%)'],
  );

  // A different threshold is a different hypothesis: its verdict is not shown for the old one.
  doc.setText(TEXT.replace('@circuit L9H6 >= 80%', '@circuit L9H6 >= 25%'));
  assert.deepEqual(
    lenses(6).map((l) => l.title),
    ['Check circuit'],
  );
  assert.deepEqual(
    lenses(5).map((l) => l.title),
    ['✓ 90% (≥ 80%)'],
  );
});

test('a hypothesis line that is gone is a clear error', async () => {
  await fake.commands.get('circuitTrace.checkCircuit')?.(URI.toString(), 'IOI', 2);
  assert.match(fake.messages.at(-1)?.text ?? '', /no @circuit on line 3 any more/);
});
