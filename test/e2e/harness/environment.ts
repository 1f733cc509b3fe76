/**
 * What every e2e session needs before it starts: a provided code-server and an extensions
 * folder holding the freshly packaged VSIX. scripts/e2e/run-e2e.ts prepares it once per run
 * and passes it on through the environment; a test file run on its own prepares it itself.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODE_SERVER_VERSION, E2E_CACHE, E2E_OUTPUT, REPO_ROOT, extensionId, linuxVsixPath } from './paths.js';
import { runToCompletion } from './process-group.js';

export interface E2eEnvironment {
  /** code-server's npm package folder (holds out/node/entry.js). */
  codeServerDir: string;
  /** Extensions folder with the VSIX installed; shared by every session of the run. */
  extensionsDir: string;
  /** Scratch folder of this run; sessions make their own folders inside. */
  runDir: string;
}

const ENV_CODE_SERVER = 'CIRCUIT_TRACE_E2E_CODE_SERVER';
const ENV_EXTENSIONS = 'CIRCUIT_TRACE_E2E_EXTENSIONS_DIR';
const ENV_RUN_DIR = 'CIRCUIT_TRACE_E2E_RUN_DIR';

/**
 * Runs scripts/e2e/provide-code-server.sh (its step log shows on this process's stderr) and
 * returns code-server's package folder.
 */
export async function provideCodeServer(): Promise<string> {
  await runToCompletion('bash', [join(REPO_ROOT, 'scripts', 'e2e', 'provide-code-server.sh'), E2E_CACHE], { stdio: 'inherit' });
  const packageDir = join(E2E_CACHE, `code-server-${CODE_SERVER_VERSION}`, 'package');
  if (!existsSync(join(packageDir, 'out', 'node', 'entry.js'))) throw new Error(`no code-server at ${packageDir}`);
  return packageDir;
}

/** `npm run package` for linux-x64 only: production build, VSIX, content checks. */
export async function packageLinuxVsix(logFile: string): Promise<string> {
  await runToCompletion(process.execPath, [join(REPO_ROOT, 'scripts', 'package.mjs'), '--target', 'linux-x64'], { cwd: REPO_ROOT, logFile });
  const vsix = linuxVsixPath();
  if (!existsSync(vsix)) throw new Error(`packaging wrote no ${vsix}`);
  return vsix;
}

/** Environment for code-server processes: its config and data stay in the run's folders, never in $HOME. */
export function codeServerEnv(scratchDir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    XDG_CONFIG_HOME: join(scratchDir, 'xdg-config'),
    XDG_DATA_HOME: join(scratchDir, 'xdg-data'),
    XDG_CACHE_HOME: join(scratchDir, 'xdg-cache'),
  };
}

/** Installs the VSIX with code-server's own `--install-extension`, as a user would, and checks it is listed. */
export async function installVsix(codeServerDir: string, vsix: string, extensionsDir: string, scratchDir: string, logFile: string): Promise<void> {
  const entry = join(codeServerDir, 'out', 'node', 'entry.js');
  const common = ['--extensions-dir', extensionsDir, '--user-data-dir', join(scratchDir, 'install-user-data')];
  const env = codeServerEnv(scratchDir);
  await runToCompletion(process.execPath, [entry, ...common, '--install-extension', vsix, '--force'], { env, logFile });
  const listed = spawnSync(process.execPath, [entry, ...common, '--list-extensions', '--show-versions'], { env, encoding: 'utf8' });
  const id = extensionId();
  if (!listed.stdout.split('\n').some((line) => line.startsWith(`${id}@`))) {
    throw new Error(`${id} is not listed after --install-extension:\n${listed.stdout}${listed.stderr}`);
  }
}

export interface PreparationTimings {
  provideSeconds: number;
  packageSeconds: number;
  installSeconds: number;
}

/** Prepares everything once, for a run: the runner's way, and a lone test file's. */
export async function prepareEnvironment(
  runDir: string,
  options: { reuseVsix: boolean },
): Promise<E2eEnvironment & { vsix: string; timings: PreparationTimings }> {
  mkdirSync(E2E_OUTPUT, { recursive: true });
  const seconds = (since: number) => (performance.now() - since) / 1000;
  let t = performance.now();
  const codeServerDir = await provideCodeServer();
  const provideSeconds = seconds(t);
  t = performance.now();
  const vsix = options.reuseVsix && existsSync(linuxVsixPath()) ? linuxVsixPath() : await packageLinuxVsix(join(E2E_OUTPUT, 'package.log'));
  const packageSeconds = seconds(t);
  t = performance.now();
  const extensionsDir = join(runDir, 'extensions');
  mkdirSync(extensionsDir, { recursive: true });
  await installVsix(codeServerDir, vsix, extensionsDir, runDir, join(E2E_OUTPUT, 'install-extension.log'));
  const installSeconds = seconds(t);
  return { codeServerDir, extensionsDir, runDir, vsix, timings: { provideSeconds, packageSeconds, installSeconds } };
}

/** Variables that hand a prepared environment to the test processes. */
export function environmentVariables(env: E2eEnvironment): Record<string, string> {
  return { [ENV_CODE_SERVER]: env.codeServerDir, [ENV_EXTENSIONS]: env.extensionsDir, [ENV_RUN_DIR]: env.runDir };
}

let prepared: Promise<E2eEnvironment> | undefined;

/**
 * The environment the runner prepared, or, for a test file run on its own, one prepared now
 * (reusing an existing VSIX; `npm run test:e2e` always packages afresh) and removed at exit.
 */
export function e2eEnvironment(): Promise<E2eEnvironment> {
  const codeServerDir = process.env[ENV_CODE_SERVER];
  const extensionsDir = process.env[ENV_EXTENSIONS];
  const runDir = process.env[ENV_RUN_DIR];
  if (codeServerDir && extensionsDir && runDir) return Promise.resolve({ codeServerDir, extensionsDir, runDir });
  prepared ??= (async () => {
    const ownRunDir = mkdtempSync(join(tmpdir(), 'circuit-trace-e2e-'));
    process.on('exit', () => rmSync(ownRunDir, { recursive: true, force: true }));
    return prepareEnvironment(ownRunDir, { reuseVsix: true });
  })();
  return prepared;
}
