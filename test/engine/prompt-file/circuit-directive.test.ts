/** The `@circuit` directive of `.prompt` files: `@circuit L9H6 L9H9 L10H0 ≥ 80%`, its ranges and its problems. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePromptFile } from '../../../src/engine/prompt-file/parser.js';
import { promptFileReport } from '../../../src/engine/prompt-file/prompt-file-report.js';

const HEAD = '## IOI\nWhen Mary and John went to the store, John gave a drink to\n@corrupt "When Mary and John went to the store, Mary gave a drink to"\n';

function codes(line: string): string[] {
  return parsePromptFile(`${HEAD}${line}\n`).errors.map((e) => e.code);
}

test('@circuit names heads and MLPs and a threshold in percent (≥ or >=), with each node’s range', () => {
  const file = parsePromptFile(`${HEAD}@circuit L9H6 L9H9 L10H0 ≥ 80%   // the name movers\n@circuit L0H0 mlp1 >= 92.5%\n`);
  assert.deepEqual(file.errors, []);
  const prompt = file.prompts[0]!;
  assert.equal(prompt.errorCount, 0);
  assert.equal(prompt.circuits.length, 2);
  const [first, second] = prompt.circuits as [(typeof prompt.circuits)[0], (typeof prompt.circuits)[0]];
  assert.deepEqual(
    first.nodes.map(({ range, ...node }) => [node, range.start.character, range.end.character]),
    [
      [{ kind: 'head', layer: 9, head: 6 }, 9, 13],
      [{ kind: 'head', layer: 9, head: 9 }, 14, 18],
      [{ kind: 'head', layer: 10, head: 0 }, 19, 24],
    ],
  );
  assert.equal(first.threshold, 0.8);
  assert.deepEqual(first.range, { start: { line: 3, character: 0 }, end: { line: 3, character: 51 } });
  assert.deepEqual(
    second.nodes.map(({ range: _range, ...node }) => node),
    [
      { kind: 'head', layer: 0, head: 0 },
      { kind: 'mlp', layer: 1 },
    ],
  );
  assert.equal(second.threshold, 0.925);
  assert.deepEqual(prompt.directiveRanges.circuit, first.range);
  // The threshold may touch the comparator; 0% and 100% are thresholds too.
  assert.equal(parsePromptFile(`${HEAD}@circuit L1H0 ≥80%\n`).prompts[0]!.circuits[0]!.threshold, 0.8);
  assert.equal(parsePromptFile(`${HEAD}@circuit L1H0 >= 0%\n`).prompts[0]!.circuits[0]!.threshold, 0);
  assert.equal(parsePromptFile(`${HEAD}@circuit L1H0 >= 100%\n`).prompts[0]!.circuits[0]!.threshold, 1);
  assert.deepEqual(parsePromptFile('## a\nx\n').prompts[0]!.circuits, []);
});

test('@circuit problems: bad or repeated nodes, a missing or bad threshold, no nodes, text after it', () => {
  assert.deepEqual(codes('@circuit'), ['malformed-directive']);
  assert.deepEqual(codes('@circuit ≥ 80%'), ['malformed-directive']);
  assert.deepEqual(codes('@circuit L9H6 L9H9'), ['malformed-directive']);
  assert.deepEqual(codes('@circuit L9H6 // no threshold'), ['malformed-directive']);
  for (const node of ['L9', 'H6', 'l9h6', 'L9H', 'LxH1', 'mlp', 'MLP3', 'mlp-1', 'embed', 'logits', 'L9H6.q'])
    assert.deepEqual(codes(`@circuit ${node} ≥ 80%`), ['bad-circuit-node'], node);
  assert.deepEqual(codes('@circuit L9H6 L9H6 ≥ 80%'), ['bad-circuit-node']);
  for (const threshold of ['', '80', '101%', '-5%', '80.%', '.5%', 'x%', '1000%', '８０%'])
    assert.deepEqual(codes(`@circuit L9H6 ≥ ${threshold}`), ['bad-circuit-threshold'], threshold);
  assert.deepEqual(codes('@circuit L9H6 > 80%'), ['malformed-directive']);
  assert.deepEqual(codes('@circuit L9H6≥ 80%'), ['malformed-directive']);
  assert.deepEqual(codes('@circuit L9H6 ≥ 80% extra'), ['malformed-directive']);

  const file = parsePromptFile(`${HEAD}@circuit L9H6 foo ≥ 80%\n`);
  assert.match(file.errors[0]!.message, /"foo" is not a circuit node: name heads as L<layer>H<head>/);
  assert.deepEqual(file.errors[0]!.range, { start: { line: 3, character: 14 }, end: { line: 3, character: 17 } });
  assert.equal(file.prompts[0]!.errorCount, 1);
  const high = parsePromptFile(`${HEAD}@circuit L9H6 ≥ 120%\n`).errors[0]!;
  assert.match(high.message, /"120%" is not a threshold: write a percentage from 0% to 100%/);
  assert.deepEqual(high.range, { start: { line: 3, character: 16 }, end: { line: 3, character: 20 } });
});

test('@circuit without @corrupt is an error on the directive; with it the prompt is clean', () => {
  const file = parsePromptFile('## Induction\nThe cat sat on the mat. The cat sat on the\n@circuit L1H0 ≥ 80%\n');
  assert.deepEqual(
    file.errors.map((e) => e.code),
    ['circuit-needs-corrupt'],
  );
  assert.match(file.errors[0]!.message, /@circuit needs a corrupted counterpart: add @corrupt/);
  assert.deepEqual(file.errors[0]!.range, file.prompts[0]!.circuits[0]!.range);
  assert.equal(file.prompts[0]!.errorCount, 1);
  assert.deepEqual(codes('@circuit L1H0 ≥ 80%'), []);
});

test('the prompts report lists each hypothesis with its nodes, threshold and line', () => {
  const report = promptFileReport(parsePromptFile(`${HEAD}@circuit L9H6 mlp3 ≥ 80%\n`));
  assert.deepEqual(report.prompts[0]!.circuits, [{ nodes: ['L9H6', 'mlp3'], threshold: 0.8, line: 4 }]);
});

test('@circuit is parsed in linear time on a hostile line', () => {
  const long = `${HEAD}@circuit ${'L1H1'.repeat(100_000)} ≥ 80%\n@circuit ${'L1H2 '.repeat(1)}≥ ${'9'.repeat(300_000)}%\n@circuit ${'L'.repeat(200_000)}\n`;
  const started = performance.now();
  const file = parsePromptFile(long);
  assert.ok(performance.now() - started < 500);
  assert.deepEqual(
    file.errors.map((e) => e.code),
    ['bad-circuit-node', 'bad-circuit-threshold', 'bad-circuit-node'],
  );
});
