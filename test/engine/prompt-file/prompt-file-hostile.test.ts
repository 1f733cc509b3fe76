/**
 * The `.prompt` parser on hostile input: linear time, a size cap, and Unicode line separators on
 * header and directive lines reported instead of silently turning the line into prompt text.
 *
 * Measured on the old parser (backtracking regular expressions, issue 15 B2), 100 KB inputs, on the
 * 2-core development machine: a body line of 100,000 spaces between two letters took 4,360 ms
 * (`/[ \t]+$/` retried from every space), "@" + 100,000 letters + U+2028 took 5,000 ms (the
 * directive pattern `^(\s*)@(\S*)(.*)$` backtracked over the name), and "@" + 100,000 spaces +
 * U+2028 took 6,200 ms; each doubling of the length quadrupled the time. The linear parser takes a
 * few milliseconds for each, so the 1 s bound below leaves a wide margin on a loaded machine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PROMPT_FILE_LENGTH, parsePromptFile, type PromptFile } from '../../../src/engine/prompt-file/parser.js';

const N = 100_000;

function timedParse(source: string): { file: PromptFile; ms: number } {
  const start = performance.now();
  const file = parsePromptFile(source);
  return { file, ms: performance.now() - start };
}

const HOSTILE: readonly { name: string; source: string }[] = [
  { name: 'a run of spaces inside body text', source: `## a\nx${' '.repeat(N)}y\n` },
  { name: 'a run of spaces and tabs inside body text', source: `## a\nx${' \t'.repeat(N / 2)}y\n` },
  { name: 'a body line of leading spaces', source: `## a\n${' '.repeat(N)}y\n` },
  { name: 'a long directive name followed by U+2028', source: `## a\nhello\n@${'x'.repeat(N)}\u2028\n` },
  { name: 'a directive of spaces followed by U+2028', source: `## a\nhello\n@${' '.repeat(N)}\u2028\n` },
  { name: 'a long header name followed by U+2029', source: `## ${'x'.repeat(N)}\u2029\nhello\n` },
  { name: 'a long comment-like line of whitespace', source: `${'\t'.repeat(N)}/\n## a\nhello\n` },
];

for (const { name, source } of HOSTILE) {
  test(`parses 100 KB of ${name} in linear time`, () => {
    const { ms } = timedParse(source);
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
  });
}

test('a U+2028 or U+2029 at the end of a directive line is reported, not read as prompt text', () => {
  for (const separator of ['\u2028', '\u2029']) {
    const file = parsePromptFile(`## a\nhello\n@target " x"${separator}\n`);
    assert.deepEqual(
      file.errors.map((e) => e.code),
      ['line-separator'],
    );
    assert.equal(file.prompts[0]?.text, 'hello', 'the directive line did not become prompt text');
    assert.equal(file.prompts[0]?.errorCount, 1);
    const error = file.errors[0];
    assert.deepEqual(error?.range, { start: { line: 2, character: 12 }, end: { line: 2, character: 13 } });
    assert.match(error?.message ?? '', separator === '\u2028' ? /U\+2028/ : /U\+2029/);
  }
});

test('a line separator inside a directive or header is reported too', () => {
  assert.deepEqual(
    parsePromptFile('## a\nhello\n@target\u2028" x"\n').errors.map((e) => e.code),
    ['line-separator'],
  );
  const header = parsePromptFile('## a\u2028b\nhello\n');
  assert.deepEqual(
    header.errors.map((e) => e.code),
    ['line-separator'],
  );
  assert.equal(header.prompts[0]?.name, 'a\u2028b');
  assert.equal(header.prompts[0]?.errorCount, 1, 'not analysed');
  // Escaped inside a JSON string it is an ordinary character.
  const escaped = parsePromptFile('## a\nhello\n@corrupt "hi\\u2028yo"\n');
  assert.deepEqual(escaped.errors, []);
  assert.equal(escaped.prompts[0]?.corrupt?.text, 'hi\u2028yo');
});

test('a file over the size cap is reported and nothing beyond the cap is parsed', () => {
  const prompt = '## p0\nhello world\n@target " x"\n';
  const filler = 'y'.repeat(999) + '\n';
  const lines = Math.ceil(MAX_PROMPT_FILE_LENGTH / filler.length) + 10;
  const source = `${prompt}## big\n${filler.repeat(lines)}## after\nnever read\n`;
  assert.ok(source.length > MAX_PROMPT_FILE_LENGTH);
  const { file, ms } = timedParse(source);
  assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
  assert.deepEqual(
    file.errors.map((e) => e.code),
    ['file-too-large'],
  );
  assert.deepEqual(
    file.prompts.map((p) => p.name),
    ['p0', 'big'],
    'the prompt after the cap is not read',
  );
  assert.equal(file.prompts[0]?.errorCount, 0, 'prompts wholly before the cap stay usable');
  assert.equal(file.prompts[1]?.errorCount, 1, 'the prompt cut by the cap is not analysed');
  const error = file.errors[0];
  assert.ok(error);
  // The first line not read is the first one that does not end within the cap.
  const firstUnread = Math.floor((MAX_PROMPT_FILE_LENGTH - prompt.length - '## big\n'.length) / filler.length) + 4;
  assert.deepEqual(error.range, { start: { line: firstUnread, character: 0 }, end: { line: firstUnread, character: 0 } });
  assert.match(error.message, /too large/);
});

test('a file whose first line is over the cap yields only the size diagnostic', () => {
  const file = parsePromptFile('## ' + 'x'.repeat(MAX_PROMPT_FILE_LENGTH));
  assert.deepEqual(file.prompts, []);
  assert.deepEqual(
    file.errors.map((e) => [e.code, e.range.start.line]),
    [['file-too-large', 0]],
  );
});

test('a file exactly at the cap is parsed whole', () => {
  const head = '## a\n';
  const source = head + 'z'.repeat(MAX_PROMPT_FILE_LENGTH - head.length);
  const file = parsePromptFile(source);
  assert.deepEqual(file.errors, []);
  assert.equal(file.prompts[0]?.text.length, MAX_PROMPT_FILE_LENGTH - head.length);
});
