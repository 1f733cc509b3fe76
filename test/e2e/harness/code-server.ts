/** One code-server process: a real VS Code (1.100.3) served to the browser on 127.0.0.1. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeServerEnv } from './environment.js';
import { freePort } from './free-port.js';
import { startProcessGroup, type ProcessGroup } from './process-group.js';

export interface CodeServer {
  /** http://127.0.0.1:PORT */
  readonly origin: string;
  stop(): Promise<void>;
}

export interface CodeServerOptions {
  codeServerDir: string;
  extensionsDir: string;
  userDataDir: string;
  /** Scratch folder for code-server's own config and data (XDG folders). */
  scratchDir: string;
  logFile: string;
}

const READY_TIMEOUT_MS = 90_000;

async function waitUntilHealthy(origin: string, server: ProcessGroup, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exitCode: number | null | undefined;
  void server.exited.then((code) => {
    exitCode = code;
  });
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`code-server exited with ${exitCode ?? 'a signal'} before it was ready; see ${logFile}`);
    try {
      const response = await fetch(`${origin}/healthz`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`code-server did not answer ${origin}/healthz within ${READY_TIMEOUT_MS / 1000} s; see ${logFile}`);
}

export async function startCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  // An explicit, empty config file: code-server would otherwise create ~/.config/code-server/config.yaml with a password.
  const config = join(options.scratchDir, 'code-server.yaml');
  writeFileSync(config, '');
  const server = startProcessGroup(
    process.execPath,
    [
      join(options.codeServerDir, 'out', 'node', 'entry.js'),
      '--config',
      config,
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--user-data-dir',
      options.userDataDir,
      '--extensions-dir',
      options.extensionsDir,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--ignore-last-opened',
    ],
    { env: codeServerEnv(options.scratchDir), logFile: options.logFile },
  );
  try {
    await waitUntilHealthy(origin, server, options.logFile);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { origin, stop: () => server.stop() };
}
