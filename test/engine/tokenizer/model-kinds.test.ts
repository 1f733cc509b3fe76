/**
 * Tokenizers of other model families than GPT-2, as small tokenizer.json files with the structure
 * the Hub's have (normalizer, pre_tokenizer, post_processor, decoder and model sections as in
 * meta-llama/Llama-2-7b-hf, TinyLlama/Mistral's Metaspace form, google/gemma-2b, Qwen/Qwen2,
 * meta-llama/Meta-Llama-3-8B, a T5-style Unigram and a WordLevel model), with vocabularies trained
 * here on a few sentences. Ids are checked against references written from each algorithm's
 * definition; texts, offsets and decoding as for GPT-2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BYTE_TO_CHAR } from '../../../src/engine/tokenizer/byte-level.js';
import { loadTokenizer } from '../../../src/engine/tokenizer/tokenizer.js';
import type { PromptTokenizer, Tokenized } from '../../../src/engine/tokenizer/types.js';

const SP = '\u2581';
const CORPUS =
  'The cat sat on the mat. The dog sat on the log. When Mary and John went to the store, John gave a drink to Mary. it is the end. 123 456 123 456';
const PROMPTS = [
  'The cat sat on the mat.',
  'When Mary and John went to the store',
  ' leading space',
  'two  spaces and trailing ',
  'line one\nline two\n\n',
  'tabs\tand café',
  '日本語 and emoji 😀!',
  'Zoë x',
  'a',
];

// ---- training data (not the reference): the most frequent adjacent pair, merged, a number of times ----

function trainMerges(words: string[][], count: number): Array<[string, string]> {
  const merges: Array<[string, string]> = [];
  let current = words.map((w) => [...w]);
  for (let m = 0; m < count; m++) {
    const counts = new Map<string, number>();
    for (const w of current) for (let i = 0; i + 1 < w.length; i++) counts.set(`${w[i]}\u0000${w[i + 1]}`, (counts.get(`${w[i]}\u0000${w[i + 1]}`) ?? 0) + 1);
    const best = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
    if (!best) break;
    const [left, right] = best[0].split('\u0000') as [string, string];
    merges.push([left, right]);
    current = current.map((w) => {
      const out: string[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === left && w[i + 1] === right) {
          out.push(left + right);
          i++;
        } else {
          out.push(w[i]!);
        }
      }
      return out;
    });
  }
  return merges;
}

function addedToken(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

// ---- references ----

/** BPE by definition: merge the adjacent pair of lowest rank (leftmost on a tie) until none is left. */
function bpe(symbols: string[], ranks: ReadonlyMap<string, number>): string[] {
  const word = [...symbols];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < word.length; i++) {
      const rank = ranks.get(`${word[i]} ${word[i + 1]}`);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) return word;
    word.splice(best, 2, word[best]! + word[best + 1]!);
  }
}

const byteToken = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/** SentencePiece BPE: spaces as ▁, the optional ▁ in front, merges over the whole text, byte fallback for unknown pieces. */
function sentencePieceReference(
  text: string,
  prefix: 'always' | 'if-missing' | 'none',
  vocab: Record<string, number>,
  ranks: ReadonlyMap<string, number>,
): number[] {
  let normalized = text.replaceAll(' ', SP);
  if (prefix === 'always' || (prefix === 'if-missing' && !normalized.startsWith(SP))) normalized = SP + normalized;
  return bpe(Array.from(normalized), ranks).flatMap((piece) =>
    piece in vocab ? [vocab[piece]!] : [...new TextEncoder().encode(piece)].map((b) => vocab[byteToken(b)]!),
  );
}

const LLAMA3_SPLIT = String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const QWEN2_SPLIT = LLAMA3_SPLIT.replace('\\p{N}{1,3}', '\\p{N}');

const toByteLevel = (s: string): string => [...new TextEncoder().encode(s)].map((b) => BYTE_TO_CHAR[b]).join('');

/** Byte-level BPE: the split regex's pieces, each in the byte alphabet, merged by rank. */
function byteLevelReference(text: string, split: string, vocab: Record<string, number>, ranks: ReadonlyMap<string, number>): number[] {
  return (text.match(new RegExp(split, 'gu')) ?? []).flatMap((chunk) => bpe(Array.from(toByteLevel(chunk)), ranks).map((piece) => vocab[piece]!));
}

// ---- tokenizer.json files ----

function sentencePieceVocab(): { vocab: Record<string, number>; merges: Array<[string, string]> } {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[byteToken(b)] = 3 + b;
  const normalized = SP + CORPUS.replaceAll(' ', SP);
  const merges = trainMerges([Array.from(normalized)], 60);
  // Characters of the corpus and 'é' are pieces; anything else falls back to bytes.
  for (const piece of [...new Set([...Array.from(normalized), 'é']), ...merges.map(([a, b]) => a + b)])
    if (!(piece in vocab)) vocab[piece] = Object.keys(vocab).length;
  return { vocab, merges };
}

const SP_DECODER = {
  type: 'Sequence',
  decoders: [
    { type: 'Replace', pattern: { String: SP }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
    { type: 'Strip', content: ' ', start: 1, stop: 0 },
  ],
};

function bosTemplate(bos: string, id: number) {
  return {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [
      { SpecialToken: { id: bos, type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: bos, type_id: 1 } },
      { Sequence: { id: 'B', type_id: 1 } },
    ],
    special_tokens: { [bos]: { id: bos, ids: [id], tokens: [bos] } },
  };
}

function spBpeModel(vocab: Record<string, number>, merges: Array<[string, string]>) {
  return {
    type: 'BPE',
    dropout: null,
    unk_token: '<unk>',
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: true,
    byte_fallback: true,
    vocab,
    merges: merges.map(([a, b]) => `${a} ${b}`),
  };
}

/** meta-llama/Llama-2-7b-hf's layout: ▁ prepended by the normalizer, no pre-tokenizer. */
function llama2Json() {
  const { vocab, merges } = sentencePieceVocab();
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['<unk>', '<s>', '</s>'].map((c, i) => addedToken(i, c)),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SP },
        { type: 'Replace', pattern: { String: ' ' }, content: SP },
      ],
    },
    pre_tokenizer: null,
    post_processor: bosTemplate('<s>', 1),
    decoder: SP_DECODER,
    model: spBpeModel(vocab, merges),
  };
}

/** The Metaspace form newer conversions (TinyLlama, Mistral) have: ▁ prepended by the pre-tokenizer when missing. */
function metaspaceJson() {
  return { ...llama2Json(), normalizer: null, pre_tokenizer: { type: 'Metaspace', replacement: SP, prepend_scheme: 'first', split: false } };
}

/** google/gemma-2b's layout: spaces become ▁, nothing is prepended, no Strip in the decoder. */
function gemmaJson() {
  const { vocab, merges } = sentencePieceVocab();
  // Gemma's ids: <pad> 0, <eos> 1, <bos> 2, <unk> 3.
  const renamed: Record<string, number> = {};
  for (const [piece, id] of Object.entries(vocab)) renamed[{ '<unk>': '<pad>', '<s>': '<eos>', '</s>': '<bos>' }[piece] ?? piece] = id;
  renamed['<unk>'] = Object.keys(renamed).length;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(0, '<pad>'), addedToken(1, '<eos>'), addedToken(2, '<bos>'), addedToken(renamed['<unk>']!, '<unk>')],
    normalizer: { type: 'Replace', pattern: { String: ' ' }, content: SP },
    pre_tokenizer: null,
    post_processor: bosTemplate('<bos>', 2),
    decoder: { type: 'Sequence', decoders: SP_DECODER.decoders.slice(0, 3) },
    model: spBpeModel(renamed, merges),
  };
}

function byteLevelVocab(split: string): { vocab: Record<string, number>; merges: Array<[string, string]> } {
  const vocab: Record<string, number> = {};
  for (const c of BYTE_TO_CHAR) vocab[c] = Object.keys(vocab).length;
  const merges = trainMerges(
    (CORPUS.match(new RegExp(split, 'gu')) ?? []).map((chunk) => Array.from(toByteLevel(chunk))),
    60,
  );
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
  return { vocab, merges };
}

function byteLevelPreTokenizer(split: string) {
  return {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: split.replace(/\(\?:'\[sS\].*?\[dD\]\)/, "(?i:'s|'t|'re|'ve|'m|'ll|'d)") }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
}

/** Qwen/Qwen2's layout: NFC, the split regex with single digits, byte-level; no BOS of its own. */
function qwen2Json() {
  const { vocab, merges } = byteLevelVocab(QWEN2_SPLIT);
  const base = Object.keys(vocab).length;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'].map((c, i) => ({ ...addedToken(base + i, c), normalized: false })),
    normalizer: { type: 'NFC' },
    pre_tokenizer: byteLevelPreTokenizer(QWEN2_SPLIT),
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
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
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** meta-llama/Meta-Llama-3-8B's layout: no normalizer, digits in threes, merges as pairs, <|begin_of_text|> in the template. */
function llama3Json() {
  const { vocab, merges } = byteLevelVocab(LLAMA3_SPLIT);
  const bos = Object.keys(vocab).length;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(bos, '<|begin_of_text|>'), addedToken(bos + 1, '<|end_of_text|>')],
    normalizer: null,
    pre_tokenizer: byteLevelPreTokenizer(LLAMA3_SPLIT),
    post_processor: {
      type: 'Sequence',
      processors: [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true }, bosTemplate('<|begin_of_text|>', bos)],
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges,
    },
  };
}

// ---- checks ----

function ranksOf(merges: Array<[string, string]>): Map<string, number> {
  return new Map(merges.map(([a, b], i) => [`${a} ${b}`, i]));
}

/** Spans ordered, each character covered once; a span holds its token's text, less a space the tokenizer added. */
function assertSpans(text: string, t: Tokenized, label: string): void {
  assert.equal(t.approximateOffsets, undefined, `${label}: exact offsets for ${JSON.stringify(text)}`);
  assert.equal(t.offsets.length, t.ids.length);
  let previousEnd = 0;
  for (const [i, [start, end]] of t.offsets.entries()) {
    assert.equal(start, previousEnd, `${label}: token ${i} of ${JSON.stringify(text)} starts where the previous one ended`);
    assert.ok(end >= start);
    previousEnd = end;
    const tokenText = t.texts[i]!;
    if (tokenText.includes('\ufffd')) continue;
    const span = text.slice(start, end);
    // Whitespace a tokenizer dropped goes to the next token's span (the last one's at the end).
    assert.ok(
      span === tokenText || ` ${span}` === tokenText || span.trim() === tokenText.trim(),
      `${label}: token ${i} ${JSON.stringify(tokenText)} has the span ${JSON.stringify(span)} in ${JSON.stringify(text)}`,
    );
  }
  assert.equal(previousEnd, text.length, `${label}: the spans of ${JSON.stringify(text)} cover it`);
}

function checkAgainstReference(label: string, tokenizer: PromptTokenizer, reference: (text: string) => number[], roundTrip: (text: string) => boolean): void {
  for (const text of PROMPTS) {
    const t = tokenizer.encode(text);
    assert.deepEqual(t.ids, reference(text), `${label}: ids of ${JSON.stringify(text)}`);
    assert.deepEqual(
      t.texts,
      t.ids.map((id) => tokenizer.tokenText(id)),
    );
    assertSpans(text, t, label);
    if (roundTrip(text)) assert.equal(tokenizer.decode(t.ids), text, `${label}: decode(encode(${JSON.stringify(text)}))`);
  }
}

test('Llama 2 (SentencePiece BPE, ▁ prepended by the normalizer, byte fallback) tokenizes as the reference', () => {
  const json = llama2Json();
  const tokenizer = loadTokenizer(json);
  assert.equal((tokenizer as unknown as { tablesCompacted: boolean }).tablesCompacted, true);
  const ranks = ranksOf(sentencePieceVocab().merges);
  checkAgainstReference(
    'Llama 2',
    tokenizer,
    (text) => sentencePieceReference(text, 'always', json.model.vocab, ranks),
    () => true,
  );
  // ▁ reads as a space; a byte-fallback newline is the newline.
  const t = tokenizer.encode('The cat\nsat');
  assert.equal(t.texts.join(''), ' The cat\nsat');
  assert.ok(t.texts[0]!.startsWith(' '));
  assert.equal(t.offsets[0]![0], 0);
  assert.equal(' ' + 'The cat\nsat'.slice(...t.offsets[0]!), t.texts[0], 'the added ▁ is no character of the prompt');
  const newline = t.ids.indexOf(json.model.vocab[byteToken(0x0a)]!);
  assert.equal(t.texts[newline], '\n');
  assert.deepEqual(t.offsets[newline], [7, 8]);
});

test('byte-fallback pieces of one character: the last holds it, the others have an empty span at its start', () => {
  const tokenizer = loadTokenizer(llama2Json());
  const t = tokenizer.encode('a日b');
  // ▁a, then 日's three bytes, then b.
  assert.deepEqual(
    t.ids.slice(-4).map((id) => tokenizer.tokenText(id)),
    ['\ufffd', '\ufffd', '\ufffd', 'b'],
  );
  assert.deepEqual(t.offsets.slice(-4), [
    [1, 1],
    [1, 1],
    [1, 2],
    [2, 3],
  ]);
  assert.equal(tokenizer.decode(t.ids), 'a日b');
});

test('Metaspace pre-tokenizer (TinyLlama, Mistral) prepends ▁ only when the text lacks one', () => {
  const json = metaspaceJson();
  const ranks = ranksOf(sentencePieceVocab().merges);
  checkAgainstReference(
    'Metaspace',
    loadTokenizer(json),
    (text) => sentencePieceReference(text, 'if-missing', json.model.vocab, ranks),
    (text) => !text.startsWith(' '),
  );
});

test('Gemma (spaces as ▁, nothing prepended) tokenizes as the reference and decodes back exactly', () => {
  const json = gemmaJson();
  const ranks = ranksOf(sentencePieceVocab().merges);
  checkAgainstReference(
    'Gemma',
    loadTokenizer(json),
    (text) => sentencePieceReference(text, 'none', json.model.vocab, ranks),
    () => true,
  );
});

test('Qwen2 (byte-level, NFC, single digits) tokenizes as the reference; added tokens are one token each', () => {
  const json = qwen2Json();
  const tokenizer = loadTokenizer(json);
  assert.equal((tokenizer as unknown as { tablesCompacted: boolean }).tablesCompacted, true);
  const ranks = new Map(json.model.merges.map((m, i) => [m, i]));
  checkAgainstReference(
    'Qwen2',
    tokenizer,
    (text) => byteLevelReference(text, QWEN2_SPLIT, json.model.vocab, ranks),
    () => true,
  );
  assert.deepEqual(tokenizer.encode('2024').texts, ['2', '0', '2', '4'], 'digits one by one');
  const chat = tokenizer.encode('<|im_start|>user');
  assert.equal(chat.ids[0], json.added_tokens[1]!.id);
  assert.deepEqual(chat.offsets[0], [0, 12]);
});

test('a normalizer that changes the text gives ordered best-guess spans, flagged approximateOffsets', () => {
  const tokenizer = loadTokenizer(qwen2Json());
  const text = 'cafe\u0301 time';
  const t = tokenizer.encode(text);
  assert.equal(t.approximateOffsets, true);
  assert.equal(tokenizer.decode(t.ids), text.normalize('NFC'));
  let previousEnd = 0;
  for (const [start, end] of t.offsets) {
    assert.ok(start >= previousEnd && end >= start && end <= text.length);
    previousEnd = end;
  }
  for (const [i, [start, end]] of t.offsets.entries())
    if (end > start && !t.texts[i]!.includes('\ufffd')) assert.equal(text.slice(start, end).trim(), t.texts[i]!.trim(), 'a token found again has its own text');
  assert.equal(t.offsets.at(-1)![1], text.length, 'the tokens after the change are found again');
});

test('Llama 3 (byte-level, digits in threes, merges as pairs, ignore_merges) tokenizes as the reference', () => {
  const json = llama3Json();
  const tokenizer = loadTokenizer(json);
  const ranks = new Map(json.model.merges.map(([a, b], i) => [`${a} ${b}`, i]));
  // With ignore_merges, a chunk that is a whole vocabulary entry is that entry; the reference's
  // merges reach the same entry for these prompts, and the check below covers the rule itself.
  checkAgainstReference(
    'Llama 3',
    tokenizer,
    (text) => byteLevelReference(text, LLAMA3_SPLIT, json.model.vocab, ranks),
    () => true,
  );
  assert.deepEqual(tokenizer.encode('1234567').texts, ['123', '456', '7']);
  assert.equal(tokenizer.encode('<|begin_of_text|>The').ids[0], json.added_tokens[0]!.id);
});

test('Unigram (T5 style: words split on whitespace, ▁ in front of each) gives the Viterbi segmentation', () => {
  const pieces: Array<[string, number]> = [['<unk>', 0]];
  // Scores: shorter pieces cost more; distinct, so the best segmentation is unique.
  const words = new Set(CORPUS.split(/\s+/).flatMap((w) => [SP + w, ...Array.from(SP + w)]));
  for (const w of words) for (let i = 0; i < w.length; i++) for (let j = i + 1; j <= Math.min(w.length, i + 4); j++) pieces.push([w.slice(i, j), 0]);
  const unique = [...new Map(pieces.map(([p]) => [p, 0])).keys()].map((p, i): [string, number] => [p, p === '<unk>' ? 0 : -10 + p.length * 2 - i * 1e-4]);
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(0, '<unk>')],
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: SP, prepend_scheme: 'always', split: true }],
    },
    post_processor: null,
    decoder: { type: 'Metaspace', replacement: SP, prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 0, vocab: unique, byte_fallback: false },
  };
  const score = new Map(unique.map(([p, s]) => [p, s]));
  const ids = new Map(unique.map(([p], i) => [p, i]));
  const unkScore = Math.min(...unique.map(([, s]) => s)) - 10;
  const viterbi = (word: string): number[] => {
    const chars = Array.from(word);
    const best: Array<{ score: number; from: number; id: number }> = [{ score: 0, from: -1, id: -1 }];
    for (let end = 1; end <= chars.length; end++) {
      best[end] = { score: -Infinity, from: -1, id: -1 };
      for (let start = 0; start < end; start++) {
        const piece = chars.slice(start, end).join('');
        const s = score.has(piece) && piece !== '<unk>' ? score.get(piece)! : end - start === 1 ? unkScore : undefined;
        if (s !== undefined && best[start]!.score + s > best[end]!.score)
          best[end] = { score: best[start]!.score + s, from: start, id: score.has(piece) ? ids.get(piece)! : 0 };
      }
    }
    const out: number[] = [];
    for (let end = chars.length; end > 0; end = best[end]!.from) out.unshift(best[end]!.id);
    return out;
  };
  const tokenizer = loadTokenizer(json);
  for (const text of ['The cat sat on the mat.', 'When Mary went to the store', 'the  dog  ', 'John gave a drink']) {
    const t = tokenizer.encode(text);
    assert.deepEqual(
      t.ids,
      text
        .split(/\s+/)
        .filter(Boolean)
        .flatMap((w) => viterbi(SP + w)),
      `ids of ${JSON.stringify(text)}`,
    );
    assertSpans(text, t, 'Unigram');
    assert.equal(tokenizer.decode(t.ids), text.trim().replace(/\s+/g, ' '));
  }
  // A character outside the vocabulary is the unknown token: analyses still run, offsets are a best guess.
  const unknown = tokenizer.encode('the 😀 cat');
  assert.ok(unknown.ids.includes(0));
  assert.equal(unknown.approximateOffsets, true);
  assert.deepEqual(unknown.offsets.at(-1), [6, 10], 'the token after it is found again');
});

test('WordLevel (a lookup per word) gives the vocabulary ids, the unknown token for others', () => {
  const words = ['[UNK]', 'the', 'cat', 'sat', 'on', 'mat', '.', ','];
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(0, '[UNK]')],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab: Object.fromEntries(words.map((w, i) => [w, i])), unk_token: '[UNK]' },
  };
  const tokenizer = loadTokenizer(json);
  const lookup = (text: string): number[] => (text.match(/\w+|[^\w\s]+/g) ?? []).map((w) => Math.max(0, words.indexOf(w)));
  for (const text of ['the cat sat on the mat .', 'the  cat,\tthe mat.']) {
    const t = tokenizer.encode(text);
    assert.deepEqual(t.ids, lookup(text));
    assertSpans(text, t, 'WordLevel');
  }
  assert.equal(tokenizer.decode(tokenizer.encode('the cat sat').ids), 'the cat sat');
  const t = tokenizer.encode('the dog sat');
  assert.deepEqual(t.ids, lookup('the dog sat'));
  assert.deepEqual(t.ids, [1, 0, 3]);
  assert.equal(t.approximateOffsets, true);
  assert.deepEqual(t.offsets, [
    [0, 3],
    [3, 8],
    [8, 11],
  ]);
});
