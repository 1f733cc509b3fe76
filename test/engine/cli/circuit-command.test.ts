/**
 * `circuit-trace circuit` on a tiny random GPT-2 folder: the circuit's edges carry the EAP scores the
 * attribution engine gives, its faithfulness equals the float64 edge-patching reference on the same
 * edges, --curve adds the curve, the text report, and typed errors for bad flags and prompts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runAttribution } from '../../../src/engine/attribution/run-attribution.js';
import type { CircuitCliOutput } from '../../../src/engine/cli/circuit-command.js';
import { main } from '../../../src/engine/cli/main.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { GradientModel } from '../../../src/engine/runtime/gradient-model.js';
import type { ScoredEdge } from '../../../src/protocol/circuit.js';
import { randomModelFolder, type RandomModelFixture } from '../../helpers/model-fixtures.js';
import { referenceEdgePatchedMetric } from '../../helpers/reference-edge-patching.js';

const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797];
const CORRUPT = [464, 3290, 3332, 319, 262, 2603, 13, 383, 3290];
const CONFIG = { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 };

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await main(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

describe('circuit-trace circuit', () => {
  let fixture: RandomModelFixture;
  let gradients: GradientModel;
  before(async () => {
    fixture = await randomModelFolder('tiny', 5);
    gradients = await GradientModel.create((await loadModelFolder(fixture.dir)).model);
  });
  after(() => gradients.dispose());

  const args = (): string[] => [
    'circuit',
    '--model',
    fixture.dir,
    '--clean-ids',
    CLEAN.join(','),
    '--corrupt-ids',
    CORRUPT.join(','),
    '--target-id',
    '3332',
    '--contrast-id',
    '1110',
  ];

  test('--json: EAP scores from the attribution engine, faithfulness as the float64 reference measures it, and the curve', async () => {
    const { code, out, err } = await cli([...args(), '--method', 'eap', '--edges', '12', '--curve', '3', '--json']);
    assert.equal(code, 0, err);
    const doc = JSON.parse(out) as CircuitCliOutput;
    assert.equal(doc.method, 'eap');
    assert.deepEqual(doc.cleanIds, CLEAN);
    assert.ok(doc.edges.length > 0 && doc.edges.length <= 12, `${doc.edges.length} edges`);
    const eap = await runAttribution(gradients, { cleanIds: CLEAN, corruptIds: CORRUPT, targetId: 3332, contrastId: 1110, method: 'eap', kind: 'edges' });
    const byName = new Map((eap.entries as ScoredEdge[]).map((e) => [`${e.from}>${e.to}`, e.score]));
    for (const e of doc.edges) assert.ok(Math.abs(e.score - byName.get(`${e.from}>${e.to}`)!) <= 1e-6 * Math.max(1, Math.abs(e.score)), `${e.from} → ${e.to}`);
    const kept = new Set(doc.edges.map((e) => `${e.from}>${e.to}`));
    const metric = { targetId: 3332, contrastId: 1110 };
    const reference = (keep: (from: string, to: string) => boolean): number =>
      referenceEdgePatchedMetric(fixture.tensors, CONFIG, CLEAN, CORRUPT, keep, metric);
    const [clean, corrupt, circuit] = [reference(() => true), reference(() => false), reference((from, to) => kept.has(`${from}>${to}`))];
    assert.ok(Math.abs(doc.metric.circuit.value - circuit) < 1e-4 * Math.max(1, Math.abs(circuit)), `${doc.metric.circuit.value} vs ${circuit}`);
    assert.ok(Math.abs(doc.faithfulness! - (circuit - corrupt) / (clean - corrupt)) < 1e-3, `${doc.faithfulness}`);
    // Three sizes spread from 1 edge to every edge, and the chosen size.
    assert.deepEqual(
      doc.curve!.map((p) => p.requested),
      [1, 12, Math.round(Math.sqrt(doc.curve!.at(-1)!.requested)), doc.curve!.at(-1)!.requested].sort((a, b) => a - b),
    );
    assert.equal(doc.curve!.at(-1)!.edges, doc.curve!.at(-1)!.requested);
    assert.ok(Math.abs(doc.curve!.at(-1)!.faithfulness! - 1) < 1e-4, 'every edge is the clean run');
    assert.equal((doc as unknown as Record<string, unknown>)['allEdges'], undefined, 'the CLI prints the circuit, not every edge');
  });

  test('the text report; EAP-IG by default', async () => {
    const { code, out, err } = await cli([...args(), '--threshold', '0.01']);
    assert.equal(code, 0, err);
    assert.match(out, /eap-ig \(5 steps\), edges with \|score\| ≥ 0\.01/);
    assert.match(out, /faithfulness -?\d+\.\d%|faithfulness —/);
    assert.doesNotMatch(out, /faithfulness curve/, 'no curve without --curve');
  });

  test('bad flags and prompts are typed errors (exit 2) naming the problem', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--method', 'atp'], /--method must be eap or eap-ig/],
      [['--edges', '3', '--threshold', '0.1'], /not both/],
      [['--method', 'eap', '--steps', '3'], /--steps applies to --method eap-ig/],
      [['--curve', 'x'], /--curve takes a whole number/],
      [['--threshold', '-1'], /--threshold must be a number of at least 0/],
      [['--bogus', '1'], /Unknown flag --bogus/],
      [['--steps', '0'], /steps/i],
    ];
    for (const [extra, message] of cases) {
      const { code, err } = await cli([...args(), ...extra]);
      assert.equal(code, 2, `${extra.join(' ')}: ${err}`);
      assert.match(err, message, extra.join(' '));
    }
    const shorter = await cli([
      'circuit',
      '--model',
      fixture.dir,
      '--clean-ids',
      CLEAN.join(','),
      '--corrupt-ids',
      CORRUPT.slice(1).join(','),
      '--target-id',
      '3332',
    ]);
    assert.equal(shorter.code, 2);
    assert.match(shorter.err, /LENGTH_MISMATCH|same length|tokens/);
    const noTarget = await cli(['circuit', '--model', fixture.dir, '--clean-ids', CLEAN.join(','), '--corrupt-ids', CORRUPT.join(',')]);
    assert.equal(noTarget.code, 2);
    assert.match(noTarget.err, /--target/);
  });
});
