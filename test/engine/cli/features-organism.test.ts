/**
 * `circuit-trace features --model organism --dictionary organism`, spawned as a separate process:
 * the organism's built-in transcoders are generated into CIRCUIT_TRACE_HOME on first use and their
 * "previous token is X" features fire where the prompt says (the feature's meaning comes from the
 * labels file written beside it, so this checks the spec, the generation and the loader together).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MAIN = join(ROOT, 'src', 'engine', 'cli', 'main.ts');
const scratch = mkdtempSync(join(tmpdir(), 'ct-features-organism-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, CIRCUIT_TRACE_HOME: scratch },
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

interface Label {
  layer: string;
  index: string | number;
  description: string;
}

describe('features --dictionary organism', () => {
  it("generates the organism's transcoders once and reports their mechanism features", () => {
    const run = cli(['features', '--model', 'organism', '--dictionary', 'organism', '--prompt', 'The cat sat on the mat. The cat sat on the', '--json']);
    assert.equal(run.code, 0, run.err);
    const folder = join(scratch, 'organism-transcoder');
    assert.ok(existsSync(join(folder, 'config.yaml')), 'the transcoders are written under CIRCUIT_TRACE_HOME');
    const out = JSON.parse(run.out) as {
      tokens: { text: string }[];
      hooks: { hook: string; features: { position: number; feature: number; activation: number }[]; reconstructionError: number[] }[];
    };
    assert.deepEqual(
      out.hooks.map((h) => h.hook),
      ['blocks.0.ln2.hook_normalized', 'blocks.1.ln2.hook_normalized'],
    );
    const labels = JSON.parse(readFileSync(join(folder, 'explanations.json'), 'utf8')) as Label[];
    const layer0 = new Map(labels.filter((l) => l.layer.startsWith('0-')).map((l) => [Number(l.index), l.description]));
    // With the BOS at 0, " sat" sits at 3 and 10: the feature 'previous token is " cat"' fires there.
    const texts = out.tokens.map((t) => t.text);
    const sat = texts.flatMap((t, i) => (t === ' sat' ? [i] : []));
    assert.deepEqual(sat, [3, 10]);
    for (const position of sat) {
      const names = out.hooks[0]!.features.filter((f) => f.position === position).map((f) => layer0.get(f.feature));
      assert.ok(names.includes('previous token is " cat"'), `position ${position}: ${names.join(', ')}`);
    }
    assert.equal(out.hooks[0]!.reconstructionError.length, texts.length);

    const again = cli(['features', '--model', 'organism', '--dictionary', 'organism', '--ids', '0,1,2', '--json']);
    assert.equal(again.code, 0, again.err);
  });

  it('refuses the organism dictionary on another model with a typed error', () => {
    const tiny = mkdtempSync(join(scratch, 'tiny-'));
    const made = cli(['random-model', '--preset', 'tiny', '--seed', '3', '--out', tiny]);
    assert.equal(made.code, 0, made.err);
    const run = cli(['features', '--model', tiny, '--dictionary', 'organism', '--ids', '1,2,3', '--json']);
    assert.equal(run.code, 2);
    assert.match(run.err, /d_model|width|organism/i);
  });
});
