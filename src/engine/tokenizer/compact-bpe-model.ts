/**
 * Moves the lookup tables of `@huggingface/tokenizers`' BPE model into compact tables (see
 * compact-strings.ts for why) once the library has built them.
 *
 * The library keeps, after its constructor: `tokens_to_ids` (token -> id, read by `get`/`has`),
 * `vocab` (id -> token, read by index), `bpe_ranks` (merge pair as JSON -> rank, read by `get`) and
 * `merges` (the list it built `bpe_ranks` from, not read again). These are its own fields, not its
 * API, so nothing is replaced unless each has the shape expected; the tokenizer tests check that
 * the installed version is compacted and still tokenizes as GPT-2's reference BPE does.
 */
import type { Tokenizer } from '@huggingface/tokenizers';
import { CompactStringList, CompactStringTable } from './compact-strings.js';

interface BpeTables {
  tokens_to_ids: unknown;
  vocab: unknown;
  bpe_ranks: unknown;
  merges?: unknown;
}

/** Replaces the BPE model's tables; false (and nothing changed) when the model is not as expected. */
export function compactBpeModel(library: Tokenizer): boolean {
  const model = (library as unknown as { model?: BpeTables }).model;
  // The library's models are callable objects (functions), not plain objects.
  if ((typeof model !== 'object' && typeof model !== 'function') || model === null) return false;
  const { tokens_to_ids: tokensToIds, vocab, bpe_ranks: ranks } = model;
  if (!(tokensToIds instanceof Map) || !(ranks instanceof Map) || !Array.isArray(vocab)) return false;
  let compact: Pick<BpeTables, 'tokens_to_ids' | 'vocab' | 'bpe_ranks'>;
  // The tables check their entries as they are built (string keys, integer values, string tokens).
  try {
    compact = {
      tokens_to_ids: new CompactStringTable(tokensToIds),
      vocab: new CompactStringList(vocab as Array<string | undefined>).asArrayLike(),
      bpe_ranks: new CompactStringTable(ranks),
    };
  } catch {
    return false;
  }
  Object.assign(model, compact);
  delete model.merges;
  return true;
}
