/**
 * Extension-host integration tests in the @vscode/test-electron convention: downloads VS Code
 * (1.100.3, the oldest the manifest accepts), starts it with this repository as the extension
 * under development, and runs the mocha suite in suite/ inside the extension host.
 *
 * For machines that can reach update.code.visualstudio.com. Where they cannot (this project's
 * own machines), `npm run test:e2e` covers the same ground in code-server with the packaged VSIX.
 *
 * Usage: node --import tsx test/e2e/electron/runTest.ts
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { runTests } from '@vscode/test-electron';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const VSCODE_VERSION = '1.100.3';

async function main(): Promise<void> {
  // The extension under test: the development build (dist/, with source maps).
  const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');

  // The suite runs in the extension host, which loads JavaScript: compile it (mocha and vscode stay external).
  const outDir = join(root, 'out', 'test-electron');
  rmSync(outDir, { recursive: true, force: true });
  const suiteDir = join(here, 'suite');
  const entries = readdirSync(suiteDir).filter((name) => name === 'index.ts' || name.endsWith('.spec.ts'));
  await esbuild.build({
    entryPoints: entries.map((name) => join(suiteDir, name)),
    outdir: outDir,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    external: ['vscode', 'mocha'],
  });

  // A copy of the sample workspace with the built-in organism as the model.
  const scratch = mkdtempSync(join(tmpdir(), 'circuit-trace-electron-'));
  const workspace = join(scratch, 'workspace');
  cpSync(join(root, 'test', 'e2e', 'workspace'), workspace, { recursive: true });
  mkdirSync(join(workspace, '.vscode'), { recursive: true });
  writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'circuitTrace.model': 'organism' }, null, 2));
  try {
    await runTests({
      version: VSCODE_VERSION,
      extensionDevelopmentPath: root,
      extensionTestsPath: join(outDir, 'index.js'),
      launchArgs: [workspace, '--disable-extensions', '--user-data-dir', join(scratch, 'user-data'), '--skip-welcome', '--skip-release-notes'],
      extensionTestsEnv: { CIRCUIT_TRACE_TEST_WORKSPACE: workspace },
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`test-electron suite failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
