import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bosToPrepend, resolvePrompt, resolveTokenRef } from '../../../src/engine/analysis/prompt-input.js';
import { EngineError, type EngineErrorCode } from '../../../src/engine/errors.js';
import { WordTokenizer } from '../../helpers/word-tokenizer.js';

const tok = new WordTokenizer(50);
const limits = { maxTokens: 6, nCtx: 8, dVocab: 50, prependBosId: null };
const code = (c: EngineErrorCode) => (e: unknown) => e instanceof EngineError && e.code === c;

test('a text prompt keeps the tokenizer’s texts and offsets; ids get their token texts', () => {
  const r = resolvePrompt(tok, { prompt: 'w3 w4' }, limits);
  assert.deepEqual(r.ids, [3, 4]);
  assert.deepEqual(r.tokens, [
    { id: 3, text: 'w3', start: 0, end: 2 },
    { id: 4, text: ' w4', start: 2, end: 5 },
  ]);
  const byIds = resolvePrompt(tok, { ids: [7, 8] }, limits);
  assert.equal(byIds.prompt, ' w7 w8');
  assert.deepEqual(byIds.tokens[1], { id: 8, text: ' w8', start: 3, end: 6 });
});

test('empty, too long, out-of-vocabulary and ambiguous prompts are typed errors', () => {
  assert.throws(() => resolvePrompt(tok, { prompt: '' }, limits), code('EMPTY_PROMPT'));
  assert.throws(() => resolvePrompt(tok, { prompt: '   ' }, limits), code('EMPTY_PROMPT'));
  assert.throws(() => resolvePrompt(tok, { ids: [] }, limits), code('EMPTY_PROMPT'));
  assert.throws(() => resolvePrompt(tok, {}, limits), code('EMPTY_PROMPT'));
  assert.throws(
    () => resolvePrompt(tok, { ids: [1, 2, 3, 4, 5, 6, 7] }, limits),
    (e: unknown) => code('PROMPT_TOO_LONG')(e) && /token limit of 6/.test((e as Error).message),
  );
  assert.throws(
    () => resolvePrompt(tok, { ids: new Array(9).fill(1) }, { ...limits, maxTokens: 100 }),
    (e: unknown) => code('PROMPT_TOO_LONG')(e) && /context of 8/.test((e as Error).message),
  );
  assert.doesNotThrow(() => resolvePrompt(tok, { ids: [1, 2, 3, 4, 5, 6] }, limits));
  assert.throws(() => resolvePrompt(tok, { ids: [50] }, limits), code('BAD_ARGUMENT'));
  assert.throws(() => resolvePrompt(tok, { ids: [1.5] }, limits), code('BAD_ARGUMENT'));
  assert.throws(() => resolvePrompt(tok, { prompt: 'w1', ids: [1] }, limits), code('BAD_ARGUMENT'));
});

test('a token given as text must be exactly one token; the error shows how it tokenizes', () => {
  assert.equal(resolveTokenRef(tok, { text: ' w9' }, 50, 'target'), 9);
  assert.equal(resolveTokenRef(tok, { id: 12 }, 50, 'contrast'), 12);
  assert.throws(
    () => resolveTokenRef(tok, { text: ' x9' }, 50, 'target'),
    (e: unknown) => code('NOT_SINGLE_TOKEN')(e) && /is 2 tokens: " " \(0\) \+ "x9" \(9\)/.test((e as Error).message),
  );
  assert.throws(
    () => resolveTokenRef(tok, { text: 'w1 w2' }, 50, 'contrast'),
    (e: unknown) => code('NOT_SINGLE_TOKEN')(e) && /contrast/.test((e as Error).message),
  );
  assert.throws(() => resolveTokenRef(tok, { text: '' }, 50, 'target'), code('NOT_SINGLE_TOKEN'));
  assert.throws(() => resolveTokenRef(tok, { id: -1 }, 50, 'target'), code('BAD_ARGUMENT'));
});

test('a text prompt gets the BOS at position 0 as a token with no text in the prompt; offsets are unchanged', () => {
  const r = resolvePrompt(tok, { prompt: 'w3 w4' }, { ...limits, prependBosId: 49 });
  assert.equal(r.prependBos, true);
  assert.deepEqual(r.ids, [49, 3, 4]);
  assert.deepEqual(r.tokens, [
    { id: 49, text: ' w49', start: 0, end: 0, bos: true },
    { id: 3, text: 'w3', start: 0, end: 2 },
    { id: 4, text: ' w4', start: 2, end: 5 },
  ]);
  assert.equal(r.prompt, 'w3 w4');
  assert.equal(resolvePrompt(tok, { prompt: 'w3 w4' }, limits).prependBos, false);
});

test('token ids are used exactly as given, never with a BOS', () => {
  const r = resolvePrompt(tok, { ids: [7, 8] }, { ...limits, prependBosId: 49 });
  assert.deepEqual(r.ids, [7, 8]);
  assert.equal(r.prependBos, false);
  assert.ok(r.tokens.every((t) => t.bos === undefined));
});

test('the BOS counts against the token limit, and the error says so', () => {
  const sixWords = 'w1 w2 w3 w4 w5 w6';
  assert.doesNotThrow(() => resolvePrompt(tok, { prompt: sixWords }, limits));
  assert.throws(
    () => resolvePrompt(tok, { prompt: sixWords }, { ...limits, prependBosId: 49 }),
    (e: unknown) => code('PROMPT_TOO_LONG')(e) && /7 tokens with the BOS/.test((e as Error).message),
  );
  // An empty prompt stays empty: a lone BOS is not a prompt.
  assert.throws(() => resolvePrompt(tok, { prompt: '' }, { ...limits, prependBosId: 49 }), code('EMPTY_PROMPT'));
});

test("the BOS rule: the model's BOS unless turned off; none for a model without one", () => {
  assert.equal(bosToPrepend({ bosTokenId: 50256 }, undefined), 50256);
  assert.equal(bosToPrepend({ bosTokenId: 50256 }, true), 50256);
  assert.equal(bosToPrepend({ bosTokenId: 50256 }, false), null);
  assert.equal(bosToPrepend({ bosTokenId: null }, undefined), null);
  assert.equal(bosToPrepend({ bosTokenId: null }, true), null);
  // A model whose convention is no BOS (Qwen): none unless asked for.
  assert.equal(bosToPrepend({ bosTokenId: 151643, defaultPrependBos: false }, undefined), null);
  assert.equal(bosToPrepend({ bosTokenId: 151643, defaultPrependBos: false }, true), 151643);
  assert.equal(bosToPrepend({ bosTokenId: 151643, defaultPrependBos: false }, false), null);
});

test('tokens whose offsets the tokenizer could only guess carry approximateSpan; exact ones do not', () => {
  const guessing = Object.assign(Object.create(tok) as WordTokenizer, {
    encode: (text: string) => ({ ...tok.encode(text), approximateOffsets: true as const }),
  });
  const r = resolvePrompt(guessing, { prompt: 'w3 w4' }, { ...limits, prependBosId: 49 });
  assert.deepEqual(
    r.tokens.map((t) => t.approximateSpan),
    [undefined, true, true],
    'the prepended BOS has no span to guess',
  );
  assert.ok(resolvePrompt(tok, { prompt: 'w3 w4' }, limits).tokens.every((t) => !('approximateSpan' in t)));
});
