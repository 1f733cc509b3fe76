/**
 * A PatchRequest's prompts and tokens as ids, with the errors a user can act on: a missing or
 * empty prompt (saying which), prompts of different token lengths, one prompt with a BOS and the
 * other without, a target or contrast that is not one token.
 */
import type { PatchRequest } from '../../protocol/engine.js';
import { resolvePrompt, resolveTokenRef, type PromptLimits, type ResolvedPrompt } from '../analysis/prompt-input.js';
import { EngineError, isEngineError } from '../errors.js';
import type { PromptTokenizer } from '../tokenizer/types.js';

export interface PatchInputs {
  clean: ResolvedPrompt;
  corrupt: ResolvedPrompt;
  targetId: number;
  contrastId: number | null;
}

function resolveRole(
  tokenizer: PromptTokenizer,
  role: 'clean' | 'corrupted',
  text: string | undefined,
  ids: number[] | undefined,
  limits: PromptLimits,
): ResolvedPrompt {
  const field = role === 'clean' ? 'clean' : 'corrupt';
  if (text === undefined && ids === undefined) {
    throw new EngineError('BAD_ARGUMENT', `Activation patching needs a ${role} prompt.`, `Give ${field} (text) or ${field}Ids (token ids).`);
  }
  try {
    return resolvePrompt(tokenizer, { ...(text !== undefined ? { prompt: text } : {}), ...(ids !== undefined ? { ids } : {}) }, limits);
  } catch (error) {
    if (!isEngineError(error)) throw error;
    // Say which of the two prompts is at fault; keep the code and the hint.
    const message = error.hint && error.message.endsWith(` ${error.hint}`) ? error.message.slice(0, -error.hint.length - 1) : error.message;
    throw new EngineError(error.code, `The ${role} prompt: ${message}`, error.hint);
  }
}

/** What patching reads of a request: the two prompts (text or ids), the BOS rule, the target and contrast. */
export type PatchPromptRequest = Pick<PatchRequest, 'clean' | 'corrupt' | 'cleanIds' | 'corruptIds' | 'prependBos' | 'target' | 'contrast'>;

export function resolvePatchInputs(tokenizer: PromptTokenizer, request: PatchPromptRequest, limits: PromptLimits): PatchInputs {
  const clean = resolveRole(tokenizer, 'clean', request.clean, request.cleanIds, limits);
  const corrupt = resolveRole(tokenizer, 'corrupted', request.corrupt, request.corruptIds, limits);
  if (clean.ids.length !== corrupt.ids.length) {
    const show = (p: ResolvedPrompt): string => p.tokens.map((t) => JSON.stringify(t.text)).join(' ');
    throw new EngineError(
      'LENGTH_MISMATCH',
      `The clean prompt is ${clean.ids.length} tokens and the corrupted prompt ${corrupt.ids.length}; patching needs the same length. ` +
        `Clean: ${show(clean)}. Corrupted: ${show(corrupt)}.`,
      'Edit the corrupted prompt so that it tokenizes to as many tokens as the clean one (swap words for words of the same token count).',
    );
  }
  if (!request.target)
    throw new EngineError('BAD_ARGUMENT', 'Activation patching needs a target token.', 'Give the token whose prediction the patch should restore.');
  const targetId = resolveTokenRef(tokenizer, request.target, limits.dVocab, 'target');
  const contrastId = request.contrast ? resolveTokenRef(tokenizer, request.contrast, limits.dVocab, 'contrast') : null;
  if (contrastId === targetId) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `The contrast token is the target token (${JSON.stringify(tokenizer.tokenText(targetId))}); their logit difference is always 0.`,
      'Pick a different contrast, or none.',
    );
  }
  if (clean.prependBos !== corrupt.prependBos) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `The ${clean.prependBos ? 'clean' : 'corrupted'} prompt got a BOS (it is text) and the ${clean.prependBos ? 'corrupted' : 'clean'} one did not (it is token ids, used as given).`,
      'Give both prompts as text or both as token ids (with the BOS id first if you want one).',
    );
  }
  return { clean, corrupt, targetId, contrastId };
}

/** The first position where the two prompts' tokens differ, or their length if they are identical. */
export function firstDifference(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
