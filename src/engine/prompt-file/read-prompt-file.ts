/**
 * Reads a `.prompt` file from disk for the CLI. Only the head that the parser can use is read
 * (a UTF-16 code unit takes at most 3 bytes of UTF-8), so a huge file costs no more memory or time
 * than a file at the cap; the parser then reports it as too large.
 */
import { open, stat } from 'node:fs/promises';
import { EngineError } from '../errors.js';
import { MAX_PROMPT_FILE_LENGTH } from './parser.js';

/** Enough bytes to decode more than MAX_PROMPT_FILE_LENGTH code units, whatever the characters. */
export const MAX_PROMPT_FILE_BYTES_READ = 3 * MAX_PROMPT_FILE_LENGTH + 4;

export async function readPromptFileText(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new EngineError('BAD_ARGUMENT', `No file ${path}.`, 'Give the path of a .prompt file.');
  if (!info.isFile()) throw new EngineError('BAD_ARGUMENT', `${path} is not a file.`, 'Give the path of a .prompt file.');
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(info.size, MAX_PROMPT_FILE_BYTES_READ));
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    // Like VS Code: UTF-8, a byte order mark dropped, invalid bytes as U+FFFD.
    return new TextDecoder('utf-8').decode(buffer.subarray(0, filled));
  } finally {
    await handle.close();
  }
}
