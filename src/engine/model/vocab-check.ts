/**
 * Refuses, at load, a tokenizer that does not belong to the weights. Without this check a
 * mismatch surfaces much later as a misleading "token id not in the vocabulary", or as prompt
 * characters whose tokens silently index the wrong embedding rows.
 *
 * The rule, with T = the tokenizer's size (its highest id + 1) and V = the embedding's rows
 * (W_E, which the adapter has checked against config.json's vocab_size):
 *  - T > V is always refused: the tokenizer makes ids the model has no row for.
 *  - V > T is how GPT-2-family checkpoints pad their vocabulary (nanoGPT's 50257 -> 50304,
 *    Pythia's 50277 -> 50304): allowed up to the next multiple of 128 above T, or of the multiple
 *    config.json declares (`pad_vocab_size_multiple`, or Megatron's `make_vocab_size_divisible_by`).
 *    A tokenizer much smaller than that is another model's and is refused.
 */
import { EngineError } from '../errors.js';

/** The padding every checkpoint may have without declaring it: 64 and 128 cover the common ones. */
export const DEFAULT_VOCAB_PADDING_MULTIPLE = 128;

/** The padding multiple config.json declares, if any. */
function declaredPaddingMultiple(rawConfig: Readonly<Record<string, unknown>>): number | null {
  for (const key of ['pad_vocab_size_multiple', 'make_vocab_size_divisible_by']) {
    const value = rawConfig[key];
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  }
  return null;
}

/**
 * Throws VOCAB_MISMATCH unless a tokenizer of `tokenizerSize` ids fits an embedding of `embeddingRows`
 * rows under the rule above. `folder` names the model in the message.
 */
export function assertVocabularyMatches(tokenizerSize: number, embeddingRows: number, rawConfig: Readonly<Record<string, unknown>>, folder: string): void {
  if (tokenizerSize > embeddingRows) {
    throw new EngineError(
      'VOCAB_MISMATCH',
      `The tokenizer of ${folder} has ${tokenizerSize} token ids but the model's embedding (W_E, config.json vocab_size) has only ${embeddingRows} rows, so ids ${embeddingRows} to ${tokenizerSize - 1} have no embedding.`,
      'tokenizer.json belongs to another model: use the tokenizer.json that came with these weights.',
    );
  }
  const declared = declaredPaddingMultiple(rawConfig);
  const multiple = Math.max(DEFAULT_VOCAB_PADDING_MULTIPLE, declared ?? 0);
  const largestPadded = Math.ceil(tokenizerSize / multiple) * multiple;
  if (embeddingRows > largestPadded) {
    throw new EngineError(
      'VOCAB_MISMATCH',
      `The tokenizer of ${folder} has ${tokenizerSize} token ids but the model's embedding (W_E, config.json vocab_size) has ${embeddingRows} rows, ` +
        `more than padding to a multiple of ${multiple} explains (at most ${largestPadded}).`,
      'tokenizer.json probably belongs to another model: use the one that came with these weights. If the vocabulary really is padded this much, say so in config.json with "pad_vocab_size_multiple".',
    );
  }
}
