/**
 * The prompt tokenizer: a Hugging Face `tokenizer.json` run by `@huggingface/tokenizers`, plus the
 * character offsets of every token, which that library does not report.
 *
 * Any model the library runs is accepted: BPE (byte-level, as GPT-2, Llama 3 and Qwen have, or
 * SentencePiece-style with "▁" for a space and <0xNN> byte-fallback tokens, as Llama 2, Mistral
 * and Gemma have), Unigram, WordLevel and WordPiece. Each token stands for known UTF-8 bytes of the
 * text (token-surface.ts), so offsets follow from walking the prompt's bytes alongside them.
 *
 * A token can end in the middle of a multi-byte character (an emoji is 4 bytes and often 2-3
 * byte-level or byte-fallback tokens). Spans must still be valid [start, end) ranges of the prompt
 * string, so a character belongs to the token that holds its LAST byte; tokens that only start a
 * character get an empty span at that character's start. Their `texts` entry decodes their bytes
 * alone and then holds U+FFFD for the incomplete sequence.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { EngineError } from '../errors.js';
import { alignTokenBytes } from './align-offsets.js';
import { compactBpeModel } from './compact-bpe-model.js';
import { tokenSurface, type SurfaceRules } from './token-surface.js';
import type { PromptTokenizer, Tokenized } from './types.js';

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badTokenizer(problem: string): EngineError {
  return new EngineError('BAD_TOKENIZER', `tokenizer.json ${problem}.`, 'Use the tokenizer.json that came with the model.');
}

/** The first component of a pre-tokenizer, normalizer or decoder config (or one inside a Sequence) that `match` accepts. */
function findComponent(component: unknown, match: (c: JsonObject) => boolean): JsonObject | undefined {
  if (!isObject(component)) return undefined;
  if (match(component)) return component;
  const children = component.pretokenizers ?? component.decoders ?? component.normalizers;
  if (!Array.isArray(children)) return undefined;
  for (const child of children) {
    const found = findComponent(child, match);
    if (found) return found;
  }
  return undefined;
}

/** The character that stands for a space in the vocabulary ("▁"), from a Metaspace step or a decoder's Replace back to " ". */
function metaspaceOf(json: JsonObject): string | null {
  const metaspace = findComponent(json.pre_tokenizer, (c) => c.type === 'Metaspace') ?? findComponent(json.decoder, (c) => c.type === 'Metaspace');
  if (metaspace) return typeof metaspace.replacement === 'string' ? metaspace.replacement : '▁';
  const replace = findComponent(json.decoder, (c) => c.type === 'Replace' && c.content === ' ' && isObject(c.pattern) && typeof c.pattern.String === 'string');
  return replace ? ((replace.pattern as JsonObject).String as string) : null;
}

interface AddedTokenInfo {
  id: number;
  content: string;
}

const MODEL_TYPES = ['BPE', 'Unigram', 'WordLevel', 'WordPiece'];

/** Checks the model section and returns the largest id its vocabulary uses. */
function validateModel(model: JsonObject): number {
  const type = model.type ?? (Array.isArray(model.vocab) ? 'Unigram' : 'merges' in model ? 'BPE' : undefined);
  if (typeof type !== 'string' || !MODEL_TYPES.includes(type)) {
    throw badTokenizer(`describes a ${String(model.type)} model; BPE, Unigram, WordLevel and WordPiece models are supported`);
  }
  let maxId = -1;
  if (type === 'Unigram') {
    if (!Array.isArray(model.vocab)) throw badTokenizer('has no "model.vocab" list of [piece, score] pairs');
    for (const entry of model.vocab as unknown[]) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number')
        throw badTokenizer('has a Unigram vocabulary entry that is not a [piece, score] pair');
    }
    if (model.unk_id !== undefined && model.unk_id !== null && (!Number.isSafeInteger(model.unk_id) || (model.unk_id as number) >= model.vocab.length)) {
      throw badTokenizer(`gives the Unigram model the unknown-token id ${String(model.unk_id)}`);
    }
    return model.vocab.length - 1;
  }
  if (!isObject(model.vocab)) throw badTokenizer('has no "model.vocab" object');
  if (type === 'BPE' && !Array.isArray(model.merges)) throw badTokenizer('has no "model.merges" list');
  for (const [token, id] of Object.entries(model.vocab)) {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw badTokenizer(`gives the token "${token}" the id ${String(id)}`);
    maxId = Math.max(maxId, id as number);
  }
  return maxId;
}

interface Validated {
  json: JsonObject;
  added: AddedTokenInfo[];
  vocabSize: number;
  rules: SurfaceRules;
  /** The token an unknown piece of text becomes, if the model has one. */
  unkToken: string | null;
}

/** Checks the parts of tokenizer.json this module relies on, before the library sees it. */
function validate(json: unknown): Validated {
  if (!isObject(json)) throw badTokenizer('is not a JSON object');
  const model = json.model;
  if (!isObject(model)) throw badTokenizer('has no "model" object');
  let maxId = validateModel(model);
  const addedJson = json.added_tokens ?? [];
  if (!Array.isArray(addedJson)) throw badTokenizer('has an "added_tokens" that is not a list');
  const added: AddedTokenInfo[] = [];
  for (const entry of addedJson) {
    if (!isObject(entry) || !Number.isSafeInteger(entry.id) || (entry.id as number) < 0 || typeof entry.content !== 'string' || entry.content === '') {
      throw badTokenizer('has an added token without an integer id and a content string');
    }
    added.push({ id: entry.id as number, content: entry.content });
    maxId = Math.max(maxId, entry.id as number);
  }
  if (maxId < 0) throw badTokenizer('has an empty vocabulary');
  const byteLevel =
    findComponent(json.pre_tokenizer, (c) => c.type === 'ByteLevel') !== undefined || findComponent(json.decoder, (c) => c.type === 'ByteLevel') !== undefined;
  const rules: SurfaceRules = {
    byteLevel,
    byteFallback: model.byte_fallback === true,
    metaspace: byteLevel ? null : metaspaceOf(json),
    continuingSubwordPrefix: model.type === 'WordPiece' && typeof model.continuing_subword_prefix === 'string' ? model.continuing_subword_prefix : null,
    endOfWordSuffix: typeof model.end_of_word_suffix === 'string' && model.end_of_word_suffix !== '' ? model.end_of_word_suffix : null,
  };
  const unkToken =
    typeof model.unk_token === 'string'
      ? model.unk_token
      : Array.isArray(model.vocab) && Number.isSafeInteger(model.unk_id)
        ? ((model.vocab[model.unk_id as number] as [string, number])[0] ?? null)
        : null;
  // The library iterates added_tokens unconditionally.
  return { json: { ...json, added_tokens: addedJson }, added, vocabSize: maxId + 1, rules, unkToken };
}

/** Loads a tokenizer from the content of a tokenizer.json file (text or parsed). */
export function loadTokenizer(tokenizerJson: object | string): PromptTokenizer {
  let parsed: unknown = tokenizerJson;
  if (typeof tokenizerJson === 'string') {
    try {
      parsed = JSON.parse(tokenizerJson);
    } catch (error) {
      throw badTokenizer(`is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  const { json, added, vocabSize, rules, unkToken } = validate(parsed);
  // The library keeps the model config it is given, whose vocabulary object and merges list it has
  // copied into maps of its own by the time the constructor returns. It gets a copy of that config,
  // whose two big entries are dropped afterwards, and a BPE model's own maps are then made compact:
  // for GPT-2 some 14 MB and 200 000 objects less of the heap that every full garbage collection of
  // the engine's thread marks (why that matters to the forward: compact-strings.ts).
  const model = { ...(json.model as JsonObject) };
  const isBpe = model.type === 'BPE' || (model.type === undefined && 'merges' in model);
  let library: Tokenizer;
  try {
    // Without the cleanup, decode(encode(text)) gives the text back exactly (as GPT-2's own decoder does).
    // The library's WordLevel stand-in (a plain lookup) takes its unknown token from this config.
    library = new Tokenizer(
      { ...json, model },
      { clean_up_tokenization_spaces: false, ...(model.type === 'WordLevel' && unkToken !== null ? { unk_token: unkToken } : {}) },
    );
  } catch (error) {
    throw badTokenizer(`could not be loaded (${error instanceof Error ? error.message : String(error)})`);
  }
  if (isBpe) {
    delete model.vocab;
    delete model.merges;
  }
  const unkId = unkToken === null ? undefined : library.token_to_id(unkToken);
  return new HfPromptTokenizer(library, added, vocabSize, rules, unkId ?? null, isBpe && compactBpeModel(library));
}

class HfPromptTokenizer implements PromptTokenizer {
  private readonly addedContent = new Map<number, string>();
  /** UTF-8 bytes of each token id, filled on first use. */
  private readonly bytesCache = new Map<number, Uint8Array>();
  private readonly textCache = new Map<number, string>();
  private readonly utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  private readonly utf8Encoder = new TextEncoder();

  constructor(
    private readonly library: Tokenizer,
    added: readonly AddedTokenInfo[],
    readonly vocabSize: number,
    private readonly rules: SurfaceRules,
    /** The id of the model's unknown token: its text in the prompt is not known from the token. */
    private readonly unkId: number | null,
    /** Whether the library's vocabulary and merge tables were moved into compact ones (compact-bpe-model.ts). */
    readonly tablesCompacted: boolean,
  ) {
    for (const token of added) this.addedContent.set(token.id, token.content);
  }

  encode(text: string): Tokenized {
    // Special tokens (a BOS, say) are the engine's choice, not the tokenizer's: add none here.
    const { ids } = this.library.encode(text, { add_special_tokens: false });
    for (const id of ids) {
      if (!Number.isSafeInteger(id)) throw badTokenizer('cannot encode part of the prompt (its vocabulary has no token for it and no unknown token)');
    }
    const texts = ids.map((id) => this.tokenText(id));
    const unknown = this.unkId !== null && ids.includes(this.unkId) && !this.addedContent.has(this.unkId);
    const aligned = unknown
      ? null
      : alignTokenBytes(
          text,
          ids.map((id) => this.tokenBytes(id)),
        );
    if (aligned) return { ids, texts, offsets: aligned };
    return { ids, texts, offsets: approximateOffsets(text, texts), approximateOffsets: true };
  }

  decode(ids: readonly number[]): string {
    if (ids.length === 0) return '';
    for (const id of ids) this.checkId(id);
    return this.library.decode([...ids], { clean_up_tokenization_spaces: false });
  }

  tokenText(id: number): string {
    this.checkId(id);
    let text = this.textCache.get(id);
    if (text === undefined) {
      text = this.addedContent.get(id) ?? this.utf8Decoder.decode(this.tokenBytes(id));
      this.textCache.set(id, text);
    }
    return text;
  }

  tokenId(token: string): number | undefined {
    return this.library.token_to_id(token);
  }

  private checkId(id: number): void {
    if (!Number.isSafeInteger(id) || id < 0 || id >= this.vocabSize || (this.library.id_to_token(id) === undefined && !this.addedContent.has(id))) {
      throw new EngineError(
        'BAD_ARGUMENT',
        `Token id ${id} is not in the vocabulary (0 to ${this.vocabSize - 1}).`,
        "Use ids produced by this model's tokenizer.",
      );
    }
  }

  /** The exact UTF-8 bytes a token stands for in the text. */
  private tokenBytes(id: number): Uint8Array {
    let bytes = this.bytesCache.get(id);
    if (bytes === undefined) {
      const added = this.addedContent.get(id);
      // Added tokens are stored as plain text.
      bytes = added !== undefined ? this.utf8Encoder.encode(added) : tokenSurface(this.library.id_to_token(id) ?? '', this.rules);
      this.bytesCache.set(id, bytes);
    }
    return bytes;
  }
}

/**
 * Best-effort offsets for tokenizers whose tokens are not the prompt's bytes (a normalizer changed
 * the text, or an unknown token stands for text it does not spell): each token's text is looked up
 * from where the previous one ended, skipping whitespace only; tokens that cannot be found share
 * the text up to the next one found (the first of them gets it). Spans stay ordered and inside the prompt.
 */
function approximateOffsets(text: string, texts: readonly string[]): Array<[number, number]> {
  const offsets: Array<[number, number]> = [];
  let cursor = 0;
  /** Tokens since the last one found, which could not be found themselves. */
  let lost: number[] = [];
  const settleLost = (until: number): void => {
    lost.forEach((index, k) => (offsets[index] = k === 0 ? [cursor, until] : [until, until]));
    lost = [];
  };
  for (const tokenText of texts) {
    let found = -1;
    let length = 0;
    for (const candidate of [tokenText, tokenText.trim()]) {
      if (candidate.length === 0) continue;
      const at = text.indexOf(candidate, cursor);
      // After a lost token, the text in between is that token's.
      if (at >= 0 && (lost.length > 0 || text.slice(cursor, at).trim() === '')) {
        found = at;
        length = candidate.length;
        break;
      }
    }
    if (found < 0) {
      lost.push(offsets.length);
      offsets.push([cursor, cursor]);
      continue;
    }
    settleLost(found);
    offsets.push([found, found + length]);
    cursor = found + length;
  }
  if (lost.length > 0) settleLost(text.length);
  return offsets;
}
