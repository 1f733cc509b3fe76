/**
 * `circuit-trace patch` on a tiny random GPT-2 folder: the JSON document, the human-readable report,
 * and the errors of bad flags (checked before any model is loaded) and bad prompts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { patchCommand, type PatchCliOutput } from '../../../src/engine/cli/patch-command.js';
import { parseFlags } from '../../../src/engine/cli/command.js';
import { EngineError } from '../../../src/engine/errors.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { runPatchSweep } from '../../../src/engine/patching/index.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { randomModelFolder } from '../../helpers/model-fixtures.js';

const CLEAN = '464,3797,3332,319,262,2603,13,383,3797,3332';
const CORRUPT = '464,3290,3332,319,262,2603,13,383,3290,1110';

async function runCli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  let stdout = '',
    stderr = '';
  await patchCommand.run(parseFlags(args), {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
  });
  return { stdout, stderr };
}

describe('circuit-trace patch', () => {
  let dir: string;
  let model: InstrumentedModel;
  let tokenizer: Awaited<ReturnType<typeof loadModelFolder>>['tokenizer'];
  before(async () => {
    dir = (await randomModelFolder('tiny', 5)).dir;
    const loaded = await loadModelFolder(dir);
    tokenizer = loaded.tokenizer;
    model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
  });
  after(() => model.dispose());

  test('--json: baselines and one entry per head, equal to the engine call', async () => {
    const { stdout } = await runCli([
      '--model',
      dir,
      '--clean-ids',
      CLEAN,
      '--corrupt-ids',
      CORRUPT,
      '--target-id',
      '3332',
      '--contrast-id',
      '1110',
      '--kind',
      'heads-last',
      '--json',
    ]);
    const out = JSON.parse(stdout) as PatchCliOutput;
    const direct = await runPatchSweep(model, tokenizer, {
      cleanIds: CLEAN.split(',').map(Number),
      corruptIds: CORRUPT.split(',').map(Number),
      target: { id: 3332 },
      contrast: { id: 1110 },
      kind: 'heads-last',
    });
    assert.equal(out.kind, 'heads-last');
    assert.equal(out.metric, 'logit_diff');
    // Ids are used exactly as given.
    assert.equal(out.prependBos, false);
    assert.equal(out.model.nLayers, 2);
    assert.equal(out.cleanTokens.length, 10);
    assert.ok(Math.abs(out.clean.logitDiff - direct.clean.logitDiff) < 1e-6);
    assert.ok(Math.abs(out.corrupt.prob - direct.corrupt.prob) < 1e-9);
    assert.equal(out.entries.length, 8);
    out.entries.forEach((e, i) => {
      const d = direct.entries[i]!;
      assert.deepEqual([e.layer, e.head, e.position], [d.layer, d.head, 9]);
      assert.ok(Math.abs(e.logitDiff - d.logitDiff) < 1e-6 && Math.abs(e.recovery - d.recovery) < 1e-6);
      assert.deepEqual(Object.keys(e), ['layer', 'head', 'position', 'value', 'logitDiff', 'prob', 'recovery']);
    });
    assert.ok(out.elapsedMs > 0);
  });

  test('text prompts and tokens, residual sweep, no contrast', async () => {
    const { stdout } = await runCli([
      '--model',
      dir,
      '--clean',
      'The cat sat on the mat',
      '--corrupt',
      'The dog sat on the mat',
      '--target',
      ' and',
      '--kind',
      'resid',
      '--json',
    ]);
    const out = JSON.parse(stdout) as PatchCliOutput;
    // Without a contrast the metric is the target's log-probability; text prompts get the BOS.
    assert.equal(out.metric, 'log_prob');
    assert.equal(out.prependBos, true);
    assert.equal(out.cleanTokens[0]!.bos, true);
    assert.equal(out.contrast, null);
    assert.equal(out.target, ' and');
    assert.equal(out.entries.length, 2 * 7);
    assert.deepEqual(Object.keys(out.entries[3]!), ['layer', 'position', 'value', 'logitDiff', 'prob', 'recovery']);
    // Positions 0 (the BOS) and 1 ("The") are shared by both prompts: patching them changes nothing.
    assert.equal(out.entries[0]!.recovery, 0);
    assert.equal(out.entries[1]!.recovery, 0);
    assert.ok(out.entries[2]!.recovery !== 0);
    const off = JSON.parse(
      (
        await runCli([
          '--model',
          dir,
          '--clean',
          'The cat sat on the mat',
          '--corrupt',
          'The dog sat on the mat',
          '--target',
          ' and',
          '--kind',
          'resid',
          '--no-prepend-bos',
          '--json',
        ])
      ).stdout,
    ) as PatchCliOutput;
    assert.equal(off.prependBos, false);
    assert.equal(off.entries.length, 2 * 6);
  });

  test('a single component, and an undefined recovery written as null', async () => {
    const single = JSON.parse(
      (
        await runCli([
          '--model',
          dir,
          '--clean-ids',
          CLEAN,
          '--corrupt-ids',
          CORRUPT,
          '--target-id',
          '3332',
          '--kind',
          'single',
          '--hook',
          'z',
          '--layer',
          '1',
          '--head',
          '2',
          '--position',
          '9',
          '--json',
        ])
      ).stdout,
    ) as PatchCliOutput;
    assert.deepEqual(
      single.entries.map((e) => [e.layer, e.head, e.position]),
      [[1, 2, 9]],
    );
    const same = (await runCli(['--model', dir, '--clean-ids', CLEAN, '--corrupt-ids', CLEAN, '--target-id', '3332', '--kind', 'mlp', '--json'])).stdout;
    const parsed = JSON.parse(same) as { entries: Array<{ recovery: number | null }> };
    assert.ok(parsed.entries.every((e) => e.recovery === null));
  });

  test('the human-readable report', async () => {
    const { stdout } = await runCli([
      '--model',
      dir,
      '--clean-ids',
      CLEAN,
      '--corrupt-ids',
      CORRUPT,
      '--target-id',
      '3332',
      '--contrast-id',
      '1110',
      '--kind',
      'heads-all',
    ]);
    assert.match(stdout, /heads-all patching, 8 components, 10 tokens/);
    assert.match(stdout, /^positions: no BOS/m);
    assert.match(stdout, /^metric: logit\(" sat"\) − logit/m);
    assert.match(stdout, /^clean +-?\d/m);
    assert.match(stdout, /^corrupt +-?\d/m);
    assert.match(stdout, /largest recovery/);
    assert.equal(stdout.split('\n').filter((l) => /^ {2}L\dH\d/.test(l)).length, 8);
  });

  describe('bad input', () => {
    const code =
      (c: string, text?: RegExp) =>
      (error: unknown): boolean =>
        error instanceof EngineError && error.code === c && (!text || text.test(error.message));
    const base = (): string[] => ['--model', dir, '--clean-ids', CLEAN, '--corrupt-ids', CORRUPT, '--target-id', '3332'];
    test('flags are checked before the model loads', async () => {
      const noModel = ['--clean-ids', CLEAN, '--corrupt-ids', CORRUPT, '--target-id', '3332'];
      await assert.rejects(runCli([...noModel, '--kind', 'sideways']), code('BAD_ARGUMENT', /Unknown --kind/));
      await assert.rejects(runCli([...noModel]), code('BAD_ARGUMENT', /needs --kind/));
      await assert.rejects(runCli(['--clean-ids', CLEAN, '--corrupt-ids', CORRUPT, '--kind', 'resid']), code('BAD_ARGUMENT', /--target/));
      await assert.rejects(runCli([...noModel, '--kind', 'resid', '--bogus', '1']), code('BAD_ARGUMENT', /Unknown flag --bogus/));
      await assert.rejects(runCli([...noModel, '--kind', 'resid', '--clean', 'x']), code('BAD_ARGUMENT', /exactly one of --clean/));
      await assert.rejects(runCli([...noModel, '--kind', 'resid', '--position', '3']), code('BAD_ARGUMENT', /--position applies/));
      await assert.rejects(runCli([...noModel, '--kind', 'resid', '--head', '3']), code('BAD_ARGUMENT', /only apply to --kind single/));
      await assert.rejects(runCli([...noModel, '--kind', 'single', '--hook', 'z']), code('BAD_ARGUMENT', /--hook and --layer/));
      await assert.rejects(runCli([...noModel, '--kind', 'single', '--hook', 'pattern', '--layer', '0']), code('BAD_ARGUMENT', /Unknown --hook/));
      await assert.rejects(runCli([...noModel, '--kind', 'resid', '--target', ' a']), code('BAD_ARGUMENT', /not both/));
      await assert.rejects(runCli([...noModel, '--kind', 'resid']), code('BAD_ARGUMENT', /--model/));
    });
    test('prompts of different lengths, targets that are not one token, bad components', async () => {
      await assert.rejects(
        runCli(['--model', dir, '--clean', 'The cat sat', '--corrupt', 'The elephant sat down', '--target', ' on', '--kind', 'resid']),
        code('LENGTH_MISMATCH', /4 tokens and the corrupted prompt 5/),
      );
      await assert.rejects(
        runCli(['--model', dir, '--clean-ids', CLEAN, '--corrupt-ids', CORRUPT, '--target', ' interpretability', '--kind', 'resid']),
        code('NOT_SINGLE_TOKEN', /" interpret"/),
      );
      await assert.rejects(runCli([...base(), '--kind', 'single', '--hook', 'z', '--layer', '0']), code('BAD_ARGUMENT', /needs the head/));
      await assert.rejects(runCli([...base(), '--kind', 'heads-last', '--position', '10']), code('BAD_ARGUMENT', /outside the prompt/));
    });
  });
});
