/**
 * Attribution Heatmaps in the activated extension (shared fakes: test/mocks/vscode.ts and the fake
 * engine client): on the IOI preset (a prompt with @corrupt, target and contrast) it opens the
 * attribution view and asks the engine for AtP, path patching to the logits and the exact
 * heads-all sweep on the attribution's own token ids; on a prompt with @metric it refuses with a
 * notification naming the metric; elsewhere it only opens the view.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, fakeEngine, fakeVscode, source, useFakeEngineClient } from '../mocks/load-with-fakes.js';

useFakeEngineClient();
type ExtensionModule = typeof import('../../src/extension/extension.js');
const vscode = fakeVscode();
const extension = source<ExtensionModule>('src/extension/extension.ts');
const engineFake = fakeEngine();
const { fake, lab } = vscode;

const scratch = mkdtempSync(join(tmpdir(), 'circuit-trace-attribution-command-'));
const PRESETS_URI = vscode.Uri.file(join(scratch, 'presets.prompt'));
let promptDoc: InstanceType<typeof vscode.FakeDocument>;
let context: ReturnType<typeof vscode.fakeContext>;

function cursorOn(text: string): void {
  const line = promptDoc.getText().split('\n').indexOf(text);
  assert.ok(line >= 0, text);
  fake.activeTextEditor = { document: promptDoc, selection: new vscode.Selection(new vscode.Position(line, 3), new vscode.Position(line, 3)) };
}

const callsOf = (method: string) => engineFake.engineCalls.filter((c) => c.method === method).map((c) => c.args as Record<string, unknown>);

before(() => {
  fake.reset();
  lab.reset();
  fake.configuration.set('model', 'organism');
  fake.configuration.set('cacheFolder', join(scratch, 'hf-cache'));
  promptDoc = new vscode.FakeDocument(PRESETS_URI, 'prompt', readFileSync(join(ROOT, 'test', 'e2e', 'workspace', 'presets.prompt'), 'utf8'));
  fake.documents.push(promptDoc);
  context = vscode.fakeContext(ROOT, join(scratch, 'storage'));
  extension.activate(context as never);
});

after(async () => {
  fake.activeTextEditor = undefined;
  for (const d of (context.subscriptions as { dispose(): unknown }[]).splice(0)) d.dispose();
  await extension.deactivate();
  rmSync(scratch, { recursive: true, force: true });
});

test('on a prompt with @corrupt: the attribution view, AtP, path patching to the logits, and the exact sweep on the same ids', async () => {
  engineFake.engineCalls.length = 0;
  cursorOn('When Mary and John went to the store, John gave a drink to');
  await fake.commands.get('circuitTrace.attributionHeatmaps')?.();
  assert.equal(fake.messages.filter((m) => m.kind === 'error').length, 0, JSON.stringify(fake.messages));
  assert.ok(
    lab.panels.some((p) => /data-lab-content="attribution"/.test(p.webview.html)),
    'the attribution view is open',
  );
  const [attribute] = callsOf('attribute');
  assert.deepEqual(
    { clean: attribute?.clean, corrupt: attribute?.corrupt, target: attribute?.target, contrast: attribute?.contrast, method: attribute?.method },
    {
      clean: 'When Mary and John went to the store, John gave a drink to',
      corrupt: 'When Mary and John went to the store, Mary gave a drink to',
      target: { text: ' Mary' },
      contrast: { text: ' John' },
      method: 'atp',
    },
  );
  assert.equal(callsOf('pathPatch')[0]?.receivers, 'logits');
  const sweep = callsOf('patch').at(-1)!;
  assert.equal(sweep.kind, 'heads-all');
  assert.ok(Array.isArray(sweep.cleanIds) && Array.isArray(sweep.corruptIds), 'the sweep runs on the attribution map’s token ids');
});

test('a prompt with @metric is refused, naming the metric; the engine is not asked', async () => {
  engineFake.engineCalls.length = 0;
  cursorOn('The war lasted from the year 1732 to 17');
  await fake.commands.get('circuitTrace.attributionHeatmaps')?.();
  assert.match(fake.messages.at(-1)?.text ?? '', /not @metric greater-than/);
  assert.deepEqual(callsOf('attribute'), []);
});

test('outside a prompt with @corrupt it only opens the view', async () => {
  engineFake.engineCalls.length = 0;
  fake.activeTextEditor = undefined;
  await fake.commands.get('circuitTrace.attributionHeatmaps')?.();
  assert.deepEqual(callsOf('attribute'), []);
  assert.ok(lab.panels.some((p) => /data-lab-content="attribution"/.test(p.webview.html)));
});
