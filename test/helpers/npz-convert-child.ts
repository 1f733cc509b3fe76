/**
 * A separate process that converts one Gemma Scope params.npz into params.safetensors, for tests of
 * two processes converting at once.
 *
 *   node --import tsx test/helpers/npz-convert-child.ts PATH_TO_PARAMS_NPZ
 *
 * Prints one JSON line: {"ok":true,"converted":BOOLEAN} or {"ok":false,"code":...,"message":...}.
 */
import { isEngineError } from '../../src/engine/errors.js';
import { ensureConverted } from '../../src/engine/features/gemma-scope.js';

const [npz] = process.argv.slice(2);
if (!npz) throw new Error('usage: npz-convert-child.ts PARAMS_NPZ');

async function main(npz: string): Promise<void> {
  try {
    const { converted } = await ensureConverted(npz);
    process.stdout.write(`${JSON.stringify({ ok: true, converted })}\n`);
  } catch (error) {
    process.stdout.write(
      `${JSON.stringify({ ok: false, code: isEngineError(error) ? error.code : 'THROWN', message: String(error instanceof Error ? error.message : error) })}\n`,
    );
    process.exitCode = 1;
  }
}

void main(npz);
