/**
 * Two processes and one Hugging Face cache: a cross-process lock per blob, so two downloads of one
 * model never write one partial file together; stale locks of dead processes are recovered; a
 * process waiting for another's download still reports progress and can be cancelled.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { DownloadProgress } from '../../../../src/protocol/engine.js';
import { isEngineError } from '../../../../src/engine/errors.js';
import { repoFolderName } from '../../../../src/engine/model/hub/cache-layout.js';
import { acquireBlobLock } from '../../../../src/engine/model/hub/blob-lock.js';
import { downloadModel, type DownloadModelOptions } from '../../../../src/engine/model/hub/download.js';
import { FakeHubServer, tinyModelFiles } from '../../../helpers/fake-hub-server.js';

const REPO = 'tiny-org/tiny-gpt2';
const CHILD = join(import.meta.dirname, '..', '..', '..', 'helpers', 'download-child.ts');
const temporaryDirs: string[] = [];

after(async () => {
  for (const dir of temporaryDirs) await rm(dir, { recursive: true, force: true });
});

async function tempCache(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ct-hub-lock-'));
  temporaryDirs.push(dir);
  return join(dir, 'hub');
}

interface ChildResult {
  ok: boolean;
  folder?: string;
  code?: string;
  message?: string;
}

/** Runs download-child.ts in a process of its own; resolves with what it printed. */
function downloadInChild(cacheDir: string, endpoint: string): Promise<ChildResult> {
  const env = { ...process.env };
  for (const name of ['HF_TOKEN', 'HF_HUB_OFFLINE', 'HF_ENDPOINT']) delete env[name];
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, REPO, cacheDir, endpoint], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as ChildResult);
      } catch {
        reject(new Error(`download child printed no result: ${stdout}\n${stderr}`));
      }
    });
  });
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const until = async (condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> => {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(child.pid);
  return child.pid;
}

function lockDir(cacheDir: string): string {
  return join(cacheDir, '.locks', repoFolderName(REPO));
}

describe('two processes, one cache', () => {
  test('two processes downloading the same model at once both succeed, and the blob verifies', async () => {
    const hub = await FakeHubServer.start([{ id: REPO, files: tinyModelFiles({ weightBytes: 600_000 }) }]);
    try {
      const cacheDir = await tempCache();
      const weights = hub.fileOf(REPO, 'model.safetensors');
      // ~6 s of transfer, so that the second process starts while the first is mid-file.
      hub.throttleFile(REPO, 'model.safetensors', { chunkBytes: 8192, delayMs: 80 });
      let firstDone = false;
      const first = downloadInChild(cacheDir, hub.endpoint).finally(() => (firstDone = true));
      await until(
        () => firstDone || hub.requests.some((r) => r.file === 'model.safetensors' && r.bodyBytes > 0 && r.range !== 'bytes=0-0'),
        'the first download to start',
      );
      const second = downloadInChild(cacheDir, hub.endpoint);
      const [a, b] = await Promise.all([first, second]);
      assert.ok(a.ok, `first: ${a.code} ${a.message}`);
      assert.ok(b.ok, `second: ${b.code} ${b.message}`);
      assert.equal(a.folder, b.folder);

      const blobs = join(cacheDir, repoFolderName(REPO), 'blobs');
      assert.equal(sha256(await readFile(join(blobs, weights.sha256))), weights.sha256, 'the blob verifies');
      assert.deepEqual(await readFile(join(a.folder!, 'model.safetensors')), weights.content);
      assert.deepEqual(
        (await readdir(blobs)).filter((name) => !/^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(name)),
        [],
        'no partial files left',
      );
      assert.deepEqual(await readdir(lockDir(cacheDir)).catch(() => []), [], 'no locks left');
      const transferred = hub.bodyRequests('model.safetensors').reduce((sum, r) => sum + r.bodyBytes, 0);
      assert.equal(transferred, weights.content.byteLength, "the second process reused the first one's download");
    } finally {
      await hub.close();
    }
  });

  test('a lock left by a dead process is taken over, and its partial file resumed', async () => {
    const hub = await FakeHubServer.start([{ id: REPO, files: tinyModelFiles({ weightBytes: 100_000 }) }]);
    try {
      const cacheDir = await tempCache();
      const weights = hub.fileOf(REPO, 'model.safetensors');
      const lock = await plantLock(cacheDir, weights.sha256, { pid: deadPid(), hostname: hostname() });
      const blobs = join(cacheDir, repoFolderName(REPO), 'blobs');
      await mkdir(blobs, { recursive: true });
      await writeFile(join(blobs, `${weights.sha256}.incomplete`), weights.content.subarray(0, 30_000));

      const folder = await downloadModel(REPO, options(hub, cacheDir));
      assert.deepEqual(await readFile(join(folder, 'model.safetensors')), weights.content);
      assert.equal(hub.bodyRequests('model.safetensors')[0]?.range, 'bytes=30000-', "the dead process's partial file is resumed");
      assert.deepEqual(await readdir(join(lock, '..')), [], 'the stale lock is gone, and nothing was left beside it');
    } finally {
      await hub.close();
    }
  });

  test('a lock of another host is taken over once it has not been refreshed for long, and waited for while fresh', async () => {
    const hub = await FakeHubServer.start([{ id: REPO, files: tinyModelFiles() }]);
    try {
      const cacheDir = await tempCache();
      const weights = hub.fileOf(REPO, 'model.safetensors');
      const lock = await plantLock(cacheDir, weights.sha256, { pid: 1, hostname: 'another-host.invalid' });
      // Fresh: its owner may be alive on the other host, so this process waits (until cancelled).
      await assert.rejects(
        downloadModel(REPO, options(hub, cacheDir, { signal: AbortSignal.timeout(800) })),
        (error) => isEngineError(error) && error.code === 'CANCELLED',
      );
      assert.equal(hub.bodyRequests('model.safetensors').length, 0);
      // An hour without a refresh: stale.
      const anHourAgo = new Date(Date.now() - 3_600_000);
      await utimes(lock, anHourAgo, anHourAgo);
      const folder = await downloadModel(REPO, options(hub, cacheDir));
      assert.deepEqual(await readFile(join(folder, 'model.safetensors')), weights.content);
    } finally {
      await hub.close();
    }
  });

  test("a process waiting for another one's download reports its progress and can be cancelled, leaving the other's lock and partial file alone", async () => {
    const hub = await FakeHubServer.start([{ id: REPO, files: tinyModelFiles({ weightBytes: 100_000 }) }]);
    try {
      const cacheDir = await tempCache();
      const weights = hub.fileOf(REPO, 'model.safetensors');
      // A live owner: this very process, under another token (as another worker thread would be).
      const lock = await plantLock(cacheDir, weights.sha256, { pid: process.pid, hostname: hostname() });
      const lockText = await readFile(lock, 'utf8');
      const partial = join(cacheDir, repoFolderName(REPO), 'blobs', `${weights.sha256}.incomplete`);
      await mkdir(join(partial, '..'), { recursive: true });
      await writeFile(partial, weights.content.subarray(0, 25_000));

      const controller = new AbortController();
      const progress: DownloadProgress[] = [];
      const onProgress = (p: DownloadProgress): void => {
        progress.push({ ...p });
        if (p.file === 'model.safetensors' && p.bytesDone === 25_000) controller.abort();
      };
      const started = Date.now();
      await assert.rejects(
        downloadModel(REPO, options(hub, cacheDir, { signal: controller.signal, onProgress })),
        (error) => isEngineError(error) && error.code === 'CANCELLED',
      );
      assert.ok(Date.now() - started < 20_000);
      assert.deepEqual(
        progress.filter((p) => p.file === 'model.safetensors').map((p) => p.bytesDone),
        [25_000],
        "the other download's progress, reported while waiting",
      );
      assert.equal(hub.bodyRequests('model.safetensors').length, 0, 'nothing downloaded beside the owner');
      assert.equal(await readFile(lock, 'utf8'), lockText, "the owner's lock is untouched");
      assert.equal((await readFile(partial)).byteLength, 25_000, "the owner's partial file is untouched");
    } finally {
      await hub.close();
    }
  });

  test('a download whose lock was taken over does not publish its file: it waits for the new owner, then verifies and finishes', async () => {
    const hub = await FakeHubServer.start([{ id: REPO, files: tinyModelFiles({ weightBytes: 100_000 }) }]);
    try {
      const cacheDir = await tempCache();
      const weights = hub.fileOf(REPO, 'model.safetensors');
      hub.throttleFile(REPO, 'model.safetensors', { chunkBytes: 8192, delayMs: 20 });
      const lock = join(lockDir(cacheDir), `${weights.sha256}.circuit-trace.lock`);
      let takenOver = false;
      let released = false;
      const onProgress = (p: DownloadProgress): void => {
        if (takenOver || p.file !== 'model.safetensors' || p.bytesDone < 20_000) return;
        takenOver = true;
        // Another live process takes the lock over (as if this one had stalled past the stale age)...
        writeFileSync(lock, JSON.stringify({ pid: process.pid, hostname: hostname(), acquiredAt: Date.now(), token: 'the-new-owner' }));
        // ...and gives it back a little later without having touched the file.
        setTimeout(() => {
          released = true;
          rmSync(lock, { force: true });
        }, 1500);
      };
      const folder = await downloadModel(REPO, options(hub, cacheDir, { onProgress }));
      assert.ok(takenOver && released, 'the download finished only after the new owner released the lock');
      assert.deepEqual(await readFile(join(folder, 'model.safetensors')), weights.content);
      assert.deepEqual(await readdir(lockDir(cacheDir)), []);
    } finally {
      await hub.close();
    }
  });
});

describe('the lock held by a download', () => {
  test('a lock missing for a moment (a waiter renamed it aside, saw it was fresh and put it back) is still held', async () => {
    // Before: the owner's first read after the rename found no file and gave the lock up for good.
    const path = join(await tempCache(), 'x.circuit-trace.lock');
    const lock = await acquireBlobLock(path);
    const aside = `${path}.aside`;
    await rename(path, aside);
    setTimeout(() => void link(aside, path).then(() => rm(aside)), 10);
    assert.equal(await lock.stillHeld(), true);
    await lock.release();
    assert.deepEqual(await readdir(join(path, '..')), [], 'released: the lock file is gone');
  });

  test('an owner whose lock was taken over stops writing within a few megabytes, not at its next refresh', async () => {
    // Before: the owner read only its cached `held`, refreshed every 10 s, and wrote the whole rest
    // of the file into the partial file the new owner was about to write.
    const hub = await FakeHubServer.start([{ id: REPO, files: tinyModelFiles({ weightBytes: 16_000_000 }) }]);
    try {
      const cacheDir = await tempCache();
      const weights = hub.fileOf(REPO, 'model.safetensors');
      hub.throttleFile(REPO, 'model.safetensors', { chunkBytes: 65_536, delayMs: 5 });
      const lock = join(lockDir(cacheDir), `${weights.sha256}.circuit-trace.lock`);
      let takenOverAt = -1;
      let mostWhileTakenOver = -1;
      let released = false;
      const onProgress = (p: DownloadProgress): void => {
        if (p.file !== 'model.safetensors') return;
        if (takenOverAt >= 0 && !released) mostWhileTakenOver = Math.max(mostWhileTakenOver, p.bytesDone);
        if (takenOverAt >= 0 || p.bytesDone < 1_000_000) return;
        takenOverAt = p.bytesDone;
        writeFileSync(lock, JSON.stringify({ pid: process.pid, hostname: hostname(), acquiredAt: Date.now(), token: 'the-new-owner' }));
        setTimeout(() => {
          released = true;
          rmSync(lock, { force: true });
        }, 3000);
      };
      const folder = await downloadModel(REPO, options(hub, cacheDir, { onProgress }));
      assert.ok(takenOverAt > 0 && released);
      const writtenAfter = mostWhileTakenOver - takenOverAt;
      assert.ok(writtenAfter <= 4 * 1024 * 1024 + 65_536, `wrote ${writtenAfter} bytes after losing the lock`);
      assert.deepEqual(await readFile(join(folder, 'model.safetensors')), weights.content);
    } finally {
      await hub.close();
    }
  });
});

/** fetch that refuses anything but the local fake Hub, so no test can reach the internet. */
const localFetch: typeof fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.hostname !== '127.0.0.1') throw new Error(`test tried to reach ${url.href}`);
  return fetch(input, init);
};

function options(hub: FakeHubServer, cacheDir: string, extra: DownloadModelOptions = {}): DownloadModelOptions {
  return { cacheDir, endpoint: hub.endpoint, offline: false, fetch: localFetch, ...extra };
}

/** Writes a lock file for the blob `etag` as another process would have; returns its path. */
async function plantLock(cacheDir: string, etag: string, owner: { pid: number; hostname: string }): Promise<string> {
  const path = join(lockDir(cacheDir), `${etag}.circuit-trace.lock`);
  await mkdir(lockDir(cacheDir), { recursive: true });
  await writeFile(path, JSON.stringify({ ...owner, acquiredAt: Date.now(), token: 'planted-by-the-test' }));
  return path;
}
