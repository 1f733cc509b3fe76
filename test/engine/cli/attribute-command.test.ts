/**
 * `circuit-trace attribute` on a tiny random GPT-2 folder: the JSON document equals the engine call
 * (heads, per position, edges under `entries` and `edges`), --repeat, text prompts with the BOS,
 * the report, and typed errors for bad flags and prompts (before a model loads where they can be)
 * and for edges on a Gemma model, which has none. Llama-family models: llama-circuit-cli.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAttribution } from '../../../src/engine/attribution/run-attribution.js';
import type { NodeScore } from '../../../src/engine/attribution/attribution-types.js';
import type { AttributeCliOutput } from '../../../src/engine/cli/attribute-command.js';
import { main } from '../../../src/engine/cli/main.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { GradientModel } from '../../../src/engine/runtime/gradient-model.js';
import { randomModelFolder } from '../../helpers/model-fixtures.js';

const CLEAN = '464,3797,3332,319,262,2603';
const CORRUPT = '464,3290,3332,319,262,1110';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await main(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

describe('circuit-trace attribute', () => {
  let dir: string;
  let model: GradientModel;
  before(async () => {
    dir = (await randomModelFolder('tiny', 5)).dir;
    model = await GradientModel.create((await loadModelFolder(dir)).model);
  });
  after(() => model.dispose());

  const ids = ['--model', '', '--clean-ids', CLEAN, '--corrupt-ids', CORRUPT, '--target-id', '3332', '--contrast-id', '1110'];
  const withModel = (): string[] => ids.map((a) => (a === '' ? dir : a));

  test('--json heads: the metric and one entry per head, equal to the engine call', async () => {
    const { code, out, err } = await cli(['attribute', ...withModel(), '--method', 'atp', '--kind', 'heads', '--json']);
    assert.equal(code, 0, err);
    const doc = JSON.parse(out) as AttributeCliOutput;
    const expected = await runAttribution(model, {
      cleanIds: CLEAN.split(',').map(Number),
      corruptIds: CORRUPT.split(',').map(Number),
      targetId: 3332,
      contrastId: 1110,
      method: 'atp',
      kind: 'heads',
    });
    assert.equal(doc.method, 'atp');
    assert.equal(doc.kind, 'heads');
    assert.deepEqual(doc.metric, expected.metric);
    assert.deepEqual(doc.entries, expected.entries);
    const { nLayers, nHeads } = model.config;
    assert.equal(doc.entries.length, nLayers * nHeads);
    assert.deepEqual(Object.keys(doc.entries[0]!).sort(), ['head', 'layer', 'score']);
    assert.ok(doc.elapsedMs > 0);
  });

  test('--per-position, atp-star and --repeat: head entries carry their position; elapsedMs is a median', async () => {
    const { code, out, err } = await cli(['attribute', ...withModel(), '--method', 'atp-star', '--kind', 'heads', '--per-position', '--repeat', '3', '--json']);
    assert.equal(code, 0, err);
    const doc = JSON.parse(out) as AttributeCliOutput;
    const entries = doc.entries as NodeScore[];
    assert.equal(entries.length, model.config.nLayers * model.config.nHeads * 6);
    assert.deepEqual(
      entries.slice(0, 2).map((e) => [e.layer, e.head, e.position]),
      [
        [0, 0, 0],
        [0, 0, 1],
      ],
    );
  });

  test('edges: { from, to, score } under entries and edges, the edge count of the graph', async () => {
    const { code, out, err } = await cli(['attribute', ...withModel(), '--method', 'eap-ig', '--steps', '2', '--kind', 'edges', '--json']);
    assert.equal(code, 0, err);
    const doc = JSON.parse(out) as AttributeCliOutput;
    const { nLayers: L, nHeads: H } = model.config;
    // Per layer: q/k/v of each head read embed and every earlier writer; the MLP also the layer's heads; the logits everything.
    let edges = 0;
    for (let l = 0; l < L; l++) edges += 3 * H * (1 + l * (H + 1)) + (1 + l * (H + 1) + H);
    edges += 1 + L * (H + 1);
    assert.equal(doc.entries.length, edges);
    assert.deepEqual(doc.edges, doc.entries);
    assert.equal(doc.steps, 2);
    assert.deepEqual(Object.keys(doc.edges![0]!).sort(), ['from', 'score', 'to']);
    assert.ok(doc.edges!.some((e) => e.from === 'embed' && e.to === 'L0H0.q'));
    assert.ok(doc.edges!.some((e) => e.from === `L0H1` && e.to === 'mlp0'));
  });

  test('text prompts get the BOS; the report lists the largest scores', async () => {
    const { code, out, err } = await cli([
      'attribute',
      '--model',
      dir,
      '--clean',
      'The cat sat on the mat',
      '--corrupt',
      'The dog sat on the mat',
      '--target',
      ' mat',
      '--method',
      'atp',
      '--kind',
      'mlp-out',
      '--json',
    ]);
    assert.equal(code, 0, err);
    const doc = JSON.parse(out) as AttributeCliOutput;
    assert.equal(doc.cleanIds[0], 50256);
    assert.equal(doc.contrastId, null);
    const report = await cli(['attribute', ...withModel(), '--method', 'atp', '--kind', 'neurons']);
    assert.equal(report.code, 0, report.err);
    assert.match(report.out, /atp over neurons: \d+ scores, 6 tokens/);
    assert.match(report.out, /largest \|score\|:\n {2}L\d N\d+/);
  });

  test('typed errors: lengths, steps 0 or huge, unknown method or kind, a method with the wrong kind', async () => {
    const bad = async (extra: string[], pattern: RegExp): Promise<void> => {
      const { code, err } = await cli(['attribute', ...withModel(), ...extra]);
      assert.equal(code, 2, err);
      assert.match(err, pattern);
    };
    await bad(['--method', 'atp', '--kind', 'heads', '--corrupt-ids', '464,3290,3332'], /LENGTH_MISMATCH/);
    await bad(['--method', 'eap-ig', '--kind', 'edges', '--steps', '0'], /BAD_ARGUMENT: EAP-IG's steps must be a whole number from 1 to 100 \(got 0\)/);
    await bad(['--method', 'eap-ig', '--kind', 'edges', '--steps', '100000'], /from 1 to 100 \(got 100000\)/);
    await bad(['--method', 'magic', '--kind', 'heads'], /Unknown --method "magic"/);
    await bad(['--method', 'atp', '--kind', 'layers'], /Unknown --kind "layers"/);
    await bad(['--method', 'eap', '--kind', 'heads'], /eap scores edges, not heads/);
    await bad(['--method', 'atp', '--kind', 'heads', '--repeat', '0'], /--repeat must be an integer of at least 1/);
  });

  test('edges on a Gemma model: UNSUPPORTED_ARCHITECTURE naming it', async () => {
    const gemma = mkdtempSync(join(tmpdir(), 'ct-attribute-gemma-'));
    try {
      const made = await cli(['random-model', '--arch', 'gemma2', '--preset', 'tiny', '--seed', '3', '--out', gemma]);
      assert.equal(made.code, 0, made.err);
      const { code, err } = await cli([
        'attribute',
        '--model',
        gemma,
        '--clean-ids',
        CLEAN,
        '--corrupt-ids',
        CORRUPT,
        '--target-id',
        '3332',
        '--method',
        'eap',
        '--kind',
        'edges',
      ]);
      assert.equal(code, 2);
      assert.match(err, /UNSUPPORTED_ARCHITECTURE: .*gemma2/);
    } finally {
      rmSync(gemma, { recursive: true, force: true });
    }
  });
});
