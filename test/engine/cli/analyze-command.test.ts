import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAnalyzeCommand, parseAnalyzeFlags, type AnalyzeCliOutput, type AnalyzeCommandDeps } from '../../../src/engine/cli/analyze-command.js';
import { parseFlags } from '../../../src/engine/cli/command.js';
import { EngineError, type EngineErrorCode } from '../../../src/engine/errors.js';
import type { LoadOptions, ModelSpec } from '../../../src/protocol/engine.js';
import { randomGpt2, ReferenceRunner } from '../../helpers/random-gpt2-weights.js';
import { WordTokenizer } from '../../helpers/word-tokenizer.js';

const L = 2;
const H = 2;
const model = randomGpt2({ nLayers: L, nHeads: H, dModel: 8, vocab: 32, nCtx: 16, seed: 8 });
const code = (c: EngineErrorCode) => (e: unknown) => e instanceof EngineError && e.code === c;

function harness() {
  const calls: { spec?: ModelSpec; options?: LoadOptions; disposed: number } = { disposed: 0 };
  const deps: AnalyzeCommandDeps = {
    resolveModelArg: (arg) => ({ kind: 'folder', path: arg }),
    loadModel: async (spec, options) => {
      calls.spec = spec;
      calls.options = options;
      const runner = Object.assign(new ReferenceRunner(model), { dispose: async () => void calls.disposed++ });
      return {
        runner,
        tokenizer: new WordTokenizer(32),
        info: {
          id: 'random',
          displayName: 'random GPT-2',
          nLayers: L,
          nHeads: H,
          dModel: 8,
          dHead: 4,
          dVocab: 32,
          nCtx: 16,
          bosTokenId: null,
          device: 'reference',
          deviceNote: null,
          loadMs: 0,
        },
      };
    },
  };
  let stdout = '';
  const io = { stdout: (t: string) => void (stdout += t), stderr: () => undefined };
  const command = createAnalyzeCommand(deps);
  return { calls, io, run: (args: string[]) => command.run(parseFlags(args), io), out: () => stdout };
}

test('analyze --json prints tokens, predictions, every head, census, trace components and the lens', async () => {
  const h = harness();
  await h.run([
    '--model',
    '/models/x',
    '--ids',
    '3,7,9,3,7',
    '--target-id',
    '9',
    '--contrast',
    ' w4',
    '--census',
    '--top-k',
    '3',
    '--device',
    'cpu',
    '--max-tokens',
    '12',
    '--offline',
    '--json',
  ]);
  const out = JSON.parse(h.out()) as AnalyzeCliOutput;
  assert.deepEqual(h.calls.spec, { kind: 'folder', path: '/models/x' });
  assert.deepEqual(h.calls.options, { device: 'cpu', maxTokens: 12, offline: true });
  assert.equal(h.calls.disposed, 1);
  assert.deepEqual(
    out.tokens.map((t) => t.id),
    [3, 7, 9, 3, 7],
  );
  assert.equal(out.predictions.length, 3);
  assert.equal(out.heads.length, L * H);
  for (const head of out.heads) {
    for (const key of ['layer', 'head', 'label', 'scores', 'entropy', 'concentration', 'outputNorm', 'dla']) assert.ok(key in head, key);
    assert.deepEqual(Object.keys(head.scores).sort(), ['duplicate', 'induction', 'previous']);
  }
  assert.equal(out.census!.length, L * H);
  for (const key of ['layer', 'head', 'previous', 'duplicate', 'induction']) assert.ok(key in out.census![0]!, key);
  assert.equal(out.trace.metric, 'logit_diff');
  assert.equal(out.trace.targetId, 9);
  assert.equal(out.trace.contrastId, 4);
  assert.equal(out.trace.components.length, L * H + L + 3);
  assert.ok(Math.abs(out.trace.components.reduce((s, c) => s + c.value, 0) - out.trace.actual) < 1e-4);
  assert.deepEqual(
    out.lens.map((l) => l.label),
    ['resid_pre 0', 'resid_pre 1', 'resid_post 1'],
  );
});

test('analyze --dla picks the attribution convention (default tl) and reports it', async () => {
  assert.equal(parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1', '--dla', 'raw'])).request.dla, 'raw');
  assert.equal(parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1', '--dla', 'tl'])).request.dla, 'tl');
  assert.equal(parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1'])).request.dla, undefined);
  assert.throws(() => parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1', '--dla', 'folded'])), code('BAD_ARGUMENT'));
  for (const [args, expected] of [
    [[], 'tl'],
    [['--dla', 'raw'], 'raw'],
  ] as const) {
    const h = harness();
    await h.run(['--model', 'm', '--ids', '3,7,9,3,7', '--target-id', '9', '--json', ...args]);
    const out = JSON.parse(h.out()) as AnalyzeCliOutput;
    assert.equal(out.trace.dla, expected);
    assert.ok(Math.abs(out.trace.components.reduce((s, c) => s + c.value, 0) - out.trace.actual) < 1e-4);
  }
  const h = harness();
  await h.run(['--model', 'm', '--ids', '3,7,9', '--dla', 'raw']);
  assert.match(h.out(), /\(DLA raw\)/);
});

test('analyze without --json prints a readable report', async () => {
  const h = harness();
  await h.run(['--model', 'm', '--prompt', 'w1 w2 w1']);
  // The BOS is position 0, so the last of three prompt tokens is position 3.
  assert.match(h.out(), /tokens: 0:BOS" w\d+" 1:"w1" 2:" w2" 3:" w1"/);
  assert.match(h.out(), /positions: BOS prepended, it is position 0/);
  assert.match(h.out(), /predictions at position 3/);
  assert.match(h.out(), /metric log_prob: -?\d/);
  assert.match(h.out(), /circuit trace of the logit of/);
  assert.match(h.out(), /resid_post 1/);
});

test('--prepend-bos / --no-prepend-bos and --metric greater-than:YY: absent means the engine default', async () => {
  const parse = (...extra: string[]) => parseAnalyzeFlags(parseFlags(['--model', 'm', '--prompt', 'w1', ...extra])).request;
  assert.equal(parse().prependBos, undefined);
  assert.equal(parse('--prepend-bos').prependBos, true);
  assert.equal(parse('--no-prepend-bos').prependBos, false);
  assert.throws(() => parse('--prepend-bos', '--no-prepend-bos'), code('BAD_ARGUMENT'));
  assert.deepEqual(parse('--metric', 'greater-than:32').metric, { kind: 'greater-than', startYear: 32 });
  assert.throws(() => parse('--metric', 'greater-than'), code('BAD_ARGUMENT'));
  assert.throws(() => parse('--metric', 'log_prob'), code('BAD_ARGUMENT'));
  const h = harness();
  await h.run(['--model', 'm', '--prompt', 'w1 w2 w1', '--no-prepend-bos', '--json']);
  const out = JSON.parse(h.out());
  assert.equal(out.prependBos, false);
  assert.deepEqual(
    out.tokens.map((t: { id: number }) => t.id),
    [1, 2, 1],
  );
  assert.equal(out.position, 2);
  const withBos = harness();
  await withBos.run(['--model', 'm', '--prompt', 'w1 w2 w1', '--json']);
  const bosOut = JSON.parse(withBos.out());
  assert.equal(bosOut.prependBos, true);
  assert.equal(bosOut.tokens[0].bos, true);
  assert.deepEqual([bosOut.tokens[0].start, bosOut.tokens[0].end], [0, 0]);
  assert.equal(bosOut.position, 3);
  const byIds = harness();
  await byIds.run(['--model', 'm', '--ids', '1,2,1', '--json']);
  assert.equal(JSON.parse(byIds.out()).prependBos, false);
});

test('flag errors are typed and say what to give', async () => {
  assert.throws(() => parseAnalyzeFlags(parseFlags(['--prompt', 'x'])), code('BAD_ARGUMENT'));
  assert.throws(() => parseAnalyzeFlags(parseFlags(['--model', 'm'])), /exactly one of --prompt/);
  assert.throws(() => parseAnalyzeFlags(parseFlags(['--model', 'm', '--prompt', 'a', '--ids', '1'])), /exactly one/);
  assert.throws(() => parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1,x'])), /comma-separated/);
  assert.equal(parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1', '--cache-dir', '/tmp/hf'])).load.cacheDir, '/tmp/hf');
  assert.throws(() => parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1', '--target', 'a', '--target-id', '2'])), /not both/);
  assert.throws(() => parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1', '--top-k', '0'])), /top-k/);
  assert.throws(() => parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1', '--device', 'tpu'])), /--device/);
  assert.throws(() => parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1', '--threshold', 'x'])), /--threshold/);
  assert.throws(() => parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1', '--bogus'])), /Unknown flag --bogus/);
  assert.throws(() => parseAnalyzeFlags(parseFlags(['--model', 'm', '--prompt'])), /--prompt needs a value/);
  const parsed = parseAnalyzeFlags(parseFlags(['--model', 'm', '--ids', '1, 2', '--position', '0', '--threshold', '0.5']));
  assert.deepEqual(parsed.request, { ids: [1, 2], position: 0, threshold: 0.5 });
  const envOffline = ['1', 'on', 'yes', 'true'].includes((process.env['HF_HUB_OFFLINE'] ?? '').toLowerCase());
  assert.deepEqual(parsed.load, { device: 'cpu', maxTokens: 1024, offline: envOffline });
  // Analysis errors surface as EngineErrors, and the model is still released.
  const h = harness();
  await assert.rejects(h.run(['--model', 'm', '--prompt', 'w1', '--target', ' x3']), code('NOT_SINGLE_TOKEN'));
  await assert.rejects(h.run(['--model', 'm', '--ids', '1,2,3', '--max-tokens', '2']), code('PROMPT_TOO_LONG'));
  assert.equal(h.calls.disposed, 2);
});
