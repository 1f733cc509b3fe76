import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeMarkdown, formatBytes, formatPercent, formatSigned, markdownCode, quoteToken } from '../../src/extension/format/token-text.js';
import { ResultCache } from '../../src/extension/result-cache.js';
import { analysisKey } from '../../src/extension/analysis-key.js';
import { parseTokenInput } from '../../src/extension/token-input.js';

test('token text formatting', () => {
  assert.equal(quoteToken(' Mary'), '" Mary"');
  assert.equal(quoteToken('\n'), '"\\n"');
  assert.equal(formatPercent(0.4461), '44.6%');
  assert.equal(formatPercent(1), '100.0%');
  assert.equal(formatPercent(0.0002), '0.02%');
  assert.equal(formatPercent(0), '0.0%');
  assert.equal(formatSigned(1.234), '+1.23');
  assert.equal(formatSigned(-0.5, 1), '−0.5');
  assert.equal(markdownCode('a`b'), '``a`b``');
  assert.equal(markdownCode('`'), '`` ` ``');
  assert.equal(escapeMarkdown('a|b*c'), 'a\\|b\\*c');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(548_105_171), '548 MB');
  assert.equal(formatBytes(1_500_000), '1.5 MB');
});

test('result cache keeps the most recently used entries', () => {
  const c = new ResultCache<number>(2);
  c.set('a', 1);
  c.set('b', 2);
  assert.equal(c.get('a'), 1);
  c.set('c', 3);
  assert.equal(c.peek('b'), undefined, 'b was least recently used');
  assert.equal(c.peek('a'), 1);
  assert.equal(c.size, 2);
  assert.throws(() => new ResultCache(0), RangeError);
});

test('analysis key changes with the prompt, the traced tokens and the model', () => {
  const base = analysisKey({ prompt: 'x', target: { text: ' y' } }, 'gpt2');
  assert.equal(base, analysisKey({ prompt: 'x', target: { text: ' y' } }, 'gpt2'));
  assert.match(base, /^[0-9a-f]{16}@gpt2$/);
  assert.notEqual(base, analysisKey({ prompt: 'x ', target: { text: ' y' } }, 'gpt2'));
  assert.notEqual(base, analysisKey({ prompt: 'x', target: { text: 'y' } }, 'gpt2'));
  assert.notEqual(base, analysisKey({ prompt: 'x', target: { text: ' y' }, contrast: { id: 1 } }, 'gpt2'));
  assert.notEqual(base, analysisKey({ prompt: 'x', target: { text: ' y' } }, 'organism'));
  assert.notEqual(analysisKey({ prompt: 'x', target: { id: 1 } }, 'm'), analysisKey({ prompt: 'x', target: { text: '1' } }, 'm'));
});

test('token input: JSON string, id, empty, and helpful errors', () => {
  assert.deepEqual(parseTokenInput('" Mary"'), { ok: true, value: { text: ' Mary' } });
  assert.deepEqual(parseTokenInput('  5335 '), { ok: true, value: { id: 5335 } });
  assert.deepEqual(parseTokenInput(''), { ok: true, value: undefined });
  const bare = parseTokenInput('Mary');
  assert.equal(bare.ok, false);
  assert.match(bare.ok ? '' : bare.message, /" Mary"/);
  assert.equal(parseTokenInput('" Mary').ok, false);
  assert.equal(parseTokenInput('""').ok, false);
  assert.equal(parseTokenInput('99999999999999999999').ok, false);
});
