/**
 * A model folder for the e2e sessions that is not the organism: a seeded random tiny Llama
 * (src/engine/model/random-llama.ts) with a SentencePiece-style tokenizer.json in the layout of
 * Llama 2 / Mistral conversions: a Metaspace pre-tokenizer ("▁" for spaces, prepended to the
 * first word), BPE with byte fallback (<0x0A> for a byte with no piece of its own), <s> as BOS.
 * Its pieces are the characters and words of the sample workspace's prompts, merged left to right,
 * so the presets' targets (" mat", " Mary", ...) are single tokens; the embedding keeps as many
 * rows as the tokenizer has ids. A user's Settings point `circuitTrace.model` at the folder.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { generateRandomLlama } from '../../../src/engine/model/random-llama.js';
import { SAMPLE_WORKSPACE } from './paths.js';

const SP = '\u2581';

const byteToken = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

function specialToken(id: number, content: string): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** tokenizer.json over the words of `corpus`: specials, the 256 byte pieces, characters, then each word's left-to-right merges. */
export function sentencePieceTokenizerJson(corpus: string): { json: Record<string, unknown>; vocabSize: number } {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  const add = (piece: string): void => {
    if (!(piece in vocab)) vocab[piece] = Object.keys(vocab).length;
  };
  for (let b = 0; b < 256; b++) add(byteToken(b));
  const words = [...new Set(corpus.split(/\s+/).filter(Boolean))].map((w) => SP + w);
  add(SP);
  for (const w of words) for (const c of Array.from(w)) add(c);
  const merges: string[] = [];
  const seen = new Set<string>();
  for (const w of words) {
    const chars = Array.from(w);
    let left = chars[0]!;
    for (const c of chars.slice(1)) {
      const merge = `${left} ${c}`;
      if (!seen.has(merge)) {
        seen.add(merge);
        merges.push(merge);
      }
      left += c;
      add(left);
    }
  }
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['<unk>', '<s>', '</s>'].map((c, i) => specialToken(i, c)),
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: SP, prepend_scheme: 'first', split: false },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SP }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges,
    },
  };
  return { json, vocabSize: Object.keys(vocab).length };
}

/** The words of the sample workspace's prompt files (comments and directives included: more words, no harm). */
function workspaceCorpus(): string {
  return ['presets.prompt', 'conventions.prompt'].map((f) => readFileSync(join(SAMPLE_WORKSPACE, f), 'utf8')).join('\n');
}

/** Writes the random Llama and its tokenizer into `dir` (created if needed). */
export async function writeRandomLlamaFolder(dir: string, seed = 21): Promise<void> {
  const { json, vocabSize: V } = sentencePieceTokenizerJson(workspaceCorpus());
  const random = generateRandomLlama('llama', 'tiny', seed);
  // The generator's 50 257-row tables keep their first V rows: one per id of this tokenizer.
  const tensors = random.tensors.map((t) =>
    t.name === 'model.embed_tokens.weight' || t.name === 'lm_head.weight' ? { ...t, shape: [V, t.shape[1]!], data: t.data.slice(0, V * t.shape[1]!) } : t,
  );
  const config = { ...random.config, vocab_size: V, bos_token_id: 1, eos_token_id: 2 };
  await writeHfFolder(dir, { config, tensors, tokenizerJson: json });
}
