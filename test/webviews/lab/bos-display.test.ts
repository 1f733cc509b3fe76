import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BOS_LABEL,
  BOS_TITLE,
  bosPositions,
  positionConvention,
  promptText,
  tokenAxisLabels,
  tokenChip,
  tokenDisplay,
  tokenQuoted,
} from '../../../src/webviews/lab/shared/token-display.js';
import { flowArcs, focusSummary } from '../../../src/webviews/lab/views/flow/flow-model.js';
import { lensTable } from '../../../src/webviews/lab/views/lens/lens-model.js';
import { predictionsAt, predictionsNote } from '../../../src/webviews/lab/views/predictions/predictions-model.js';
import { SYNTHETIC_BOS, syntheticResult, syntheticTokens } from '../../mocks/synthetic-result.js';

test('synthetic BOS variant: position 0 is a zero-width BOS and the prompt does not contain it', () => {
  const r = syntheticResult({ bos: true, nTokens: 6 });
  assert.equal(r.prependBos, true);
  assert.equal(r.tokens.length, 6);
  assert.deepEqual(r.tokens[0], SYNTHETIC_BOS);
  assert.equal(r.tokens[0]!.start, r.tokens[0]!.end);
  assert.ok(r.tokens.slice(1).every((t) => !t.bos));
  assert.equal(r.prompt, ' The cat sat on the');
  assert.equal(promptText(r.tokens), r.prompt, 'the prompt is the tokens without the BOS');
  assert.equal(syntheticResult({ nTokens: 6 }).prependBos, false);
});

test('BOS display: a muted ⟨BOS⟩ with its tooltip instead of <|endoftext|>', () => {
  const [bos, first] = syntheticTokens(3, true);
  assert.equal(tokenDisplay(bos), BOS_LABEL);
  assert.equal(tokenQuoted(bos), '⟨BOS⟩');
  assert.deepEqual(tokenChip(bos, 0), { label: '⟨BOS⟩', title: 'prepended BOS, position 0', bos: true });
  assert.deepEqual(tokenChip(first, 1), { label: ' The', title: 'position 1', bos: false });
  assert.equal(tokenQuoted(first), '" The"');
  assert.deepEqual(tokenAxisLabels(syntheticTokens(3, true), 12), ['⟨BOS⟩', ' The', ' cat']);
  assert.deepEqual([...bosPositions(syntheticTokens(3, true))], [0]);
  assert.deepEqual([...bosPositions(syntheticTokens(3))], []);
  assert.equal(BOS_TITLE, 'prepended BOS, position 0');
});

test('position convention for the header: with a BOS, positions count it as 0', () => {
  assert.equal(positionConvention(syntheticResult({ bos: true })).text, 'positions count the prepended BOS as 0');
  assert.equal(positionConvention(syntheticResult({ bos: true })).bos, true);
  assert.equal(positionConvention(syntheticResult()).text, 'no BOS');
  // A result from before the field existed (no prependBos) with no BOS token.
  assert.equal(positionConvention({ tokens: syntheticTokens(3) }).text, 'no BOS');
});

test('BOS in the lens, predictions and token flow', () => {
  const r = syntheticResult({ bos: true, nTokens: 5, perPosition: true, nLayers: 2, nHeads: 2 });
  const table = lensTable(r.lens, r.tokens);
  assert.deepEqual(table.positions, [0, 1, 2, 3, 4]);
  assert.deepEqual(table.headings[0], { label: '⟨BOS⟩', title: 'prepended BOS, position 0', bos: true });
  assert.deepEqual(table.headings[1], { label: ' The', title: 'position 1', bos: false });
  const lastOnly = lensTable({ ...r.lens, perPosition: null }, r.tokens);
  assert.deepEqual(lastOnly.headings, [{ label: ' on', title: 'position 4', bos: false }], 'without perPosition: the traced position only');

  assert.equal(predictionsAt(r, 0).position, 0);
  assert.equal(predictionsNote(r, 0), 'after ⟨BOS⟩ (prepended BOS, position 0)');
  assert.equal(predictionsNote(r, 2), 'after " cat" (position 2)');

  const arcs = flowArcs(r.flow.total, r.tokens.length, 4, { threshold: 0, maxArcs: 100, skipFirstKey: false });
  assert.match(focusSummary(arcs, 0, r.tokens), /^token 0 ⟨BOS⟩ · most attended by \d+ "/);
});
