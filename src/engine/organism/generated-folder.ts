/**
 * Generates a folder once, atomically: when `dir` is absent, incomplete or from an older design,
 * the content is written into a temporary sibling folder and renamed into place, so that no reader
 * ever sees a half-written folder; a concurrent generator that wins the race is accepted. Used for
 * the organism (organism-folder.ts) and its transcoder (transcoder-folder.ts).
 */
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { EngineError } from '../errors.js';

export interface GeneratedFolder {
  /** Whether a folder holds complete, current content. */
  isComplete(dir: string): Promise<boolean>;
  /** Writes the content into a new folder. */
  write(dir: string): Promise<unknown>;
  /** What it is, for messages: "the model organism". */
  what: string;
}

/** Makes sure `dir` holds the content and returns `dir`. */
export async function ensureGeneratedFolder(dir: string, folder: GeneratedFolder): Promise<string> {
  if (await folder.isComplete(dir)) return dir;
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const temp = join(dirname(dir), `.${basename(dir)}.tmp-${tag}`);
  try {
    await folder.write(temp);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    if (error instanceof EngineError) throw error;
    throw new EngineError(
      'INTERNAL',
      `Could not write ${folder.what} into ${dirname(dir)}: ${(error as Error).message}`,
      'Check that the folder is writable and the disk is not full.',
    );
  }
  // Another process may have finished first while this one was writing: keep its folder.
  if (await folder.isComplete(dir)) {
    await rm(temp, { recursive: true, force: true });
    return dir;
  }
  // Move an old or broken folder out of the way (rename over a non-empty folder fails).
  const stale = join(dirname(dir), `.${basename(dir)}.old-${tag}`);
  const hadOld = await rename(dir, stale).then(
    () => true,
    () => false,
  );
  try {
    await rename(temp, dir);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    // Another process put a complete folder there first.
    if (!(await folder.isComplete(dir))) {
      throw new EngineError('INTERNAL', `Could not move ${folder.what} into ${dir}: ${(error as Error).message}`, 'Check that the folder is writable.');
    }
  }
  if (hadOld) await rm(stale, { recursive: true, force: true });
  return dir;
}
