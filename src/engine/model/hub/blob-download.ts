/**
 * Brings one repo file into the cache: resumable download into blobs/{etag}.incomplete, checksum
 * of the bytes on disk against the Hub's metadata, then an atomic rename to blobs/{etag} and a link
 * from the snapshot. An interruption at any point leaves either nothing, a resumable `.incomplete`,
 * or a verified blob. All of it happens under the blob's cross-process lock (blob-lock.ts), so two
 * processes never write one `.incomplete` together: the second waits, reporting the first one's
 * progress, and then finds the verified blob (or resumes the partial file if the first one died).
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileDownloadInfo } from '@huggingface/hub';
import type { DownloadProgress } from '../../../protocol/engine.js';
import { EngineError } from '../../errors.js';
import { assertSafeRelativePath, joinRelativePath } from '../shard-path.js';
import { acquireBlobLock, type HeldBlobLock } from './blob-lock.js';
import { blobLockPath, blobPath, incompleteBlobPath, placeBlobInSnapshot, snapshotFolder } from './cache-layout.js';
import { authorizationFor } from './origin-bound-auth.js';
import { cancelledError, describeNetworkError, isAbortError, retryHint, type HubErrorContext } from './hub-errors.js';

/** A repo file as the Hub's paths-info describes it. */
export interface HubFile {
  /** Repo-relative path, `/`-separated (e.g. `model.safetensors`). */
  path: string;
  /** Size of the contents in bytes. */
  size: number;
  /** sha256 of the contents; present for LFS files (and then the blob's name). */
  lfsSha256?: string;
  /** Git blob sha1: of the contents for regular files (then the blob's name), of the pointer for LFS files. */
  gitOid?: string;
}

export interface BlobDownloadContext {
  cacheDir: string;
  repo: string;
  /** The commit being downloaded; every file is fetched at this commit. */
  commit: string;
  /** Hub base URL without trailing slash. */
  endpoint: string;
  /** fetch already bound to the cancellation signal. */
  fetch: typeof fetch;
  accessToken?: string;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  errors: HubErrorContext;
}

/** The digest a file must have, as huggingface_hub names its blobs. */
interface ExpectedDigest {
  /** The blob's file name: sha256 for LFS files, git blob sha1 otherwise. */
  etag: string;
  kind: 'sha256' | 'git-sha1';
  start(): Hash;
}

function expectedDigest(file: HubFile, repo: string): ExpectedDigest {
  if (file.lfsSha256) return { etag: file.lfsSha256.toLowerCase(), kind: 'sha256', start: () => createHash('sha256') };
  if (file.gitOid) {
    // Git names a blob by sha1("blob <size>\0" + contents).
    return { etag: file.gitOid.toLowerCase(), kind: 'git-sha1', start: () => createHash('sha1').update(`blob ${file.size}\0`) };
  }
  throw new EngineError(
    'DOWNLOAD_FAILED',
    `The Hub gave no hash for ${file.path} of ${repo}, so it cannot be verified.`,
    'Check that HF_ENDPOINT points at a Hugging Face Hub.',
  );
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

/** The digest of a file's bytes as they are on disk. */
async function digestOfFile(path: string, digest: ExpectedDigest): Promise<string> {
  const hash: Hash = digest.start();
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Thrown inside a download whose lock another process took over as stale: stop writing, wait again. */
class BlobLockLost extends Error {}

/** How many times a download may lose its lock before it gives up with LOCKED. */
const MAX_LOCK_LOSSES = 3;

/** Reports progress at the start, at the end and every ~0.1% in between (at most ~1000 calls per file). */
function progressReporter(file: HubFile, onProgress: BlobDownloadContext['onProgress']): (bytesDone: number) => void {
  const step = Math.max(1, Math.floor(file.size / 1000));
  let last = -1;
  return (bytesDone) => {
    if (!onProgress) return;
    if (last >= 0 && bytesDone !== file.size && bytesDone - last < step) return;
    if (bytesDone === last) return;
    last = bytesDone;
    onProgress({ file: file.path, bytesDone, bytesTotal: file.size });
  };
}

/**
 * Requests the file body from `offset` on. This is the one hand-written HTTP request of the
 * downloader: the library's `downloadFile` returns a Blob whose `slice()` does send a Range
 * header, but it never checks that the reply is a 206 for that range (a proxy or mirror that
 * ignores Range would silently append the whole file to the partial one) and it turns HTTP
 * errors into bare strings. Here the reply is checked: 206 with the right Content-Range continues
 * the partial file; 200 means the range was ignored and the download starts again from byte 0.
 */
async function requestFrom(url: string, offset: number, file: HubFile, context: BlobDownloadContext): Promise<{ response: Response; offset: number }> {
  const headers: Record<string, string> = {
    // Byte offsets must count bytes of the file itself, not of a compressed transfer.
    'Accept-Encoding': 'identity',
    // The URL may be the Hub's CDN on another origin: the token goes to the Hub only.
    ...authorizationFor(url, context.endpoint, context.accessToken),
    // Open-ended range: everything from the first byte the partial file lacks.
    ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}),
  };
  const response = await context.fetch(url, { headers });
  if (offset > 0 && response.status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
    if (range && Number(range[1]) === offset && Number(range[2]) === file.size - 1 && (range[3] === '*' || Number(range[3]) === file.size)) {
      return { response, offset };
    }
    await response.body?.cancel();
    throw new EngineError(
      'DOWNLOAD_FAILED',
      `The server answered the resume of ${file.path} with the wrong range (${response.headers.get('content-range') ?? 'none'}).`,
      retryHint(context.errors),
    );
  }
  if (response.status === 200) return { response, offset: 0 };
  await response.body?.cancel();
  if (response.status === 404) {
    throw new EngineError(
      'MODEL_FILE_MISSING',
      `${file.path} of ${context.repo} (commit ${context.commit}) is not on the Hub any more.`,
      'Load the model again to pick up the current revision.',
    );
  }
  throw new EngineError(
    'DOWNLOAD_FAILED',
    `The Hub answered HTTP ${response.status} when downloading ${file.path} of ${context.repo}.`,
    retryHint(context.errors),
  );
}

/** Bytes written between two reads of the lock file during a download. */
const LOCK_CHECK_BYTES = 4 * 1024 * 1024;

/** Appends the response body to the partial file while `lock` is held; returns the final size. */
async function appendBody(
  response: Response,
  partialPath: string,
  offset: number,
  lock: HeldBlobLock,
  file: HubFile,
  context: BlobDownloadContext,
  report: (bytes: number) => void,
): Promise<number> {
  if (!response.body) throw new EngineError('DOWNLOAD_FAILED', `The Hub sent no body for ${file.path}.`, retryHint(context.errors));
  const handle = await open(partialPath, offset > 0 ? 'a' : 'w');
  const reader = response.body.getReader();
  let done = offset;
  let lastLockCheck = offset;
  try {
    for (;;) {
      if (context.signal?.aborted) throw cancelledError();
      // `held` is refreshed every REFRESH_MS; read the lock file itself every few megabytes, so an
      // owner whose lock was taken over stops before it writes much into the new owner's file.
      if (done - lastLockCheck >= LOCK_CHECK_BYTES) {
        lastLockCheck = done;
        if (!(await lock.stillHeld())) throw new BlobLockLost();
      } else if (!lock.held) throw new BlobLockLost();
      const chunk = await reader.read();
      if (chunk.done) break;
      if (done + chunk.value.byteLength > file.size) {
        throw new EngineError(
          'CHECKSUM_MISMATCH',
          `The server sent more than the ${file.size} bytes of ${file.path} of ${context.repo}.`,
          'Load the model again to download it afresh.',
        );
      }
      let written = 0;
      while (written < chunk.value.byteLength) {
        written += (await handle.write(chunk.value, written, chunk.value.byteLength - written)).bytesWritten;
      }
      done += chunk.value.byteLength;
      report(done);
    }
    await handle.sync(); // the rename that follows must not publish bytes still in flight to disk
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof BlobLockLost) throw error; // the partial file is the new owner's now
    if (context.signal?.aborted || isAbortError(error)) throw cancelledError();
    if (error instanceof EngineError) {
      if (error.code === 'CHECKSUM_MISMATCH') await rm(partialPath, { force: true });
      throw error;
    }
    throw new EngineError(
      'DOWNLOAD_FAILED',
      `Downloading ${file.path} of ${context.repo} stopped after ${done} of ${file.size} bytes: ${describeNetworkError(error)}.`,
      retryHint(context.errors),
    );
  } finally {
    await handle.close();
  }
  if (done !== file.size) {
    throw new EngineError(
      'DOWNLOAD_FAILED',
      `The connection closed after ${done} of ${file.size} bytes of ${file.path} of ${context.repo}.`,
      retryHint(context.errors),
    );
  }
  return done;
}

/**
 * Makes snapshots/{commit}/{file.path} exist with verified contents, downloading (or resuming)
 * only what the cache lacks. A second call for the same blob, from this process or another one,
 * waits for the first under the blob's lock, then finds its result (or resumes its partial file
 * if it failed).
 * @returns the snapshot file's path
 */
export async function fetchFileIntoSnapshot(context: BlobDownloadContext, file: HubFile): Promise<string> {
  const digest = expectedDigest(file, context.repo);
  return fetchUnderBlobLock(context, file, digest, blobPath(context.cacheDir, context.repo, digest.etag));
}

async function fetchUnderBlobLock(context: BlobDownloadContext, file: HubFile, digest: ExpectedDigest, blob: string): Promise<string> {
  assertSafeRelativePath(file.path, `The Hub's file list of ${context.repo}`);
  const snapshotFile = joinRelativePath(snapshotFolder(context.cacheDir, context.repo, context.commit), file.path);
  const report = progressReporter(file, context.onProgress);
  if ((await sizeOf(snapshotFile)) === file.size) {
    report(file.size); // a cache hit takes no lock
    return snapshotFile;
  }
  const partial = incompleteBlobPath(context.cacheDir, context.repo, digest.etag);
  const lockPath = blobLockPath(context.cacheDir, context.repo, digest.etag);
  for (let losses = 0; ; losses++) {
    const lock = await acquireBlobLock(lockPath, {
      ...(context.signal ? { signal: context.signal } : {}),
      // While another process downloads the blob, its partial file's size is this file's progress.
      onWait: async () => {
        const done = await sizeOf(partial);
        if (done !== null && done <= file.size) report(done);
      },
    });
    try {
      return await fillBlobUnderLock(context, file, digest, { blob, partial, snapshotFile }, lock, report);
    } catch (error) {
      if (!(error instanceof BlobLockLost)) throw error;
      if (losses + 1 >= MAX_LOCK_LOSSES) {
        throw new EngineError(
          'LOCKED',
          `Another process kept taking over the download of ${file.path} of ${context.repo} (its lock ${lockPath}).`,
          'Close the other window or command that is downloading this model, or wait for it to finish, then load the model again.',
        );
      }
    } finally {
      await lock.release();
    }
  }
}

/** The download itself, run only while this process holds the blob's lock. */
async function fillBlobUnderLock(
  context: BlobDownloadContext,
  file: HubFile,
  digest: ExpectedDigest,
  paths: { blob: string; partial: string; snapshotFile: string },
  lock: HeldBlobLock,
  report: (bytesDone: number) => void,
): Promise<string> {
  const { blob, partial, snapshotFile } = paths;
  // Another process may have finished it while this one waited for the lock.
  if ((await sizeOf(snapshotFile)) === file.size) {
    report(file.size);
    return snapshotFile;
  }
  if ((await sizeOf(blob)) === file.size) {
    // Another revision, or another process, already holds these bytes (blobs are content-addressed).
    await placeBlobInSnapshot(blob, snapshotFile, { newBlob: false });
    report(file.size);
    return snapshotFile;
  }

  await mkdir(dirname(partial), { recursive: true });
  let offset = (await sizeOf(partial)) ?? 0;
  if (offset > file.size) {
    await rm(partial, { force: true }); // not a prefix of this file: start over
    offset = 0;
  }

  if (offset === file.size) {
    report(offset); // finished earlier but not yet verified: only the checks below remain
  } else {
    if (context.signal?.aborted) throw cancelledError();
    // The library's file-info call resolves the download URL (following the Hub's redirect to
    // its CDN) and reports the size the Hub will serve, which must match paths-info.
    const info = await fileDownloadInfo({
      repo: context.repo,
      path: file.path,
      revision: context.commit,
      hubUrl: context.endpoint,
      fetch: context.fetch,
      accessToken: context.accessToken,
    });
    if (!info) {
      throw new EngineError(
        'MODEL_FILE_MISSING',
        `${file.path} of ${context.repo} (commit ${context.commit}) is not on the Hub.`,
        'Load the model again to pick up the current revision.',
      );
    }
    if (info.size !== file.size) {
      throw new EngineError(
        'DOWNLOAD_FAILED',
        `The Hub reports two sizes for ${file.path} of ${context.repo} (${info.size} and ${file.size} bytes).`,
        retryHint(context.errors),
      );
    }
    const started = await requestFrom(info.url, offset, file, context);
    // When the server ignored the range, the body is the whole file, written from byte 0.
    offset = started.offset;
    // Reported only now that the server has confirmed where the body starts, so progress
    // never goes backwards.
    report(offset);
    await appendBody(started.response, partial, offset, lock, file, context, report);
  }

  // The bytes checked are the bytes on disk that the rename publishes, not the bytes this process
  // received: nothing another writer could have done to the file gets into the cache unverified.
  if (!(await lock.stillHeld())) throw new BlobLockLost();
  const actual = await digestOfFile(partial, digest);
  if (actual !== digest.etag) {
    await rm(partial, { force: true });
    throw new EngineError(
      'CHECKSUM_MISMATCH',
      `${file.path} of ${context.repo} is corrupt: its ${digest.kind} is ${actual}, the Hub says ${digest.etag}. The damaged download was deleted.`,
      'Load the model again to download it afresh; if this repeats, a proxy or the HF_ENDPOINT mirror is altering the file.',
    );
  }
  if (!(await lock.stillHeld())) throw new BlobLockLost();
  await rename(partial, blob);
  await placeBlobInSnapshot(blob, snapshotFile, { newBlob: true });
  return snapshotFile;
}
