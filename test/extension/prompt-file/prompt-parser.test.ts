import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parsePromptFile, promptAtLine, type ParseErrorCode } from '../../../src/engine/prompt-file/parser.js';
import { decodeJsonString, isJsonStringError } from '../../../src/engine/prompt-file/json-string.js';
import { PRESETS, presetsAsPromptFile } from '../../../src/extension/presets.js';

function codes(source: string): ParseErrorCode[] {
  return parsePromptFile(source).errors.map((e) => e.code);
}

test('reads named prompts with body text and directives', () => {
  const src = [
    '// comment',
    '## IOI',
    'When Mary and John went to the store, John gave a drink to',
    '@target " Mary"',
    '@contrast " John"',
    '@corrupt "When Mary and John went to the store, Mary gave a drink to"',
    '',
    '## Induction',
    'The cat sat on the mat. The cat sat on the',
  ].join('\n');
  const file = parsePromptFile(src);
  assert.deepEqual(file.errors, []);
  assert.equal(file.prompts.length, 2);
  const [ioi, induction] = file.prompts;
  assert.ok(ioi && induction);
  assert.equal(ioi.name, 'IOI');
  assert.equal(ioi.text, 'When Mary and John went to the store, John gave a drink to');
  assert.deepEqual(ioi.target && ioi.target.kind === 'text' ? ioi.target.text : null, ' Mary');
  assert.deepEqual(ioi.contrast && ioi.contrast.kind === 'text' ? ioi.contrast.text : null, ' John');
  assert.equal(ioi.corrupt?.text, 'When Mary and John went to the store, Mary gave a drink to');
  assert.deepEqual(ioi.headerRange, { start: { line: 1, character: 0 }, end: { line: 1, character: 6 } });
  assert.deepEqual(ioi.nameRange, { start: { line: 1, character: 3 }, end: { line: 1, character: 6 } });
  assert.deepEqual(ioi.range, { start: { line: 1, character: 0 }, end: { line: 5, character: 69 } });
  assert.equal(ioi.blockEndLine, 6);
  // The target's value range covers the JSON string with its quotes.
  assert.deepEqual(ioi.target?.range, { start: { line: 3, character: 8 }, end: { line: 3, character: 15 } });
  assert.equal(induction.index, 1);
  assert.equal(induction.target, null);
  assert.equal(induction.corrupt, null);
  assert.equal(induction.errorCount, 0);
});

test('maps every code unit of the text back to its source position', () => {
  const file = parsePromptFile('## two lines\nab\n  cd  \n@target "x"\n');
  const p = file.prompts[0];
  assert.ok(p);
  assert.equal(p.text, 'ab\n  cd');
  assert.equal(p.textMap.length, p.text.length + 1);
  assert.deepEqual(p.textMap[0], { line: 1, character: 0 });
  assert.deepEqual(p.textMap[2], { line: 1, character: 2 }, 'the newline maps to the end of its line');
  assert.deepEqual(p.textMap[5], { line: 2, character: 2 });
  assert.deepEqual(p.textMap[p.text.length], { line: 2, character: 4 }, 'end of text, trailing spaces dropped');
  assert.deepEqual(p.textRange, { start: { line: 1, character: 0 }, end: { line: 2, character: 4 } });
});

test('@text keeps exact whitespace and maps escapes to their source columns', () => {
  const file = parsePromptFile('## exact\n@text "A\\tB "\n');
  const p = file.prompts[0];
  assert.ok(p);
  assert.deepEqual(file.errors, []);
  assert.equal(p.text, 'A\tB ');
  assert.deepEqual(
    p.textMap.map((m) => m.character),
    [7, 8, 10, 11, 12],
  );
});

test('token ids are accepted for target and contrast', () => {
  const p = parsePromptFile('## ids\nhello\n@target 5335\n@contrast 0\n').prompts[0];
  assert.deepEqual(p?.target && p.target.kind === 'id' ? p.target.id : null, 5335);
  assert.deepEqual(p?.contrast && p.contrast.kind === 'id' ? p.contrast.id : null, 0);
});

test('CRLF files parse like LF files', () => {
  const lf = parsePromptFile('## a\nx y\n@target " z"\n');
  const crlf = parsePromptFile('## a\r\nx y\r\n@target " z"\r\n');
  assert.equal(crlf.prompts[0]?.text, lf.prompts[0]?.text);
  assert.deepEqual(crlf.errors, []);
});

test('comments and blank lines inside the body', () => {
  const p = parsePromptFile('## a\n\nfirst\n// not text\n\nsecond\n\n\n@target " x"\n').prompts[0];
  assert.equal(p?.text, 'first\n\nsecond');
});

test('malformed files: each problem is reported with its code and range', () => {
  assert.deepEqual(codes('## a\nhello\n@target Mary\n'), ['bad-json-string']);
  assert.deepEqual(codes('## a\nhello\n@target " Mary\n'), ['bad-json-string']);
  assert.deepEqual(codes('## a\nhello\n@target " M\\qary"\n'), ['bad-json-string']);
  assert.deepEqual(codes('## a\nhello\n@target " M\\u00"\n'), ['bad-json-string']);
  assert.deepEqual(codes('## a\nhello\n@target\n'), ['malformed-directive']);
  assert.deepEqual(codes('## a\nhello\n@target" x"\n'), ['malformed-directive']);
  assert.deepEqual(codes('## a\nhello\n@target " x" trailing\n'), ['malformed-directive']);
  assert.deepEqual(codes('## a\nhello\n@ " x"\n'), ['malformed-directive']);
  assert.deepEqual(codes('## a\nhello\n@taget " x"\n'), ['unknown-directive']);
  assert.deepEqual(codes('## a\nhello\n@target " x"\n@target " y"\n'), ['duplicate-directive']);
  assert.deepEqual(codes('## a\nhello\n\n## a\nworld\n'), ['duplicate-name']);
  assert.deepEqual(codes('##\nhello\n'), ['empty-name']);
  assert.deepEqual(codes('## a\n\n## b\nx\n'), ['empty-prompt']);
  assert.deepEqual(codes('stray text\n## a\nx\n'), ['text-outside-prompt']);
  assert.deepEqual(codes('@target " x"\n'), ['text-outside-prompt']);
  assert.deepEqual(codes('## a\nx\n@target " y"\nmore text\n'), ['text-after-directives']);
  assert.deepEqual(codes('## a\nx\n@text "y"\n'), ['text-and-body']);
  assert.deepEqual(codes('## a\nx\n@target ""\n'), ['bad-token-value']);
  assert.deepEqual(codes('## a\nx\n@corrupt "\tx"\n'), ['bad-json-string']);
});

test('error ranges point at the offending part', () => {
  const file = parsePromptFile('## a\nhello\n@taget " x"\n@target Mary\n');
  const unknown = file.errors.find((e) => e.code === 'unknown-directive');
  assert.deepEqual(unknown?.range, { start: { line: 2, character: 0 }, end: { line: 2, character: 6 } });
  const bare = file.errors.find((e) => e.code === 'bad-json-string');
  assert.deepEqual(bare?.range, { start: { line: 3, character: 8 }, end: { line: 3, character: 12 } });
  assert.match(bare?.message ?? '', /@target " Mary"/, 'the message shows how to write the token with its space');
  assert.equal(file.prompts[0]?.errorCount, 2);
});

test('a duplicate name keeps the first prompt only', () => {
  const file = parsePromptFile('## a\none\n## a\ntwo\n');
  assert.equal(file.prompts.length, 1);
  assert.equal(file.prompts[0]?.text, 'one');
  assert.equal(file.errors[0]?.range.start.line, 2);
});

test('an empty or comment-only file has no prompts and no errors', () => {
  assert.deepEqual(parsePromptFile(''), { prompts: [], errors: [], warnings: [] });
  assert.deepEqual(parsePromptFile('// only a comment\n\n'), { prompts: [], errors: [], warnings: [] });
});

test('promptAtLine finds the prompt whose block holds the cursor', () => {
  const file = parsePromptFile('// c\n## a\nx\n\n## b\ny\n\n');
  assert.equal(promptAtLine(file, 0), undefined);
  assert.equal(promptAtLine(file, 1)?.name, 'a');
  assert.equal(promptAtLine(file, 3)?.name, 'a');
  assert.equal(promptAtLine(file, 4)?.name, 'b');
  assert.equal(promptAtLine(file, 6)?.name, 'b');
});

test('JSON string decoding follows JSON.parse', () => {
  for (const literal of ['" Mary"', '"a\\"b"', '"\\u00e9\\n"', '"\\ud83d\\ude00"', '"\\/"', '""']) {
    const decoded = decodeJsonString(`x ${literal} y`, 2);
    assert.ok(!isJsonStringError(decoded), literal);
    assert.equal(decoded.value, JSON.parse(literal));
    assert.equal(decoded.columns.length, decoded.value.length + 1);
    assert.equal(decoded.end, 2 + literal.length);
  }
  assert.ok(isJsonStringError(decodeJsonString("'single'", 0)));
});

test('the sample workspace presets.prompt holds the five presets', () => {
  const source = readFileSync(new URL('../../e2e/workspace/presets.prompt', import.meta.url), 'utf8');
  const file = parsePromptFile(source);
  assert.deepEqual(file.errors, []);
  assert.deepEqual(
    file.prompts.map((p) => p.name),
    PRESETS.map((p) => p.name),
  );
  for (const preset of PRESETS) {
    const p = file.prompts.find((q) => q.name === preset.name);
    assert.ok(p);
    assert.equal(p.text, preset.prompt);
    assert.equal(p.target?.kind === 'text' ? p.target.text : undefined, preset.target);
    assert.equal(p.contrast?.kind === 'text' ? p.contrast.text : undefined, preset.contrast);
    assert.equal(p.corrupt?.text, preset.corrupt);
    assert.deepEqual(p.metric ? { kind: p.metric.kind, startYear: p.metric.startYear } : undefined, preset.metric);
  }
  // And the generator round-trips.
  assert.deepEqual(
    parsePromptFile(presetsAsPromptFile()).prompts.map((p) => p.text),
    PRESETS.map((p) => p.prompt),
  );
  assert.deepEqual(
    parsePromptFile(presetsAsPromptFile()).prompts.map((p) => p.metric?.startYear),
    PRESETS.map((p) => p.metric?.startYear),
  );
});
