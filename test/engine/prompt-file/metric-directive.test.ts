/** The `@metric` directive of `.prompt` files: `@metric greater-than 32`, its problems and its warning. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePromptFile } from '../../../src/engine/prompt-file/parser.js';

function only(source: string) {
  const file = parsePromptFile(source);
  return { file, prompt: file.prompts[0] };
}

test('@metric greater-than YY sets the metric, with the range of its value', () => {
  const { file, prompt } = only("## GT\nThe war lasted from the year 1732 to 17\n@metric greater-than 32   // the paper's\n");
  assert.deepEqual(file.errors, []);
  assert.deepEqual(file.warnings, []);
  assert.deepEqual(prompt?.metric, { kind: 'greater-than', startYear: 32, range: { start: { line: 2, character: 8 }, end: { line: 2, character: 23 } } });
  assert.ok(prompt?.directiveRanges.metric);
  assert.deepEqual(only('## a\nx 1705 to 17\n@metric greater-than 05\n').prompt?.metric?.startYear, 5);
  assert.equal(only('## a\nx\n').prompt?.metric, null);
});

test('@metric problems: unknown kind, missing or invalid year, a value missing, text after it, twice', () => {
  const codes = (line: string): string[] => parsePromptFile(`## a\nx\n${line}\n`).errors.map((e) => e.code);
  assert.deepEqual(codes('@metric less-than 32'), ['unknown-metric']);
  assert.deepEqual(codes('@metric greater-than'), ['bad-metric-value']);
  assert.deepEqual(codes('@metric greater-than // no year'), ['bad-metric-value']);
  for (const year of ['3', '032', '1732', 'xx', '-1', '3a', '３２']) assert.deepEqual(codes(`@metric greater-than ${year}`), ['bad-metric-value'], year);
  assert.deepEqual(codes('@metric'), ['malformed-directive']);
  assert.deepEqual(codes('@metric // nothing'), ['malformed-directive']);
  assert.deepEqual(codes('@metric greater-than 32 extra'), ['malformed-directive']);
  assert.deepEqual(codes('@metric greater-than 32\n@metric greater-than 40'), ['duplicate-directive']);

  const file = parsePromptFile('## a\nx\n@metric less-than 32\n');
  assert.match(file.errors[0]?.message ?? '', /Unknown metric "less-than"\. Known metrics: greater-than/);
  assert.deepEqual(file.errors[0]?.range, { start: { line: 2, character: 8 }, end: { line: 2, character: 17 } });
  assert.equal(file.prompts[0]?.errorCount, 1);
  const year = parsePromptFile('## a\nx\n@metric greater-than 1732\n').errors[0];
  assert.match(year?.message ?? '', /two digits.*@metric greater-than 32/);
  assert.deepEqual(year?.range, { start: { line: 2, character: 21 }, end: { line: 2, character: 25 } });
});

test('@metric greater-than with @contrast: a warning on the contrast, the prompt still runs', () => {
  const file = parsePromptFile('## a\nx 1732 to 17\n@contrast " John"\n@metric greater-than 32\n');
  assert.deepEqual(file.errors, []);
  assert.deepEqual(
    file.warnings.map((w) => w.code),
    ['metric-ignores-contrast'],
  );
  assert.deepEqual(file.warnings[0]?.range, file.prompts[0]?.contrast?.range);
  assert.match(file.warnings[0]?.message ?? '', /@metric greater-than ignores @contrast/);
  assert.equal(file.prompts[0]?.errorCount, 0);
});

test('@metric is parsed in linear time on a hostile line', () => {
  const long = `## a\nx\n@metric greater-than ${'3'.repeat(200_000)}${' '.repeat(200_000)}x\n@metric ${'-'.repeat(400_000)}\n`;
  const started = performance.now();
  const file = parsePromptFile(long);
  assert.ok(performance.now() - started < 500);
  assert.deepEqual(
    file.errors.map((e) => e.code),
    ['bad-metric-value', 'unknown-metric'],
  );
});
