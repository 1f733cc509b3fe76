/**
 * Child processes that the e2e harness starts, each in its own process group, so that
 * stopping one also stops everything it spawned (code-server's extension host, the engine
 * worker, Chromium's renderers). Every group still running when this process exits (normally,
 * by an uncaught error, or by SIGINT/SIGTERM/SIGHUP) is killed: nothing outlives a run.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** Groups not yet swept: a group outlives its leader when the leader's children keep running. */
const live = new Set<ChildProcess>();

/** Kills a whole process group; a group that is already gone is not an error. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group has exited already.
  }
}

let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL needs no waiting.
  process.on('exit', () => {
    for (const child of live) killGroup(child, 'SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const child of live) killGroup(child, 'SIGKILL');
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

export interface ProcessGroup {
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** SIGTERM to the group, then SIGKILL after graceMs if it has not exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a command in a new process group. Its stdout and stderr go to logFile (appended),
 * or are inherited when logFile is undefined.
 */
export function startProcessGroup(command: string, args: readonly string[], options: SpawnOptions & { logFile?: string }): ProcessGroup {
  installExitHandlers();
  const { logFile, ...spawnOptions } = options;
  const child = spawn(command, args, {
    ...spawnOptions,
    detached: true,
    stdio: logFile === undefined ? 'inherit' : ['ignore', 'pipe', 'pipe'],
  });
  if (logFile !== undefined) {
    const log = createWriteStream(logFile, { flags: 'a' });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.once('close', () => log.end());
  }
  live.add(child);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  return {
    child,
    exited,
    async stop(graceMs = 5000) {
      if (!live.has(child)) return;
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // Members of the group that outlived the leader or ignored SIGTERM (a stuck worker) go too.
      killGroup(child, 'SIGKILL');
      live.delete(child);
    },
  };
}

/** Runs a command to completion in its own process group; rejects on a non-zero exit. */
export async function runToCompletion(command: string, args: readonly string[], options: SpawnOptions & { logFile?: string }): Promise<void> {
  const group = startProcessGroup(command, args, options);
  const code = await group.exited;
  await group.stop(0);
  if (code !== 0) {
    const where = options.logFile ? ` (log: ${options.logFile})` : '';
    throw new Error(`${command} ${args.join(' ')} exited with ${code ?? 'a signal'}${where}`);
  }
}
