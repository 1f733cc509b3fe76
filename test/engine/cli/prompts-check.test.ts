/**
 * `circuit-trace prompts FILE --check --model M [--json]`, spawned as a separate process on the
 * organism: one line per `@circuit` hypothesis with its measured share and threshold, exit 1 when
 * one does not hold (or names a head the model lacks), 0 when all hold; a file with errors is not
 * checked (exit 1); the check's flags are refused without --check. The measured values themselves
 * are tested against the float64 reference in test/engine/circuits/circuit-check.test.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { generateRandomGemma } from '../../../src/engine/model/random-gemma.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MAIN = join(ROOT, 'src', 'engine', 'cli', 'main.ts');
const scratch = mkdtempSync(join(tmpdir(), 'ct-prompts-check-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
    // The organism is generated once into this folder and reused by the later runs.
    env: { ...process.env, CIRCUIT_TRACE_HOME: scratch },
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

function write(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

const INDUCTION = [
  '## Induction',
  ' apple river crane music tiger apple river crane',
  '@target " music"',
  '@corrupt " apple river stone music tiger apple river crane"',
].join('\n');

test('--check: one line per hypothesis with ✓/✗, measured % and threshold; exit 1 when one fails or names a missing head', () => {
  const file = write(
    'mixed.prompt',
    `${INDUCTION}\n@circuit L0H0 L1H0 ≥ 90%\n@circuit L1H0 >= 50%   // the induction head alone\n@circuit L1H7 ≥ 10%\n\n## Plain\nThe cat sat on the\n`,
  );
  const { code, out, err } = cli(['prompts', file, '--check', '--model', 'organism']);
  assert.equal(code, 1, err + out);
  assert.match(out, /mixed\.prompt on Circuit Trace organism.*: 1 of 3 circuit hypotheses hold\n/);
  assert.match(out, /\n✓ Induction \(line 5\): L0H0 L1H0 carry 1\d\d\.\d% \(≥ 90%\), 23 of 110 edges\n/);
  assert.match(out, /\n✗ Induction \(line 6\): L1H0 carry -?0\.0% \(≥ 50%\), 14 of 110 edges\n/);
  assert.match(
    out,
    /\n✗ Induction \(line 7\): L1H7: not checked \(≥ 10%\): The circuit names L1H7, which this model does not have: it has layers 0\.\.1 with heads 0\.\.3 each/,
  );
});

test('--check --json: every verdict with its measurement; exit 0 when all hold', () => {
  const file = write('holds.prompt', `${INDUCTION}\n@circuit L0H0 L1H0 ≥ 90%\n@circuit L0H0 L0H1 L1H0 mlp1 >= 80%\n`);
  const { code, out, err } = cli(['prompts', file, '--check', '--json', '--model', 'organism']);
  assert.equal(code, 0, err + out);
  const report = JSON.parse(out) as {
    file: string;
    passed: boolean;
    hypotheses: Array<{
      prompt: string;
      line: number;
      nodes: string[];
      threshold: number;
      passed: boolean;
      error: string | null;
      result: Record<string, unknown>;
    }>;
  };
  assert.equal(report.file, file);
  assert.equal(report.passed, true);
  assert.deepEqual(
    report.hypotheses.map((h) => [h.prompt, h.line, h.nodes, h.threshold, h.passed, h.error]),
    [
      ['Induction', 5, ['L0H0', 'L1H0'], 0.9, true, null],
      ['Induction', 6, ['L0H0', 'L0H1', 'L1H0', 'mlp1'], 0.8, true, null],
    ],
  );
  const first = report.hypotheses[0]!.result;
  assert.equal(first['metric'], 'log_prob');
  assert.equal(first['edges'], 23);
  assert.ok((first['faithfulness'] as number) >= 0.9);
  assert.ok((first['clean'] as number) > (first['corrupt'] as number));
});

test('--check without hypotheses exits 0; a file with errors is not checked and exits 1; bad usage exits 2', () => {
  const none = cli(['prompts', write('none.prompt', '## a\nhello\n'), '--check', '--model', 'organism']);
  assert.equal(none.code, 0, none.err);
  assert.match(none.out, /no @circuit hypotheses to check/);

  const broken = cli(['prompts', write('broken.prompt', '## a\nhello\n@circuit L1H0 ≥ 80%\n'), '--check', '--model', 'organism']);
  assert.equal(broken.code, 1, broken.err);
  assert.match(broken.out, /broken\.prompt: 1 error; fix them to check its circuits\n/);
  assert.match(broken.out, /broken\.prompt:3:1: error: @circuit needs a corrupted counterpart/);

  const listed = cli(['prompts', write('listed.prompt', `${INDUCTION}\n@circuit L0H0 L1H0 >= 92.5%\n`)]);
  assert.equal(listed.code, 0, listed.err);
  assert.ok(listed.out.includes('  @circuit  L0H0 L1H0 ≥ 92.5%\n'), listed.out);

  const file = write('usage.prompt', '## a\nhello\n');
  for (const [args, message] of [
    [['--model', 'organism'], /--model applies only with --check/],
    [['--check'], /--check needs --model/],
    [['--check', 'yes', '--model', 'organism'], /--check takes no value/],
    [['--check', '--model', 'organism', '--steps', '3'], /prompts has no --steps flag/],
  ] as const) {
    const { code, err } = cli(['prompts', file, ...args]);
    assert.equal(code, 2, err);
    assert.match(err, message);
  }
});

test('--check on a model without edges between heads (Gemma) is a typed UNSUPPORTED_ARCHITECTURE error, exit 2', async () => {
  const gemma = join(scratch, 'gemma');
  const random = generateRandomGemma('gemma2', 'tiny', 3);
  await writeHfFolder(gemma, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
  const file = write('gemma.prompt', `${INDUCTION}\n@circuit L0H0 ≥ 50%\n`);
  const { code, out, err } = cli(['prompts', file, '--check', '--model', gemma]);
  assert.equal(code, 2, out);
  assert.match(err, /^circuit-trace prompts: UNSUPPORTED_ARCHITECTURE: gemma2 models have no edges between heads/);
});
