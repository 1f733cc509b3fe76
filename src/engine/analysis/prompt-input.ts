/**
 * Turning an AnalyzeRequest's prompt and token references into token ids, with the typed errors a
 * user can act on: an empty prompt, a prompt longer than the model or the configured limit, a
 * target "token" that is really several tokens.
 *
 * The BOS convention is TransformerLens's `prepend_bos=True`: a text prompt gets the model's BOS
 * token (GPT-2's <|endoftext|>) at position 0, shown as a token with no text in the prompt
 * (start = end = 0, `bos: true`); token ids are used exactly as given.
 */
import type { TokenInfo } from '../../protocol/analysis.js';
import type { TokenRef } from '../../protocol/engine.js';
import { EngineError } from '../errors.js';
import type { PromptTokenizer, Tokenized } from '../tokenizer/types.js';

export interface ResolvedPrompt {
  /** The prompt text (for ids, their decoding). */
  prompt: string;
  /** What the model runs on, the BOS first when one was prepended. */
  ids: number[];
  tokens: TokenInfo[];
  /** Whether ids[0] is a prepended BOS. */
  prependBos: boolean;
}

export interface PromptLimits {
  /** The user's token limit (the BOS counts). */
  maxTokens: number;
  /** The model's context length. */
  nCtx: number;
  dVocab: number;
  /** The BOS id to prepend to a text prompt, null for none (see bosToPrepend). */
  prependBosId: number | null;
}

/**
 * The one rule every analysis, the census and patching follow: a text prompt gets the model's
 * BOS when the request asks (`prependBos`), or, when it does not say, by the model's default
 * (`defaultPrependBos`, absent = yes); a model without one gets none.
 */
export function bosToPrepend(config: { bosTokenId: number | null; defaultPrependBos?: boolean }, prependBos: boolean | undefined): number | null {
  return (prependBos ?? config.defaultPrependBos ?? true) ? config.bosTokenId : null;
}

export function resolvePrompt(tokenizer: PromptTokenizer, input: { prompt?: string; ids?: readonly number[] }, limits: PromptLimits): ResolvedPrompt {
  if (input.prompt !== undefined && input.ids !== undefined) {
    throw new EngineError('BAD_ARGUMENT', 'Give either a prompt text or token ids, not both.');
  }
  let resolved: ResolvedPrompt;
  if (input.ids !== undefined) {
    const ids = [...input.ids];
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= limits.dVocab) {
        throw new EngineError('BAD_ARGUMENT', `Token id ${id} is outside the model's vocabulary (0..${limits.dVocab - 1}).`);
      }
    }
    // Offsets index the concatenated token texts, which is what `prompt` holds.
    const tokens: TokenInfo[] = [];
    let offset = 0;
    for (const id of ids) {
      const text = tokenizer.tokenText(id);
      tokens.push({ id, text, start: offset, end: offset + text.length });
      offset += text.length;
    }
    resolved = { prompt: tokens.map((t) => t.text).join(''), ids, tokens, prependBos: false };
  } else {
    const prompt = input.prompt ?? '';
    const encoded: Tokenized = prompt.length === 0 ? { ids: [], texts: [], offsets: [] } : tokenizer.encode(prompt);
    const tokens = encoded.ids.map((id, i): TokenInfo => {
      const [start, end] = encoded.offsets[i] ?? [0, 0];
      const token: TokenInfo = { id, text: encoded.texts[i] ?? tokenizer.tokenText(id), start, end };
      return encoded.approximateOffsets ? { ...token, approximateSpan: true } : token;
    });
    resolved = { prompt, ids: [...encoded.ids], tokens, prependBos: false };
  }
  if (resolved.ids.length === 0) throw new EngineError('EMPTY_PROMPT', 'The prompt is empty.', 'Type some text (or give token ids) to analyse.');
  const bos = input.ids === undefined ? limits.prependBosId : null;
  if (bos !== null) {
    if (!Number.isInteger(bos) || bos < 0 || bos >= limits.dVocab)
      throw new EngineError('INTERNAL', `The model's BOS id ${bos} is outside its vocabulary (0..${limits.dVocab - 1}).`);
    resolved = {
      ...resolved,
      ids: [bos, ...resolved.ids],
      tokens: [{ id: bos, text: tokenizer.tokenText(bos), start: 0, end: 0, bos: true }, ...resolved.tokens],
      prependBos: true,
    };
  }
  const limit = Math.min(limits.maxTokens, limits.nCtx);
  if (resolved.ids.length > limit) {
    const which = limits.maxTokens < limits.nCtx ? `the token limit of ${limits.maxTokens}` : `the model's context of ${limits.nCtx} tokens`;
    const counted = resolved.prependBos ? ' with the BOS' : '';
    throw new EngineError(
      'PROMPT_TOO_LONG',
      `The prompt is ${resolved.ids.length} tokens${counted}, more than ${which}.`,
      limits.maxTokens < limits.nCtx ? 'Shorten the prompt or raise the maximum token setting.' : 'Shorten the prompt.',
    );
  }
  return resolved;
}

/** The id a TokenRef names; text must encode to exactly one token. */
export function resolveTokenRef(tokenizer: PromptTokenizer, ref: TokenRef, dVocab: number, role: 'target' | 'contrast'): number {
  if ('id' in ref) {
    if (!Number.isInteger(ref.id) || ref.id < 0 || ref.id >= dVocab) {
      throw new EngineError('BAD_ARGUMENT', `The ${role} token id ${ref.id} is outside the model's vocabulary (0..${dVocab - 1}).`);
    }
    return ref.id;
  }
  const encoded = ref.text.length === 0 ? { ids: [] as number[], texts: [] as string[] } : tokenizer.encode(ref.text);
  if (encoded.ids.length === 1) return encoded.ids[0]!;
  const shown = encoded.ids.map((id, i) => `${JSON.stringify(encoded.texts[i] ?? tokenizer.tokenText(id))} (${id})`).join(' + ');
  throw new EngineError(
    'NOT_SINGLE_TOKEN',
    `The ${role} ${JSON.stringify(ref.text)} is ${encoded.ids.length} tokens${encoded.ids.length > 0 ? `: ${shown}` : ''}; it must be exactly one.`,
    'Pick a single token (GPT-2 tokens usually carry their leading space, e.g. " mat"), or give its id.',
  );
}
