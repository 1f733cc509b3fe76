import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePromptFile, type PromptEntry } from '../../../src/engine/prompt-file/parser.js';
import { parseDiagnostics, stringsToTokenize, tokenDiagnostics, tokenizationOf } from '../../../src/extension/prompt-file/diagnostic-rules.js';
import { ANALYZE_TITLE, PATCH_TITLE, predictionLensTitle, promptLenses } from '../../../src/extension/prompt-file/codelens-content.js';
import { headsAttendingFrom, tokenAt, tokenHoverMarkdown } from '../../../src/extension/prompt-file/hover-content.js';
import { patchRequestOf, questionOf } from '../../../src/extension/prompt-file/prompt-request.js';
import type { TokenInfo } from '../../../src/protocol/analysis.js';
import { attentionOf, makeResult, PROMPT, tokensOf } from '../../mocks/fixtures.js';

function onlyPrompt(source: string): PromptEntry {
  const p = parsePromptFile(source).prompts[0];
  assert.ok(p);
  return p;
}

function tokens(...texts: string[]): TokenInfo[] {
  let at = 0;
  return texts.map((text, i) => {
    const t = { id: 100 + i, text, start: at, end: at + text.length };
    at += text.length;
    return t;
  });
}

const LIMITS = { maxTokens: 5, dVocab: 1000, modelName: 'GPT-2 small', prependBosId: null };

test('diagnostics: a multi-token target shows how it tokenizes', () => {
  const p = onlyPrompt('## a\nWhen Maryam left\n@target " Maryam"\n');
  const d = tokenDiagnostics(p, { text: tokens('When', ' Maryam', ' left'), target: tokens(' Mary', 'am') }, LIMITS);
  assert.equal(d.length, 1);
  assert.equal(d[0]?.code, 'not-single-token');
  assert.match(d[0]?.message ?? '', /2 tokens for GPT-2 small: " Mary" \+ "am"/);
  assert.deepEqual(d[0]?.range, p.target?.range);
});

test('diagnostics: single-token target and contrast are fine', () => {
  const p = onlyPrompt('## a\nx\n@target " Mary"\n@contrast " John"\n');
  assert.deepEqual(tokenDiagnostics(p, { text: tokens('x'), target: tokens(' Mary'), contrast: tokens(' John') }, LIMITS), []);
});

test('diagnostics: corrupted prompt of another length names both lengths', () => {
  const p = onlyPrompt('## a\na b c\n@corrupt "a b c d"\n');
  const d = tokenDiagnostics(p, { text: tokens('a', ' b', ' c'), corrupt: tokens('a', ' b', ' c', ' d') }, LIMITS);
  assert.equal(d.length, 1);
  assert.equal(d[0]?.code, 'corrupt-length-mismatch');
  assert.match(d[0]?.message ?? '', /4 tokens long but the prompt is 3 tokens long/);
  assert.deepEqual(d[0]?.range, p.corrupt?.range);
});

test('diagnostics: a prompt over maxTokens', () => {
  const p = onlyPrompt('## a\na b c d e f\n');
  const d = tokenDiagnostics(p, { text: tokens('a', ' b', ' c', ' d', ' e', ' f') }, LIMITS);
  assert.deepEqual(
    d.map((x) => x.code),
    ['prompt-too-long'],
  );
  assert.match(d[0]?.message ?? '', /6 tokens long .* limit of 5 \(setting circuitTrace\.maxTokens\)/);
  assert.deepEqual(d[0]?.range, p.textRange);
  // Exactly at the limit is fine.
  assert.deepEqual(tokenDiagnostics(p, { text: tokens('a', ' b', ' c', ' d', ' e') }, LIMITS), []);
});

test('diagnostics: the BOS counts towards maxTokens, as in the engine (issue 15)', () => {
  const withBos = { ...LIMITS, prependBosId: 50256 };
  const p = onlyPrompt('## a\na b c d e\n@corrupt "a b c d f"\n');
  const five = { text: tokens('a', ' b', ' c', ' d', ' e'), corrupt: tokens('a', ' b', ' c', ' d', ' f') };
  // Five tokens fit a limit of 5 only without the BOS; the engine would answer PROMPT_TOO_LONG.
  assert.deepEqual(tokenDiagnostics(p, five, LIMITS), []);
  const d = tokenDiagnostics(p, five, withBos);
  assert.deepEqual(
    d.map((x) => x.code),
    ['prompt-too-long', 'corrupt-too-long'],
  );
  assert.match(d[0]?.message ?? '', /6 tokens with the BOS .* limit of 5 \(setting circuitTrace\.maxTokens\)/);
  assert.match(d[1]?.message ?? '', /6 tokens with the BOS, over the limit of 5/);
  assert.deepEqual(tokenDiagnostics(onlyPrompt('## a\na b c d\n'), { text: tokens('a', ' b', ' c', ' d') }, withBos), []);
});

test('diagnostics: token ids outside the vocabulary', () => {
  const p = onlyPrompt('## a\nx\n@target 1000\n@contrast 999\n');
  const d = tokenDiagnostics(p, { text: tokens('x') }, LIMITS);
  assert.deepEqual(
    d.map((x) => x.code),
    ['token-id-out-of-range'],
  );
});

test('diagnostics: parse errors become error diagnostics', () => {
  const file = parsePromptFile('## a\nx\n@bogus "y"\n');
  const d = parseDiagnostics(file);
  assert.equal(d.length, 1);
  assert.equal(d[0]?.severity, 'error');
  assert.equal(d[0]?.code, 'parse');
});

test('diagnostics: @metric problems are errors, @metric greater-than with @contrast a warning', () => {
  const bad = parseDiagnostics(parsePromptFile('## a\nx\n@metric greater-than 1732\n'));
  assert.deepEqual(
    bad.map((d) => [d.severity, d.code]),
    [['error', 'parse']],
  );
  const file = parsePromptFile('## a\nx\n@contrast " John"\n@metric greater-than 32\n');
  const d = parseDiagnostics(file);
  assert.deepEqual(
    d.map((x) => [x.severity, x.code]),
    [['warning', 'metric-ignores-contrast']],
  );
  assert.deepEqual(d[0]?.range, file.prompts[0]?.contrast?.range);
  // A warning leaves the prompt runnable: its CodeLens still offers Analyze.
  assert.equal(file.prompts[0]?.errorCount, 0);
});

test('diagnostics: strings to tokenize and the assembled tokenization', () => {
  const p = onlyPrompt('## a\nx y\n@target " y"\n@contrast 7\n@corrupt "x z"\n');
  assert.deepEqual(stringsToTokenize(p), ['x y', ' y', 'x z']);
  const encoded = new Map([
    ['x y', tokens('x', ' y')],
    [' y', tokens(' y')],
  ]);
  const t = tokenizationOf(p, encoded);
  assert.equal(t?.text.length, 2);
  assert.equal(t?.corrupt, undefined, 'not encoded yet: no rule can fire on it');
  assert.equal(tokenizationOf(p, new Map()), null);
});

test('CodeLens: Analyze, Patch with a corrupted prompt, and the top prediction after a run', () => {
  const withCorrupt = onlyPrompt('## a\nx\n@target " y"\n@corrupt "z"\n');
  assert.deepEqual(
    promptLenses(withCorrupt, {}).map((l) => l.title),
    [ANALYZE_TITLE, PATCH_TITLE],
  );
  const plain = onlyPrompt('## a\nx\n');
  assert.deepEqual(
    promptLenses(plain, {}).map((l) => l.title),
    ['Analyze'],
  );
  const top = { token: ' Mary', tokenId: 5335, prob: 0.4461, logit: 3 };
  assert.equal(predictionLensTitle(top), '→ " Mary" 44.6%');
  const after = promptLenses(withCorrupt, { top });
  assert.deepEqual(
    after.map((l) => l.title),
    ['Analyze', 'Patch', '→ " Mary" 44.6%'],
  );
  assert.equal(after[2]?.action, 'show-result');
  assert.deepEqual(
    promptLenses(plain, { running: true }).map((l) => l.action),
    ['analyze', 'show-result'],
  );
});

test('CodeLens: a prompt with problems offers no Analyze', () => {
  const broken = onlyPrompt('## a\nx\n@target y\n@bogus 1\n');
  const lenses = promptLenses(broken, {});
  assert.equal(lenses.length, 1);
  assert.equal(lenses[0]?.action, 'show-problems');
  assert.match(lenses[0]?.title ?? '', /2 problems/);
});

test('requests: question and patch request of a prompt', () => {
  const p = onlyPrompt('## a\nx\n@target " y"\n@contrast 7\n@corrupt "z"\n');
  assert.deepEqual(questionOf(p), { prompt: 'x', target: { text: ' y' }, contrast: { id: 7 } });
  assert.deepEqual(patchRequestOf(p), { clean: 'x', corrupt: 'z', target: { text: ' y' }, contrast: { id: 7 }, kind: 'heads-last' });
  const noTarget = onlyPrompt('## a\nx\n@corrupt "z"\n');
  assert.equal(patchRequestOf(noTarget), null);
  assert.deepEqual(patchRequestOf(noTarget, { id: 3 })?.target, { id: 3 });
  assert.equal(patchRequestOf(onlyPrompt('## a\nx\n')), null);
});

test('requests: @metric goes into the question and the patch request', () => {
  const p = onlyPrompt('## a\nfrom 1732 to 17\n@corrupt "from 1701 to 17"\n@metric greater-than 32\n');
  assert.deepEqual(questionOf(p), { prompt: 'from 1732 to 17', metric: { kind: 'greater-than', startYear: 32 } });
  assert.deepEqual(patchRequestOf(p, { id: 3 }), {
    clean: 'from 1732 to 17',
    corrupt: 'from 1701 to 17',
    target: { id: 3 },
    metric: { kind: 'greater-than', startYear: 32 },
    kind: 'heads-last',
  });
});

test('hover: finds the token under a position through the text map', () => {
  const p = onlyPrompt(`## a\n${PROMPT}\n`);
  const t = tokensOf();
  assert.equal(tokenAt(t, p.textMap, { line: 1, character: 0 })?.index, 0);
  assert.equal(tokenAt(t, p.textMap, { line: 1, character: 3 })?.index, 1, 'the leading space belongs to " cat"');
  assert.equal(tokenAt(t, p.textMap, { line: 1, character: 10 })?.index, 2);
  assert.deepEqual(tokenAt(t, p.textMap, { line: 1, character: 8 })?.range, { start: { line: 1, character: 7 }, end: { line: 1, character: 11 } });
  assert.equal(tokenAt(t, p.textMap, { line: 1, character: 11 }), undefined);
  assert.equal(tokenAt(t, p.textMap, { line: 0, character: 1 }), undefined);
  // A prepended BOS (empty span) is skipped.
  const withBos = [{ id: 50256, text: '<|endoftext|>', start: 0, end: 0 }, ...t];
  assert.equal(tokenAt(withBos, p.textMap, { line: 1, character: 0 })?.index, 1);
});

test('hover: heads attending from a token, strongest first, sink left out', () => {
  const heads = headsAttendingFrom(attentionOf(), 2, 2, 3, 2, 2);
  assert.deepEqual(heads, [
    { layer: 1, head: 0, key: 1, weight: Math.fround(0.9) },
    { layer: 0, head: 1, key: 2, weight: Math.fround(0.6) },
  ]);
  assert.deepEqual(headsAttendingFrom(attentionOf(), 2, 2, 3, 0, 5), []);
  assert.throws(() => headsAttendingFrom(new Float32Array(5), 2, 2, 3, 1, 1), RangeError);
});

test('hover: Markdown with token, id, next tokens and heads', () => {
  const md = tokenHoverMarkdown(makeResult(), 1, { topPredictions: 5, topHeads: 2 });
  assert.match(md, /`" cat"`\*\* · token id 3797 · position 1/);
  assert.match(md, /\| `" sat"` \| 30\.0% \|/);
  assert.match(md, /\| `" was"` \| 25\.0% \|/);
  const md2 = tokenHoverMarkdown(makeResult(), 2, { topPredictions: 5, topHeads: 2 });
  assert.match(md2, /\| L1H0 \| `" cat"` \(1\) \| 0\.90 \| induction \|/);
  assert.match(md2, /\| L0H1 \| `" sat"` \(2\) \| 0\.60 \| diffuse \|/);
  const first = tokenHoverMarkdown(makeResult(), 0, { topPredictions: 5, topHeads: 2 });
  assert.match(first, /only attend to itself/);
  const noPer = tokenHoverMarkdown(makeResult({ predictionsPerPosition: null }), 1, { topPredictions: 5, topHeads: 2 });
  assert.match(noPer, /not computed/);
  assert.doesNotMatch(md, /approximate/);
});

test('hover: a token whose place in the prompt is a best guess says so', () => {
  const plain = makeResult();
  const tokens = plain.tokens.map((t) => ({ ...t, approximateSpan: true }));
  assert.match(tokenHoverMarkdown(makeResult({ tokens }), 1, { topPredictions: 5, topHeads: 2 }), /where its tokens sit in the prompt is approximate/);
});

test('hover with a prepended BOS: positions say they count it, the BOS is named as the left-out sink, and it has no place in the text', () => {
  const plain = makeResult();
  const bos: TokenInfo = { id: 50256, text: '<|endoftext|>', start: 0, end: 0, bos: true };
  const n = plain.tokens.length + 1;
  const { nLayers, nHeads } = plain.model;
  // [layer, head, query, key]: every query puts all of its attention on the previous key (the BOS for query 1).
  const attention = new Float32Array(nLayers * nHeads * n * n);
  for (let lh = 0; lh < nLayers * nHeads; lh++) for (let q = 0; q < n; q++) attention[(lh * n + q) * n + Math.max(0, q - 1)] = 1;
  const result = makeResult({ prependBos: true, tokens: [bos, ...plain.tokens], attention, predictionsPerPosition: null });
  const md = tokenHoverMarkdown(result, 2, { topPredictions: 5, topHeads: 2 });
  assert.match(md, /position 2 \(the BOS is position 0\)/);
  assert.match(md, /the BOS at position 0, an attention sink, left out/);
  assert.doesNotMatch(tokenHoverMarkdown(plain, 1, { topPredictions: 5, topHeads: 2 }), /BOS/);
  const first = tokenHoverMarkdown(result, 0, { topPredictions: 5, topHeads: 2 });
  assert.match(first, /BOS/);
});
