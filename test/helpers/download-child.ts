/**
 * A separate process that downloads one model, for tests of what two processes (two VS Code
 * windows, the CLI beside the extension) do to one cache at once.
 *
 *   node --import tsx test/helpers/download-child.ts REPO CACHE_DIR ENDPOINT
 *
 * Prints one JSON line: {"ok":true,"folder":...,"progressReports":N} or {"ok":false,"code":...,"message":...}.
 */
import { downloadModel } from '../../src/engine/model/hub/download.js';
import { isEngineError } from '../../src/engine/errors.js';

const [repo, cacheDir, endpoint] = process.argv.slice(2);
if (!repo || !cacheDir || !endpoint) throw new Error('usage: download-child.ts REPO CACHE_DIR ENDPOINT');
async function main(repo: string, cacheDir: string, endpoint: string): Promise<void> {
  let progressReports = 0;
  try {
    const folder = await downloadModel(repo, { cacheDir, endpoint, offline: false, onProgress: () => void progressReports++ });
    process.stdout.write(`${JSON.stringify({ ok: true, folder, progressReports })}\n`);
  } catch (error) {
    process.stdout.write(
      `${JSON.stringify({ ok: false, code: isEngineError(error) ? error.code : 'THROWN', message: String(error instanceof Error ? error.message : error) })}\n`,
    );
    process.exitCode = 1;
  }
}

void main(repo, cacheDir, endpoint);
