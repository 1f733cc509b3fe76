/**
 * The prompt tokenizer: a Hugging Face `tokenizer.json` run by `@huggingface/tokenizers`, plus the
 * character offsets of every token, which that library does not report.
 *
 * Only byte-level BPE tokenizers (GPT-2, GPT-Neo, GPT-J, Pythia, ...) are accepted: their tokens
 * are spelled in GPT-2's byte alphabet, so each token's exact UTF-8 bytes are known and offsets
 * follow from walking the prompt's bytes.
 *
 * A byte-level token can end in the middle of a multi-byte character (an emoji is 4 bytes and
 * often 2-3 tokens). Spans must still be valid [start, end) ranges of the prompt string, so a
 * character belongs to the token that holds its LAST byte; tokens that only start a character get
 * an empty span at that character's start. Their `texts` entry decodes their bytes alone and then
 * holds U+FFFD for the incomplete sequence.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { EngineError } from '../errors.js';
import { byteLevelToBytes } from './byte-level.js';
import { compactBpeModel } from './compact-bpe-model.js';
import type { PromptTokenizer, Tokenized } from './types.js';

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badTokenizer(problem: string): EngineError {
  return new EngineError(
    'BAD_TOKENIZER',
    `tokenizer.json ${problem}.`,
    'Use the tokenizer.json that came with the model (a byte-level BPE tokenizer, as GPT-2 has).',
  );
}

/** Whether a pre-tokenizer or decoder config is, or contains in a Sequence, a ByteLevel step. */
function hasByteLevel(component: unknown): boolean {
  if (!isObject(component)) return false;
  if (component.type === 'ByteLevel') return true;
  const children = component.pretokenizers ?? component.decoders;
  return Array.isArray(children) && children.some(hasByteLevel);
}

interface AddedTokenInfo {
  id: number;
  content: string;
}

/** Checks the parts of tokenizer.json this module relies on, before the library sees it. */
function validate(json: unknown): { json: JsonObject; added: AddedTokenInfo[]; vocabSize: number } {
  if (!isObject(json)) throw badTokenizer('is not a JSON object');
  const model = json.model;
  if (!isObject(model)) throw badTokenizer('has no "model" object');
  if (model.type !== undefined && model.type !== 'BPE') {
    throw badTokenizer(`describes a ${String(model.type)} model; only byte-level BPE tokenizers are supported`);
  }
  if (!isObject(model.vocab)) throw badTokenizer('has no "model.vocab" object');
  if (!Array.isArray(model.merges)) throw badTokenizer('has no "model.merges" list');
  if (!hasByteLevel(json.pre_tokenizer) && !hasByteLevel(json.decoder)) {
    throw badTokenizer('is not byte-level (no ByteLevel pre-tokenizer or decoder); only byte-level BPE tokenizers are supported');
  }
  let maxId = -1;
  for (const [token, id] of Object.entries(model.vocab)) {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw badTokenizer(`gives the token "${token}" the id ${String(id)}`);
    maxId = Math.max(maxId, id as number);
  }
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
  // The library iterates added_tokens unconditionally.
  return { json: { ...json, added_tokens: addedJson }, added, vocabSize: maxId + 1 };
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
  const { json, added, vocabSize } = validate(parsed);
  // The library keeps the model config it is given, whose vocabulary object and merges list it has
  // copied into maps of its own by the time the constructor returns. It gets a copy of that config,
  // whose two big entries are dropped afterwards, and its own maps are then made compact: together
  // some 14 MB and 200 000 objects less of the heap that every full garbage collection of the
  // engine's thread marks (why that matters to the forward: compact-strings.ts).
  const model = { ...(json.model as JsonObject) };
  let library: Tokenizer;
  try {
    // Without the cleanup, decode(encode(text)) gives the text back exactly (as GPT-2's own decoder does).
    library = new Tokenizer({ ...json, model }, { clean_up_tokenization_spaces: false });
  } catch (error) {
    throw badTokenizer(`could not be loaded (${error instanceof Error ? error.message : String(error)})`);
  }
  delete model.vocab;
  delete model.merges;
  return new ByteLevelPromptTokenizer(library, added, vocabSize, compactBpeModel(library));
}

class ByteLevelPromptTokenizer implements PromptTokenizer {
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
    /** Whether the library's vocabulary and merge tables were moved into compact ones (compact-bpe-model.ts). */
    readonly tablesCompacted: boolean,
  ) {
    for (const token of added) this.addedContent.set(token.id, token.content);
  }

  encode(text: string): Tokenized {
    // Special tokens (a BOS, say) are the engine's choice, not the tokenizer's: add none here.
    const { ids } = this.library.encode(text, { add_special_tokens: false });
    for (const id of ids) {
      if (!Number.isSafeInteger(id)) throw badTokenizer(`cannot encode part of the prompt (its vocabulary lacks a byte-level token)`);
    }
    const texts = ids.map((id) => this.tokenText(id));
    const offsets = this.byteOffsets(text, ids) ?? approximateOffsets(text, texts);
    return { ids, texts, offsets };
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

  private checkId(id: number): void {
    if (!Number.isSafeInteger(id) || id < 0 || id >= this.vocabSize || (this.library.id_to_token(id) === undefined && !this.addedContent.has(id))) {
      throw new EngineError(
        'BAD_ARGUMENT',
        `Token id ${id} is not in the vocabulary (0 to ${this.vocabSize - 1}).`,
        "Use ids produced by this model's tokenizer.",
      );
    }
  }

  /** The exact UTF-8 bytes a token stands for. */
  private tokenBytes(id: number): Uint8Array {
    let bytes = this.bytesCache.get(id);
    if (bytes === undefined) {
      const added = this.addedContent.get(id);
      const spelled = this.library.id_to_token(id) ?? '';
      // Added tokens are stored as plain text; a vocabulary entry outside the byte alphabet is taken as text too.
      bytes = added !== undefined ? this.utf8Encoder.encode(added) : (byteLevelToBytes(spelled) ?? this.utf8Encoder.encode(spelled));
      this.bytesCache.set(id, bytes);
    }
    return bytes;
  }

  /**
   * Exact offsets from the tokens' bytes, or null when those bytes are not the prompt's UTF-8
   * bytes (a normalizer or an added prefix space changed the text before tokenization).
   */
  private byteOffsets(text: string, ids: readonly number[]): Array<[number, number]> | null {
    const textBytes = this.utf8Encoder.encode(text);
    // Byte position (in textBytes) just after each code point, and the UTF-16 index it starts at.
    const codePointEnds: number[] = [];
    const codePointStarts: number[] = [];
    let bytePos = 0;
    for (let i = 0; i < text.length;) {
      const c = text.codePointAt(i)!;
      // A lone surrogate is encoded as U+FFFD (3 bytes), as TextEncoder does.
      const isPair = c > 0xffff;
      const byteLength = c < 0x80 ? 1 : c < 0x800 ? 2 : isPair ? 4 : 3;
      codePointStarts.push(i);
      bytePos += byteLength;
      codePointEnds.push(bytePos);
      i += isPair ? 2 : 1;
    }
    if (bytePos !== textBytes.length) return null;

    const offsets: Array<[number, number]> = [];
    let tokenEnd = 0;
    /** Index of the first code point not yet assigned to a token. */
    let next = 0;
    for (const id of ids) {
      const bytes = this.tokenBytes(id);
      if (tokenEnd + bytes.length > textBytes.length) return null;
      for (let b = 0; b < bytes.length; b++) if (bytes[b] !== textBytes[tokenEnd + b]) return null;
      tokenEnd += bytes.length;
      const start = codePointStarts[next] ?? text.length;
      // The token owns every code point whose last byte it holds.
      while (next < codePointEnds.length && codePointEnds[next]! <= tokenEnd) next++;
      const end = codePointStarts[next] ?? text.length;
      offsets.push([start, end]);
    }
    return tokenEnd === textBytes.length ? offsets : null;
  }
}

/**
 * Best-effort offsets for tokenizers that change the text before splitting it: each token's text
 * is looked up from where the previous one ended, skipping whitespace only; a token that cannot be
 * found gets an empty span there. Spans stay ordered and inside the prompt.
 */
function approximateOffsets(text: string, texts: readonly string[]): Array<[number, number]> {
  const offsets: Array<[number, number]> = [];
  let cursor = 0;
  for (const tokenText of texts) {
    let found = -1;
    let length = 0;
    for (const candidate of [tokenText, tokenText.trim()]) {
      if (candidate.length === 0) continue;
      const at = text.indexOf(candidate, cursor);
      if (at >= 0 && text.slice(cursor, at).trim() === '') {
        found = at;
        length = candidate.length;
        break;
      }
    }
    if (found < 0) {
      offsets.push([cursor, cursor]);
      continue;
    }
    offsets.push([found, found + length]);
    cursor = found + length;
  }
  return offsets;
}
