/**
 * The one escaping helper for user text in Markdown tooltips and hovers (markdown-text.ts): a
 * prompt with a code fence, backticks, HTML and a command link stays text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeMarkdown, markdownCodeBlock } from '../../../src/extension/format/markdown-text.js';
import { tokenHoverMarkdown } from '../../../src/extension/prompt-file/hover-content.js';
import { makeResult } from '../../mocks/fixtures.js';

const HOSTILE = 'Say ```js\n[run me](command:workbench.action.terminal.new) `tick` <img src=x> &lt; https://evil.example *b* _i_ # h\n```';
const PUNCTUATION = /[!-/:-@[-`{-~]/;

test('escaped text has every ASCII punctuation character backslash-escaped, on one line', () => {
  const escaped = escapeMarkdown(HOSTILE);
  assert.ok(!/[\r\n]/.test(escaped), 'a line break could start a block (a fence, a heading)');
  // Take out every escape pair: no bare punctuation may remain.
  const bare = escaped.replace(/\\[!-/:-@[-`{-~]/g, '');
  assert.ok(!PUNCTUATION.test(bare), `bare punctuation left in ${bare}`);
  assert.equal(escapeMarkdown('[x](command:y)'), '\\[x\\]\\(command\\:y\\)');
  assert.equal(escapeMarkdown('plain words 42'), 'plain words 42');
});

test('a code block fence is longer than any backtick run inside, so the text cannot close it', () => {
  const block = markdownCodeBlock(HOSTILE);
  assert.equal(block, `\`\`\`\`text\n${HOSTILE}\n\`\`\`\``);
  assert.equal(markdownCodeBlock('no ticks'), '```text\nno ticks\n```');
  const long = markdownCodeBlock('a `````` b');
  assert.ok(long.startsWith('```````text\n') && long.endsWith('\n```````'));
});

test('the hover escapes the model name, which comes from a user-chosen folder or repository', () => {
  const result = makeResult();
  result.model.displayName = '[open](command:workbench.action.terminal.new)';
  const md = tokenHoverMarkdown(result, 1, { topPredictions: 5, topHeads: 2 });
  assert.ok(md.includes('\\[open\\]\\(command\\:workbench\\.action\\.terminal\\.new\\)'), md);
  assert.ok(!md.includes('[open](command:'), md);
});
