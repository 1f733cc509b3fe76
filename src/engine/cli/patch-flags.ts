/** Flags shared by `circuit-trace patch`'s kinds: integers, the clean and corrupted prompts (text or ids), target and contrast tokens. */
import type { PatchRequest, TokenRef } from '../../protocol/engine.js';
import { EngineError } from '../errors.js';
import type { CliFlags } from './command.js';
import { idsFlag, stringFlag } from './model-arg.js';

export function optionalInt(flags: CliFlags, name: string): number | undefined {
  const v = stringFlag(flags, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim())) throw new EngineError('BAD_ARGUMENT', `--${name} must be a non-negative integer (got "${v}").`);
  return Number(v);
}

export function tokenFlag(flags: CliFlags, textName: string, idName: string): TokenRef | undefined {
  const text = stringFlag(flags, textName);
  const id = optionalInt(flags, idName);
  if (text !== undefined && id !== undefined) throw new EngineError('BAD_ARGUMENT', `Give --${textName} or --${idName}, not both.`);
  if (id !== undefined) return { id };
  return text !== undefined ? { text } : undefined;
}

export function promptFlags(
  flags: CliFlags,
  role: 'clean' | 'corrupt',
): Pick<PatchRequest, 'clean' | 'cleanIds'> | Pick<PatchRequest, 'corrupt' | 'corruptIds'> {
  const text = stringFlag(flags, role);
  const ids = idsFlag(flags, `${role}-ids`);
  if ((text === undefined) === (ids === undefined)) throw new EngineError('BAD_ARGUMENT', `patch needs exactly one of --${role} TEXT or --${role}-ids 1,2,3.`);
  if (role === 'clean') return text !== undefined ? { clean: text } : { cleanIds: ids! };
  return text !== undefined ? { corrupt: text } : { corruptIds: ids! };
}
