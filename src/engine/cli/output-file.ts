/**
 * The file a command writes (`--out`): checked before any work starts, so a folder or a missing
 * parent folder is a typed error naming the path, not a raw EISDIR after the model has run; and
 * written through a temporary file beside it, renamed into place, so an interrupted write never
 * leaves a truncated file where an older one stood.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EngineError } from '../errors.js';

/** Throws BAD_ARGUMENT when `path` cannot be written as a file. */
export function checkOutputFile(path: string, flag = '--out'): void {
  const full = resolve(path);
  if (existsSync(full) && statSync(full).isDirectory()) {
    throw new EngineError('BAD_ARGUMENT', `${flag} ${path} is a folder.`, `Give a file path, e.g. ${join(path, 'cache.safetensors')}.`);
  }
  const parent = dirname(full);
  if (!existsSync(parent) || !statSync(parent).isDirectory()) {
    throw new EngineError('BAD_ARGUMENT', `${flag} ${path}: the folder ${parent} does not exist.`, 'Create it first, or write somewhere else.');
  }
}

/** Writes `bytes` to `path` atomically (a temporary file in the same folder, then a rename). */
export async function writeOutputFile(path: string, bytes: Uint8Array, flag = '--out'): Promise<void> {
  const full = resolve(path);
  const temporary = join(dirname(full), `.${basename(full)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    await writeFile(temporary, bytes);
    await rename(temporary, full);
  } catch (error) {
    await rm(temporary, { force: true });
    const reason = error instanceof Error ? error.message : String(error);
    throw new EngineError('BAD_ARGUMENT', `${flag} ${path} could not be written: ${reason}`);
  }
}
