/**
 * `circuit-trace patch --kind path` on a tiny random GPT-2 folder: the JSON document equals the
 * engine call (ids and text prompts), the report, and the typed errors of bad receivers and prompts
 * (flag errors before any model loads).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags } from '../../../src/engine/cli/command.js';
import { patchCommand } from '../../../src/engine/cli/patch-command.js';
import type { PathPatchCliOutput } from '../../../src/engine/cli/path-patch-command.js';
import { EngineError } from '../../../src/engine/errors.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { runPathPatching } from '../../../src/engine/patching/path-patching.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { randomModelFolder } from '../../helpers/model-fixtures.js';

const CLEAN = '464,3797,3332,319,262,2603,13,383,3797,3332';
const CORRUPT = '464,3290,3332,319,262,2603,13,383,3290,1110';

async function runCli(args: string[]): Promise<string> {
  let stdout = '';
  await patchCommand.run(parseFlags(args), {
    stdout: (t) => {
      stdout += t;
    },
    stderr: () => undefined,
  });
  return stdout;
}

describe('circuit-trace patch --kind path', () => {
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
  const ids = ['--clean-ids', CLEAN, '--corrupt-ids', CORRUPT, '--target-id', '3332', '--contrast-id', '1110', '--kind', 'path'];

  test('--json, receivers logits: baselines and one entry per head, equal to the engine call', async () => {
    const out = JSON.parse(await runCli(['--model', dir, ...ids, '--receivers', 'logits', '--json'])) as PathPatchCliOutput;
    const engine = await runPathPatching(model, tokenizer, {
      cleanIds: CLEAN.split(',').map(Number),
      corruptIds: CORRUPT.split(',').map(Number),
      target: { id: 3332 },
      contrast: { id: 1110 },
      receivers: 'logits',
    });
    assert.equal(out.receivers, 'logits');
    assert.equal(out.entries.length, 8);
    assert.ok(Math.abs(out.cleanLogitDiff - engine.cleanLogitDiff) < 1e-6 && Math.abs(out.corruptLogitDiff - engine.corruptLogitDiff) < 1e-6);
    out.entries.forEach((e, i) => {
      assert.deepEqual(Object.keys(e).sort(), ['head', 'layer', 'logitDiff', 'normalized']);
      assert.deepEqual([e.layer, e.head], [engine.entries[i]!.layer, engine.entries[i]!.head]);
      assert.ok(Math.abs(e.logitDiff - engine.entries[i]!.logitDiff) < 1e-6);
      assert.ok(Math.abs(e.normalized - (e.logitDiff - out.cleanLogitDiff) / (out.cleanLogitDiff - out.corruptLogitDiff)) < 1e-6);
    });
  });

  test('text prompts and head receivers: senders are the layers before the latest receiver', async () => {
    const out = JSON.parse(
      await runCli([
        '--model',
        dir,
        '--clean',
        'The cat sat on the mat',
        '--corrupt',
        'The dog sat on the mat',
        '--target',
        ' mat',
        '--kind',
        'path',
        '--receivers',
        'L1H2:q,L1H0:v',
        '--json',
      ]),
    ) as PathPatchCliOutput;
    assert.equal(out.receivers, 'L1H2:q,L1H0:v');
    assert.equal(out.contrast, null);
    assert.equal(out.prependBos, true);
    assert.deepEqual(
      out.entries.map((e) => [e.layer, e.head]),
      [
        [0, 0],
        [0, 1],
        [0, 2],
        [0, 3],
      ],
    );
  });

  test('the human-readable report', async () => {
    const stdout = await runCli(['--model', dir, ...ids, '--receivers', 'logits']);
    assert.match(stdout, /path patching to logits, 8 senders, 10 tokens/);
    assert.equal(stdout.split('\n').filter((l) => /^ {2}L\dH\d/.test(l)).length, 8);
  });

  describe('bad input gets typed errors', () => {
    const code =
      (c: string, text?: RegExp) =>
      (error: unknown): boolean =>
        error instanceof EngineError && error.code === c && (!text || text.test(error.message));
    test('flags are checked before the model loads', async () => {
      const noModel = ['--model', '/nonexistent/model', ...ids];
      await assert.rejects(runCli(noModel), code('BAD_ARGUMENT', /needs --receivers/));
      await assert.rejects(runCli([...noModel, '--receivers', 'L1H2']), code('BAD_ARGUMENT', /Malformed receivers/));
      await assert.rejects(runCli([...noModel, '--receivers', 'logits,L1H0:q']), code('BAD_ARGUMENT', /cannot be combined/));
      await assert.rejects(runCli([...noModel, '--receivers', 'logits', '--position', '3']), code('BAD_ARGUMENT', /--position does not apply to --kind path/));
      await assert.rejects(runCli([...noModel, '--receivers', 'logits', '--metric', 'greater-than:32']), code('BAD_ARGUMENT', /--metric does not apply/));
      await assert.rejects(
        runCli([
          '--model',
          '/nonexistent/model',
          '--clean-ids',
          CLEAN,
          '--corrupt-ids',
          CORRUPT,
          '--target-id',
          '3332',
          '--kind',
          'heads-last',
          '--receivers',
          'logits',
        ]),
        code('BAD_ARGUMENT', /--receivers only applies to --kind path/),
      );
    });
    test('receivers that name missing layers or heads, or come before every sender', async () => {
      await assert.rejects(runCli(['--model', dir, ...ids, '--receivers', 'L2H0:q']), code('BAD_ARGUMENT', /layer 2 does not exist/));
      await assert.rejects(runCli(['--model', dir, ...ids, '--receivers', 'L1H7:k']), code('BAD_ARGUMENT', /head 7 does not exist/));
      await assert.rejects(runCli(['--model', dir, ...ids, '--receivers', 'L0H1:q']), code('BAD_ARGUMENT', /before every sender/));
    });
    test('prompts of different lengths', async () => {
      const args = ['--model', dir, '--clean-ids', CLEAN, '--corrupt-ids', '464,3290', '--target-id', '3332', '--kind', 'path', '--receivers', 'logits'];
      await assert.rejects(runCli(args), code('LENGTH_MISMATCH'));
    });
  });
});
