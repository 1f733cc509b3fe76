/// <reference types="mocha" />
/**
 * Inside the extension host, with the VS Code API: the extension activates on a .prompt file,
 * registers every command its manifest contributes, puts Analyze/Patch CodeLenses above the
 * presets, analyses the induction preset with the built-in organism (the hover then names
 * " mat"), and reports a malformed directive as a diagnostic.
 */
import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import * as vscode from 'vscode';

const EXTENSION_ID = 'circuit-trace.circuit-trace';
const INDUCTION_PROMPT = 'The cat sat on the mat. The cat sat on the';

function workspaceFile(name: string): vscode.Uri {
  const folder = process.env['CIRCUIT_TRACE_TEST_WORKSPACE'];
  if (!folder) throw new Error('CIRCUIT_TRACE_TEST_WORKSPACE is not set (runTest.ts sets it)');
  return vscode.Uri.file(join(folder, name));
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function hoverText(hovers: vscode.Hover[]): string {
  return hovers.flatMap((hover) => hover.contents.map((part) => (typeof part === 'string' ? part : part.value))).join('\n');
}

suite('Circuit Trace in the extension host', () => {
  let document: vscode.TextDocument;

  suiteSetup(async () => {
    document = await vscode.workspace.openTextDocument(workspaceFile('presets.prompt'));
    await vscode.window.showTextDocument(document);
  });

  test('a .prompt file opens in the "prompt" language and activates the extension', async () => {
    assert.equal(document.languageId, 'prompt');
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is not installed`);
    await until('activation', () => (extension.isActive ? true : undefined));
  });

  test('every command the manifest contributes is registered', async () => {
    const manifest = vscode.extensions.getExtension(EXTENSION_ID)?.packageJSON as { contributes?: { commands?: { command: string }[] } };
    const contributed = (manifest.contributes?.commands ?? []).map((c) => c.command);
    assert.ok(contributed.length > 0, 'the manifest contributes no commands');
    const registered = new Set(await vscode.commands.getCommands(true));
    assert.deepEqual(
      contributed.filter((id) => !registered.has(id)),
      [],
    );
  });

  test('Analyze and Patch CodeLenses sit above the induction preset; analysing it makes the hover name " mat"', async () => {
    const promptLine = document
      .getText()
      .split('\n')
      .findIndex((line) => line === INDUCTION_PROMPT);
    assert.ok(promptLine > 0, 'the sample workspace lost its induction preset');
    const lenses = await until('CodeLenses', async () => {
      const found = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', document.uri);
      return found && found.length > 0 ? found : undefined;
    });
    // The induction preset's lenses are the last ones at or above its prompt line.
    const above = lenses.filter((lens) => lens.range.start.line <= promptLine);
    const nearest = Math.max(...above.map((lens) => lens.range.start.line));
    const own = above.filter((lens) => lens.range.start.line === nearest);
    const titles = own.map((lens) => lens.command?.title ?? '');
    assert.ok(titles.includes('Analyze') && titles.includes('Patch'), `lenses: ${titles.join(' | ')}`);

    const analyze = own.find((lens) => lens.command?.title === 'Analyze')?.command;
    assert.ok(analyze);
    await vscode.commands.executeCommand(analyze.command, ...(analyze.arguments ?? []));
    // Hover the last token, "the": its top next-token prediction is the induction answer.
    const position = new vscode.Position(promptLine, INDUCTION_PROMPT.length - 1);
    const text = await until(
      'a hover naming " mat"',
      async () => {
        const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', document.uri, position);
        const shown = hoverText(hovers ?? []);
        return shown.includes('mat') ? shown : undefined;
      },
      120_000,
    );
    assert.match(text, /" mat"/);
  });

  test('a malformed directive is reported as a diagnostic', async () => {
    const broken = await vscode.workspace.openTextDocument({ language: 'prompt', content: '## Broken\nThe cat sat on the\n@target " mat\n' });
    await vscode.window.showTextDocument(broken);
    const diagnostics = await until('a diagnostic', () => {
      const found = vscode.languages.getDiagnostics(broken.uri);
      return found.length > 0 ? found : undefined;
    });
    assert.ok(
      diagnostics.some((d) => d.range.start.line === 2),
      diagnostics.map((d) => `${d.range.start.line}: ${d.message}`).join('\n'),
    );
  });
});
