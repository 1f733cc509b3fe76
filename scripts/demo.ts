/**
 * `npm run demo`: the main job on a machine without a desktop VS Code. Provides code-server
 * (VS Code 1.100.3, installed offline from npm and cached), packages and installs the linux-x64
 * VSIX, and serves VS Code on 127.0.0.1 with the sample workspace (the five presets) open. Open the
 * printed address in a browser; Ctrl+C stops everything it started.
 *
 * With a desktop VS Code, `code --extensionDevelopmentPath="$PWD" test/e2e/workspace` after
 * `npm run build` does the same without code-server.
 *
 * Options: --reuse-vsix (skip packaging when a VSIX exists), --check (start, verify that VS Code
 * answers with the extension installed, then stop; used to test this command).
 */
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startCodeServer } from '../test/e2e/harness/code-server.js';
import { installVsix, packageLinuxVsix, provideCodeServer } from '../test/e2e/harness/environment.js';
import { linuxVsixPath, REPO_ROOT, SAMPLE_WORKSPACE } from '../test/e2e/harness/paths.js';

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const home = join(REPO_ROOT, '.demo');
  const workspace = join(home, 'workspace');
  mkdirSync(home, { recursive: true });
  // The demo workspace is a copy, kept between runs, so your edits to it stay yours.
  if (!existsSync(workspace)) cpSync(SAMPLE_WORKSPACE, workspace, { recursive: true });

  console.log('demo: providing code-server (first time: several minutes; then cached)…');
  const codeServerDir = await provideCodeServer();
  const vsix = args.has('--reuse-vsix') && existsSync(linuxVsixPath()) ? linuxVsixPath() : await packageLinuxVsix(join(home, 'package.log'));
  const extensionsDir = join(home, 'extensions');
  mkdirSync(extensionsDir, { recursive: true });
  await installVsix(codeServerDir, vsix, extensionsDir, home, join(home, 'install.log'));
  const server = await startCodeServer({
    codeServerDir,
    extensionsDir,
    userDataDir: join(home, 'user-data'),
    scratchDir: home,
    logFile: join(home, 'code-server.log'),
  });
  const url = `${server.origin}/?folder=${encodeURIComponent(workspace)}`;
  if (args.has('--check')) {
    const page = await fetch(url);
    await server.stop();
    if (!page.ok) throw new Error(`VS Code answered ${page.status}`);
    console.log(`demo: VS Code answered at ${url} with Circuit Trace installed (${vsix}); stopped (--check).`);
    return;
  }
  console.log(`\nCircuit Trace is running in VS Code at\n\n  ${url}\n\nOpen presets.prompt and click "Analyze" above a prompt. Ctrl+C stops the server.`);
  const stop = (): void => {
    void server.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
