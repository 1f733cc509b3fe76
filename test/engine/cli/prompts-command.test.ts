/**
 * `circuit-trace prompts FILE [--json]`, spawned as a separate process: the parser's guarantees
 * seen from outside. A normal file lists its prompts and exits 0; problems are FILE:LINE:COLUMN
 * lines and exit 1; hostile files (100 KB runs that made the old parser backtrack for 4-6 s each,
 * line separators, a file over the size cap) finish quickly with the right diagnostics; bad usage
 * exits 2 with one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRESETS } from '../../../src/extension/presets.js';
import type { PromptFileReport } from '../../../src/engine/prompt-file/prompt-file-report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MAIN = join(ROOT, 'src', 'engine', 'cli', 'main.ts');
const PRESETS_FILE = join(ROOT, 'test', 'e2e', 'workspace', 'presets.prompt');
const scratch = mkdtempSync(join(tmpdir(), 'ct-prompts-cli-'));

/** Runs the CLI in its own process. The old parser needed over 25 s for the hostile file; the timeout kills such a run. */
function cli(args: string[]): { code: number | null; out: string; err: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

function write(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

test('lists the prompts of a normal file with their directives, exit 0', () => {
  const { code, out, err } = cli(['prompts', PRESETS_FILE]);
  assert.equal(code, 0, err);
  assert.match(out, new RegExp(`presets\\.prompt: ${PRESETS.length} prompts, no problems`));
  const ioi = PRESETS.find((p) => p.contrast && p.corrupt);
  assert.ok(ioi);
  assert.ok(out.includes(`## ${ioi.name} (line `), out);
  assert.ok(out.includes(`  text      ${JSON.stringify(ioi.prompt)}\n`), out);
  assert.ok(out.includes(`  @target   ${JSON.stringify(ioi.target)}\n`), out);
  assert.ok(out.includes(`  @contrast ${JSON.stringify(ioi.contrast)}\n`), out);
  assert.ok(out.includes(`  @corrupt  ${JSON.stringify(ioi.corrupt)}\n`), out);
});

test('--json gives every prompt, its directives and no diagnostics', () => {
  const { code, out, err } = cli(['prompts', PRESETS_FILE, '--json']);
  assert.equal(code, 0, err);
  const report = JSON.parse(out) as PromptFileReport & { file: string };
  assert.equal(report.file, PRESETS_FILE);
  assert.deepEqual(report.diagnostics, []);
  assert.equal(report.errors, 0);
  assert.deepEqual(
    report.prompts.map((p) => [p.name, p.text, p.target, p.contrast, p.corrupt, p.metric, p.problems]),
    PRESETS.map((p) => [
      p.name,
      p.prompt,
      p.target === undefined ? null : { text: p.target },
      p.contrast === undefined ? null : { text: p.contrast },
      p.corrupt ?? null,
      p.metric ?? null,
      0,
    ]),
  );
});

test('@metric is listed (text and --json); its problems are errors, with @contrast a warning that keeps exit 0', () => {
  const file = write('metric.prompt', '## GT\nfrom 1732 to 17\n@metric greater-than 32\n\n## Both\nx\n@contrast " y"\n@metric greater-than 05\n');
  const { code, out, err } = cli(['prompts', file]);
  assert.equal(code, 0, err + out);
  assert.ok(out.includes('## GT (line 1)\n  text      "from 1732 to 17"\n  @metric   greater-than 32\n'), out);
  assert.ok(out.includes('  @metric   greater-than 05\n'), out);
  assert.ok(out.includes(`${file}:7:11: warning: @metric greater-than ignores @contrast`), out);
  assert.match(out, /\(metric-ignores-contrast\)\n/);
  const json = cli(['prompts', file, '--json']);
  assert.equal(json.code, 0);
  const report = JSON.parse(json.out) as PromptFileReport;
  assert.deepEqual(
    report.prompts.map((p) => p.metric),
    [
      { kind: 'greater-than', startYear: 32 },
      { kind: 'greater-than', startYear: 5 },
    ],
  );
  assert.deepEqual(
    report.diagnostics.map((d) => [d.severity, d.code, d.line]),
    [['warning', 'metric-ignores-contrast', 7]],
  );
  assert.equal(report.errors, 0);

  const broken = cli(['prompts', write('bad-metric.prompt', '## a\nx\n@metric lesser-than 32\n')]);
  assert.equal(broken.code, 1);
  assert.ok(broken.out.includes(':3:9: error: Unknown metric "lesser-than".'), broken.out);
});

test('problems are FILE:LINE:COLUMN lines with severity, message and code, exit 1', () => {
  const file = write('broken.prompt', '## ok\nhello\n@target 5335\n\n## broken\nhi\n@target Mary\n@taget " x"\n');
  const { code, out } = cli(['prompts', file]);
  assert.equal(code, 1, out);
  assert.match(out, /broken\.prompt: 2 prompts, 2 problems/);
  assert.ok(out.includes('  @target   id 5335\n'), out);
  assert.ok(out.includes('## broken (line 5) · 2 problems, not analysed\n'), out);
  assert.ok(out.includes(`${file}:7:9: error: The value of @target is not a JSON string.`), out);
  assert.ok(out.includes(`${file}:8:1: error: Unknown directive @taget.`), out);
  assert.match(out, /\(bad-json-string\)\n/);

  const json = cli(['prompts', file, '--json']);
  assert.equal(json.code, 1);
  const report = JSON.parse(json.out) as PromptFileReport;
  assert.equal(report.errors, 2);
  assert.deepEqual(report.diagnostics[0], {
    line: 7,
    column: 9,
    endLine: 7,
    endColumn: 13,
    severity: 'error',
    code: 'bad-json-string',
    message: report.diagnostics[0]?.message,
  });
  assert.deepEqual(report.prompts[0]?.target, { id: 5335 });
});

test('hostile 100 KB lines finish quickly and line separators are diagnostics, not prompt text', () => {
  const n = 100_000;
  const file = write(
    'hostile.prompt',
    [
      '## spaces',
      `x${' '.repeat(n)}y`,
      `@target " z"\u2028`,
      '## directive',
      'hello',
      `@${'x'.repeat(n)}\u2028`,
      '## blanks',
      `${' \t'.repeat(n / 2)}y`,
      `@${' '.repeat(n)}\u2029`,
      '',
    ].join('\n'),
  );
  const started = Date.now();
  const { code, out, err } = cli(['prompts', file, '--json']);
  assert.equal(code, 1, err);
  // Process start-up included; the old parser alone took over 25 s on this file.
  assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
  const report = JSON.parse(out) as PromptFileReport;
  assert.deepEqual(
    report.diagnostics.map((d) => [d.code, d.line]),
    [
      ['line-separator', 3],
      ['line-separator', 6],
      ['line-separator', 9],
    ],
  );
  assert.equal(report.prompts[1]?.text, 'hello', 'the directive line with U+2028 did not become prompt text');
  assert.equal(report.prompts[0]?.text, `x${' '.repeat(n)}y`);
});

test('a file over the size cap is reported as too large and read no further', () => {
  const filler = `${'y'.repeat(99)}\n`.repeat(30_000);
  const file = write('huge.prompt', `## first\nhello\n## big\n${filler}## after\nnever read\n`);
  const { code, out } = cli(['prompts', file, '--json']);
  assert.equal(code, 1, out);
  const report = JSON.parse(out) as PromptFileReport;
  assert.deepEqual(
    report.diagnostics.map((d) => d.code),
    ['file-too-large'],
  );
  assert.match(report.diagnostics[0]?.message ?? '', /too large/);
  assert.deepEqual(
    report.prompts.map((p) => [p.name, p.problems]),
    [
      ['first', 0],
      ['big', 1],
    ],
  );
});

test('control characters in names and messages are printed escaped, not sent to the terminal', () => {
  const file = write('escape.prompt', '## red \u001b[31m\n\n');
  const { code, out } = cli(['prompts', file]);
  assert.equal(code, 1);
  assert.ok(!out.includes('\u001b'), JSON.stringify(out));
  assert.ok(out.includes('## red \\u001b[31m (line 1)'), out);
});

test('bad usage exits 2 with a one-line error', () => {
  for (const args of [
    ['prompts'],
    ['prompts', join(scratch, 'missing.prompt')],
    ['prompts', scratch],
    ['prompts', PRESETS_FILE, '--model', 'x'],
    ['prompts', '--json', PRESETS_FILE],
  ]) {
    const { code, err } = cli(args);
    assert.equal(code, 2, `${args.join(' ')} -> ${err}`);
    assert.equal(err.trim().split('\n').length, 1, err);
    assert.match(err, /^circuit-trace prompts: BAD_ARGUMENT: /);
  }
});
