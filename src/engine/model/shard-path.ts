/**
 * The one rule for file paths that come from someone else's index (a sharded checkpoint's
 * `weight_map`, the Hub's file list): the downloader writes them into the snapshot and the loader
 * reads them from the model folder, so both must agree on what is allowed.
 *
 * Allowed: `/`-separated paths inside the folder, subfolders included (`shards/model-1.safetensors`).
 * Never: `..` or `.` segments, empty segments (`a//b`, a leading or trailing `/`), absolute paths,
 * backslashes, Windows drive letters (`C:`), NUL. Joining an allowed path onto a folder cannot
 * leave that folder on any platform.
 */
import { join } from 'node:path';
import { EngineError } from '../errors.js';

export function isSafeRelativePath(path: string): boolean {
  return (
    path.length > 0 &&
    !path.includes('\\') &&
    !path.includes('\0') &&
    !/^[a-zA-Z]:/.test(path) &&
    path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..')
  );
}

/** Throws CORRUPT_WEIGHTS unless `path` passes isSafeRelativePath; `source` names the index in the message. */
export function assertSafeRelativePath(path: string, source: string): void {
  if (!isSafeRelativePath(path)) {
    throw new EngineError(
      'CORRUPT_WEIGHTS',
      `${source} names the file "${path}", which is not a file inside the model folder.`,
      'The checkpoint is malformed; use another revision or an intact model folder.',
    );
  }
}

/** `folder` joined with an already-checked relative path, segment by segment (so `/` works on Windows too). */
export function joinRelativePath(folder: string, path: string): string {
  return join(folder, ...path.split('/'));
}
