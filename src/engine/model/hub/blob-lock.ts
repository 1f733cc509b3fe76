/**
 * A lock on one blob of the Hugging Face cache, shared by every process on the machine (two VS
 * Code windows, the CLI beside the extension) and by machines sharing the cache over a network
 * drive, so that only one of them writes a blob's `.incomplete` file at a time.
 *
 * The lock is a file created with O_EXCL ('wx') holding its owner's pid, hostname and a random
 * token. The owner refreshes the file's mtime every REFRESH_MS. A lock is stale,
 * and is taken over, when its owner ran on this host and that pid is dead, or when it has not
 * been refreshed for STALE_MS (a crashed owner on another host, or a pid reused after a crash: a
 * live pid alone cannot tell the two apart, the refresh can).
 * Taking over renames the stale file aside first and checks it is the one judged stale, so two
 * processes that judge one lock stale at once cannot remove each other's fresh lock.
 *
 * An owner whose lock was taken over anyway (its event loop stalled past STALE_MS, say) notices
 * at its next refresh or at `stillHeld()`: the downloader then stops writing and waits again.
 *
 * The file is `.locks/models--{owner}--{name}/{etag}.circuit-trace.lock`: beside huggingface_hub's
 * own locks, which deleting a model from the cache removes, but under another name, since Python's
 * `filelock` keeps an flock on `{etag}.lock` that a file lock of ours must not disturb.
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { cancelledError } from './hub-errors.js';

/** How often the owner touches its lock file. */
export const REFRESH_MS = 10_000;
/** A lock untouched this long is stale, whoever holds it. */
export const STALE_MS = 120_000;
/** How often a waiter looks at the lock again. */
const POLL_MS = 200;

interface LockOwner {
  pid: number;
  hostname: string;
  acquiredAt: number;
  token: string;
}

export interface HeldBlobLock {
  /** Whether the lock is still this holder's (false once another process took it over as stale). */
  readonly held: boolean;
  /** Reads the lock file again: whether it is still this holder's. */
  stillHeld(): Promise<boolean>;
  /** Removes the lock file if it is still this holder's, and stops refreshing it. */
  release(): Promise<void>;
}

export interface AcquireBlobLockOptions {
  signal?: AbortSignal;
  /** Called after each look at a lock another process holds, before waiting again (e.g. to report its progress). */
  onWait?: () => Promise<void>;
}

function isErrorCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/**
 * Windows answers EPERM or EBUSY, not EEXIST, while a removed lock file is still open in another
 * process ("delete pending"), and to a rename of a file another process has open: the lock is
 * still in someone's hands, so look again later.
 */
function isBusy(error: unknown): boolean {
  return isErrorCode(error, 'EPERM') || isErrorCode(error, 'EBUSY');
}

/** How long an owner waits before reading its lock file again when it was briefly missing. */
const MISSING_RECHECK_MS = 50;

/** Whether a process with this pid exists on this host (EPERM: it exists but is not ours to signal). */
function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrorCode(error, 'EPERM');
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (Number.isSafeInteger(value.pid) && typeof value.hostname === 'string' && typeof value.token === 'string') return value as LockOwner;
  } catch {
    // empty (its owner is between creating and writing it, or died there) or not ours
  }
  return null;
}

/** The lock file's text and age, or null when there is none. */
async function inspect(path: string): Promise<{ text: string; ageMs: number } | null> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { text, ageMs: Date.now() - info.mtimeMs };
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return null;
    throw error;
  }
}

function isStale(lock: { text: string; ageMs: number }): boolean {
  if (lock.ageMs > STALE_MS) return true;
  const owner = parseOwner(lock.text);
  return owner !== null && owner.hostname === hostname() && !processIsAlive(owner.pid);
}

/** Removes the stale lock whose text is `staleText`, unless another process replaced it meanwhile. */
async function breakStaleLock(path: string, staleText: string): Promise<void> {
  const aside = `${path}.${randomUUID()}.stale`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (isErrorCode(error, 'ENOENT') || isBusy(error)) return; // broken by another waiter, or still open: look again
    throw error;
  }
  const moved = await readFile(aside, 'utf8').catch(() => staleText);
  if (moved !== staleText) {
    // A fresh lock was taken between our look and the rename: put it back (unless yet another
    // lock appeared; its owner then finds its lock gone at its next check and waits again).
    await link(aside, path).catch(() => undefined);
  }
  await rm(aside, { force: true });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Takes the lock at `path`, waiting (and calling `onWait`) while a live process holds it, and
 * taking over a stale one. Throws CANCELLED when `signal` fires while waiting.
 */
export async function acquireBlobLock(path: string, options: AcquireBlobLockOptions = {}): Promise<HeldBlobLock> {
  const owner: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    acquiredAt: 0,
    token: randomUUID(),
  };
  for (;;) {
    if (options.signal?.aborted) throw cancelledError();
    owner.acquiredAt = Date.now();
    const text = JSON.stringify(owner);
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(text, 'utf8');
      } catch (error) {
        // An empty lock file would hold everyone else off for STALE_MS.
        await handle.close().catch(() => undefined);
        await rm(path, { force: true }).catch(() => undefined);
        throw error;
      }
      await handle.close();
      return holdLock(path, text);
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) {
        await mkdir(dirname(path), { recursive: true });
        continue;
      }
      if (!isErrorCode(error, 'EEXIST') && !isBusy(error)) throw error;
    }
    const current = await inspect(path);
    if (current === null) continue; // released between our attempt and our look
    if (isStale(current)) {
      await breakStaleLock(path, current.text);
      continue;
    }
    await options.onWait?.();
    await sleep(POLL_MS, options.signal);
  }
}

function holdLock(path: string, text: string): HeldBlobLock {
  let held = true;
  const read = async (): Promise<string | null> => {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) return null;
      throw error;
    }
  };
  const stillHeld = async (): Promise<boolean> => {
    if (!held) return false;
    try {
      let current = await read();
      // A waiter that judged the lock stale renames it aside and puts it back when it sees it was
      // fresh: missing for a moment is not lost. Gone twice means taken over (and since released).
      if (current === null) current = await sleep(MISSING_RECHECK_MS, undefined).then(read);
      held = current === text;
    } catch {
      // Any other read error says nothing about who holds the lock.
    }
    return held;
  };
  const refresh = setInterval(() => {
    void stillHeld()
      .then(async (mine) => {
        if (!mine) return clearInterval(refresh);
        const now = new Date();
        await utimes(path, now, now);
      })
      .catch(() => undefined);
  }, REFRESH_MS);
  refresh.unref(); // a lock being held must not keep the process alive
  return {
    get held() {
      return held;
    },
    stillHeld,
    async release() {
      clearInterval(refresh);
      // A lock that cannot be removed now (Windows: open elsewhere) goes stale and is taken over;
      // failing here would turn a finished download into an error.
      if (await stillHeld()) await rm(path, { force: true }).catch(() => undefined);
      held = false;
    },
  };
}
