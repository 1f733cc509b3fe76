/** Checks of a run's token ids against the model, with the errors a user can act on. */
import { EngineError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';

export function checkIds(ids: readonly number[], config: Pick<ModelConfig, 'nCtx' | 'dVocab'>): void {
  if (ids.length === 0) throw new EngineError('EMPTY_PROMPT', 'The prompt is empty.', 'Select some text to analyse.');
  if (ids.length > config.nCtx) {
    throw new EngineError('PROMPT_TOO_LONG', `The prompt has ${ids.length} tokens; this model's context holds ${config.nCtx}.`, 'Shorten the prompt.');
  }
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= config.dVocab) {
      throw new EngineError('BAD_ARGUMENT', `Token id ${id} is outside the vocabulary (0..${config.dVocab - 1}).`);
    }
  }
}

export function checkScoreTokens(tokens: readonly number[], config: Pick<ModelConfig, 'dVocab'>): readonly number[] {
  for (const t of tokens) {
    if (!Number.isInteger(t) || t < 0 || t >= config.dVocab)
      throw new EngineError('BAD_ARGUMENT', `Scored token id ${t} is outside the vocabulary (0..${config.dVocab - 1}).`);
  }
  return tokens;
}
