import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer } from '@huggingface/tokenizers';
import { encode as referenceEncode } from 'gpt-3-encoder';
import { EngineError } from '../../../src/engine/errors.js';
import { BYTE_TO_CHAR, CHAR_TO_BYTE } from '../../../src/engine/tokenizer/byte-level.js';
import { buildGpt2TokenizerJson, GPT2_END_OF_TEXT_ID, loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { compactBpeModel } from '../../../src/engine/tokenizer/compact-bpe-model.js';
import { loadTokenizer } from '../../../src/engine/tokenizer/tokenizer.js';
import type { Tokenized } from '../../../src/engine/tokenizer/types.js';

const gpt2Json = loadGpt2TokenizerJson();
const tokenizer = loadTokenizer(gpt2Json);

/** Prompts covering what GPT-2's regex and byte-level BPE treat specially. */
const PROMPTS = [
  'The cat sat on the mat. The cat sat on the',
  'Hello, world!',
  'When Mary and John went to the store, John gave a drink to',
  'naïve café résumé façade Ærøskøbing',
  'Ünïcödé ßtraße Δοκιμή тест проверка',
  '日本語のテキストを分割します。',
  '中文分词测试：你好，世界！',
  '한국어 문장입니다',
  'emoji 😀😃😄 and 🎉!',
  'family 👨‍👩‍👧‍👦 and flag 🏳️‍🌈 (ZWJ sequences)',
  'skin tones 👍🏽👋🏿',
  'numbers 3.14159 1,000,000 2024-01-31 0x1F 1e-9',
  '1234567890 12 345 6789',
  'tabs\tand\ttabs\t\t\tend',
  'line one\nline two\n\nline four\r\n',
  'trailing spaces   ',
  '   leading spaces',
  'multiple     inner     spaces',
  "it's they're we've I'm you'll he'd can't",
  "IT'S THEY'RE WE'VE I'M YOU'LL HE'D",
  "''' quotes \"double\" `back` 'single'",
  '!!!??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ~~~',
  '(parentheses) [brackets] {braces} <angles>',
  'def f(x):\n    return x ** 2  # square\n',
  'const add = (a: number, b: number): number => a + b;',
  '<div class="a">Text &amp; more</div>',
  'SELECT * FROM users WHERE id = 42;',
  'https://example.com/path?q=1&r=two#frag',
  'user@example.com +1 (555) 123-4567',
  'mixed中English混合text',
  'Zalgo: Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇',
  'math ∑ ∫ ∂ √ ∞ ≈ ≠ ≤ ≥ → ⇒',
  'a',
  ' ',
  '\n',
  'antidisestablishmentarianism supercalifragilisticexpialidocious',
  'right-to-left עברית العربية',
  'nbsp\u00a0here and\u2003em space',
];

function assertValidOffsets(text: string, t: Tokenized): void {
  assert.equal(t.offsets.length, t.ids.length);
  assert.equal(t.texts.length, t.ids.length);
  let previousEnd = 0;
  for (const [i, [start, end]] of t.offsets.entries()) {
    assert.equal(start, previousEnd, `token ${i} of ${JSON.stringify(text)} starts where the previous one ended`);
    assert.ok(end >= start, `token ${i} span is not reversed`);
    previousEnd = end;
    const tokenText = t.texts[i]!;
    if (!tokenText.includes('\ufffd')) {
      assert.equal(text.slice(start, end), tokenText, `token ${i} of ${JSON.stringify(text)}: the span holds its text`);
    }
  }
  assert.equal(previousEnd, text.length, `the spans of ${JSON.stringify(text)} cover it`);
}

test('GPT-2 tokenizer.json has the structure of openai-community/gpt2', () => {
  assert.equal(Object.keys(gpt2Json.model.vocab).length, 50257);
  assert.equal(gpt2Json.model.merges.length, 50000);
  assert.equal(gpt2Json.model.merges[0], 'Ġ t');
  assert.equal(gpt2Json.model.type, 'BPE');
  assert.deepEqual(gpt2Json.pre_tokenizer, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true });
  assert.equal(gpt2Json.decoder.type, 'ByteLevel');
  assert.equal(gpt2Json.post_processor.type, 'ByteLevel');
  assert.deepEqual(
    gpt2Json.added_tokens.map((t) => [t.id, t.content, t.special]),
    [[50256, '<|endoftext|>', true]],
  );
  assert.equal(tokenizer.vocabSize, 50257);
});

test('the byte-level alphabet is a bijection with space as Ġ and newline as Ċ', () => {
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
  assert.equal(BYTE_TO_CHAR[0x20], 'Ġ');
  assert.equal(BYTE_TO_CHAR[0x0a], 'Ċ');
  assert.equal(BYTE_TO_CHAR[0x41], 'A');
  for (let b = 0; b < 256; b++) assert.equal(CHAR_TO_BYTE.get(BYTE_TO_CHAR[b]!), b);
});

test('" mat" is one token (2603) in the induction prompt, as in GPT-2', () => {
  const t = tokenizer.encode('The cat sat on the mat. The cat sat on the');
  assert.deepEqual(t.ids, [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332, 319, 262]);
  assert.deepEqual(t.texts, ['The', ' cat', ' sat', ' on', ' the', ' mat', '.', ' The', ' cat', ' sat', ' on', ' the']);
  assert.deepEqual(t.offsets.slice(0, 3), [
    [0, 3],
    [3, 7],
    [7, 11],
  ]);
});

test('ids equal the reference GPT-2 BPE, decode round-trips and offsets are valid spans', () => {
  assert.ok(PROMPTS.length >= 30);
  for (const text of PROMPTS) {
    const t = tokenizer.encode(text);
    assert.deepEqual(t.ids, referenceEncode(text), `ids of ${JSON.stringify(text)}`);
    assert.equal(tokenizer.decode(t.ids), text, `decode(encode(${JSON.stringify(text)}))`);
    assertValidOffsets(text, t);
    for (const [i, id] of t.ids.entries()) assert.equal(t.texts[i], tokenizer.decode([id]), 'texts[i] is the decoded token');
  }
});

test('a token that ends inside a character gets an empty span; the character goes to the token that completes it', () => {
  const text = 'a🦜b';
  const t = tokenizer.encode(text);
  assert.deepEqual(t.ids, referenceEncode(text));
  // The parrot (4 UTF-8 bytes, 2 UTF-16 units) is split across byte-level tokens.
  const partial = t.texts.findIndex((s) => s.includes('\ufffd'));
  assert.ok(partial >= 0, `expected the emoji to be split, got ${JSON.stringify(t.texts)}`);
  assert.equal(t.offsets[partial]![0], t.offsets[partial]![1], 'the partial token has an empty span');
  assert.equal(t.offsets[partial]![0], 1, 'at the start of the emoji');
  const owner = t.offsets.findIndex(([s, e]) => s === 1 && e === 3);
  assert.ok(owner > partial, 'a later token owns the whole emoji');
  assertValidOffsets(text, t);
  // Concatenating the tokens' bytes gives the text even though single tokens are not valid UTF-8.
  assert.equal(tokenizer.decode(t.ids), text);
});

test('<|endoftext|> in the prompt is the special token 50256', () => {
  const t = tokenizer.encode('Hi<|endoftext|> there');
  assert.deepEqual(t.ids, [17250, GPT2_END_OF_TEXT_ID, 612]);
  assert.deepEqual(t.offsets, [
    [0, 2],
    [2, 15],
    [15, 21],
  ]);
  assert.equal(tokenizer.tokenText(GPT2_END_OF_TEXT_ID), '<|endoftext|>');
});

test('the empty prompt gives no tokens and decode([]) is empty', () => {
  assert.deepEqual(tokenizer.encode(''), { ids: [], texts: [], offsets: [] });
  assert.equal(tokenizer.decode([]), '');
});

test('token ids outside the vocabulary are refused', () => {
  for (const id of [-1, 50257, 1.5]) {
    assert.throws(
      () => tokenizer.tokenText(id),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT',
    );
    assert.throws(
      () => tokenizer.decode([id]),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT',
    );
  }
});

test('malformed tokenizer.json gives BAD_TOKENIZER', () => {
  const isBad = (pattern: RegExp) => (e: unknown) => e instanceof EngineError && e.code === 'BAD_TOKENIZER' && pattern.test(e.message);
  assert.throws(() => loadTokenizer('{not json'), isBad(/not valid JSON/));
  assert.throws(() => loadTokenizer('[]'), isBad(/not a JSON object/));
  assert.throws(() => loadTokenizer({ version: '1.0' }), isBad(/no "model"/));
  assert.throws(() => loadTokenizer({ ...gpt2Json, model: { type: 'CharLevel', vocab: {} } }), isBad(/CharLevel/));
  assert.throws(() => loadTokenizer({ ...gpt2Json, model: { type: 'Unigram', vocab: [['a', 'x']] } }), isBad(/\[piece, score\]/));
  assert.throws(() => loadTokenizer({ ...gpt2Json, model: { type: 'Unigram', vocab: [['a', -1]], unk_id: 4 } }), isBad(/unknown-token id 4/));
  assert.throws(() => loadTokenizer({ ...gpt2Json, model: { ...gpt2Json.model, merges: undefined } }), isBad(/merges/));
  assert.throws(() => loadTokenizer({ ...gpt2Json, added_tokens: [{ id: 'x' }] }), isBad(/added token/));
  assert.throws(() => loadTokenizer({ ...gpt2Json, model: { ...gpt2Json.model, vocab: { a: -3 } } }), isBad(/id -3/));
});

test('buildGpt2TokenizerJson rejects damaged source files', () => {
  const isBad = (e: unknown) => e instanceof EngineError && e.code === 'BAD_TOKENIZER';
  assert.throws(() => buildGpt2TokenizerJson({ a: 0, '<|endoftext|>': 50256 }, 'Ġ t\n'), isBad);
  assert.throws(() => buildGpt2TokenizerJson({ a: 0, '<|endoftext|>': 50256 }, '#version: 0.2\nĠ t x\n'), isBad);
  assert.throws(() => buildGpt2TokenizerJson({ a: 0 }, '#version: 0.2\n'), isBad);
  assert.throws(() => buildGpt2TokenizerJson([], '#version: 0.2\n'), isBad);
});

test('a tokenizer.json given as text loads the same tokenizer', () => {
  const fromText = loadTokenizer(JSON.stringify(gpt2Json));
  assert.deepEqual(fromText.encode('Hello there, 世界').ids, tokenizer.encode('Hello there, 世界').ids);
});

test('a tokenizer that changes the text (prefix space) still gets ordered spans inside the prompt', () => {
  const prefixed = loadTokenizer({ ...gpt2Json, pre_tokenizer: { ...gpt2Json.pre_tokenizer, add_prefix_space: true } });
  const t = prefixed.encode('Hello world');
  assert.deepEqual(t.texts, [' Hello', ' world']);
  // The added space is not in the prompt: the first token's span is its visible word.
  assert.deepEqual(t.offsets, [
    [0, 5],
    [5, 11],
  ]);
});

test("the installed tokenizer library's BPE tables are made compact, and it then tokenizes and decodes as before", () => {
  // loadTokenizer's own tokenizer (the one every test above checks against the reference BPE).
  assert.equal((tokenizer as unknown as { tablesCompacted: boolean }).tablesCompacted, true, 'the library still has the tables compact-bpe-model.ts expects');
  const plain = new Tokenizer(structuredClone(gpt2Json) as unknown as ConstructorParameters<typeof Tokenizer>[0], { clean_up_tokenization_spaces: false });
  const compacted = new Tokenizer(structuredClone(gpt2Json) as unknown as ConstructorParameters<typeof Tokenizer>[0], { clean_up_tokenization_spaces: false });
  assert.equal(compactBpeModel(compacted), true);
  const tables = (compacted as unknown as { model: Record<string, unknown> }).model;
  assert.ok(
    !(tables['tokens_to_ids'] instanceof Map) && !(tables['bpe_ranks'] instanceof Map) && !Array.isArray(tables['vocab']),
    'the Maps and the vocabulary array are replaced',
  );
  assert.equal('merges' in tables, false, 'the merge list the ranks were built from is dropped');
  for (const text of [...PROMPTS, 'Hi<|endoftext|> there', 'unknownwordzzqx']) {
    const ids = plain.encode(text, { add_special_tokens: false }).ids;
    assert.deepEqual(compacted.encode(text, { add_special_tokens: false }).ids, ids, `ids of ${JSON.stringify(text)}`);
    assert.equal(compacted.decode(ids, { clean_up_tokenization_spaces: false }), plain.decode(ids, { clean_up_tokenization_spaces: false }));
  }
  for (let id = 0; id <= GPT2_END_OF_TEXT_ID + 1; id++) {
    const token = plain.id_to_token(id);
    assert.equal(compacted.id_to_token(id), token, `id_to_token(${id})`);
    if (token !== undefined) assert.equal(compacted.token_to_id(token), id, `token_to_id(${JSON.stringify(token)})`);
  }
});

test('compactBpeModel leaves a model it does not recognise as it is', () => {
  const odd = { model: { tokens_to_ids: new Map([['a', 0]]), vocab: ['a'], bpe_ranks: { '["a","b"]': 0 }, merges: [['a', 'b']] } };
  assert.equal(compactBpeModel(odd as unknown as Tokenizer), false);
  assert.ok(odd.model.tokens_to_ids instanceof Map);
  assert.deepEqual(odd.model.merges, [['a', 'b']]);
  const badValue = { model: { tokens_to_ids: new Map([['a', 0.5]]), vocab: ['a'], bpe_ranks: new Map(), merges: [] } };
  assert.equal(compactBpeModel(badValue as unknown as Tokenizer), false);
  assert.ok(badValue.model.tokens_to_ids instanceof Map);
  assert.equal(compactBpeModel({} as Tokenizer), false);
});
