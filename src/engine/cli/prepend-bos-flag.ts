/**
 * `--prepend-bos` / `--no-prepend-bos`, shared by analyze, patch and run: whether a text prompt
 * gets the model's BOS at position 0 (TransformerLens's prepend_bos). Absent: undefined, the
 * engine's default (on when the model has a BOS token). Token ids given with --ids are always
 * used exactly as given.
 */
import { EngineError } from '../errors.js';
import type { CliFlags } from './command.js';

export function prependBosFlag(flags: CliFlags): boolean | undefined {
  const on = flags.get('prepend-bos');
  const off = flags.get('no-prepend-bos');
  for (const [name, value] of [
    ['prepend-bos', on],
    ['no-prepend-bos', off],
  ] as const) {
    if (value !== undefined && value !== true) throw new EngineError('BAD_ARGUMENT', `--${name} takes no value (got "${value}").`);
  }
  if (on && off) throw new EngineError('BAD_ARGUMENT', 'Give --prepend-bos or --no-prepend-bos, not both.');
  if (on) return true;
  if (off) return false;
  return undefined;
}
