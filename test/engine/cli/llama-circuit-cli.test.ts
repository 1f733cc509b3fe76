/**
 * Edge attribution and circuit discovery end to end on a Llama-family model through the CLI: a tiny
 * random llama folder (grouped-query attention, llama3 rope scaling) from `random-model --arch llama`;
 * `attribute --method eap-ig --kind edges` prints the attribution engine's scores (themselves tested
 * against the float64 reverse pass in test/engine/attribution/llama-attribution.test.ts), with key
 * and value inputs named per key/value head; `circuit --method eap-ig` keeps edges carrying those
 * scores, and its faithfulness equals the float64 edge-patching reference
 * (test/helpers/reference-llama-edge-patching.ts) on the same edges.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAttribution } from '../../../src/engine/attribution/run-attribution.js';
import type { AttributeCliOutput } from '../../../src/engine/cli/attribute-command.js';
import type { CircuitCliOutput } from '../../../src/engine/cli/circuit-command.js';
import { main } from '../../../src/engine/cli/main.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { GradientModel } from '../../../src/engine/runtime/gradient-model.js';
import { generateRandomLlama } from '../../../src/engine/model/random-llama.js';
import type { ScoredEdge } from '../../../src/protocol/circuit.js';
import { referenceLlamaEdgePatchedMetric } from '../../helpers/reference-llama-edge-patching.js';

const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383];
const CORRUPT = [464, 3290, 3332, 319, 262, 1110, 13, 383];

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await main(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

describe('attribute and circuit on a random llama through the CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-llama-circuit-'));
  let gradients: GradientModel;
  before(async () => {
    const made = await cli(['random-model', '--arch', 'llama', '--preset', 'tiny', '--seed', '3', '--out', dir]);
    assert.equal(made.code, 0, made.err);
    gradients = await GradientModel.create((await loadModelFolder(dir)).model);
  });
  after(async () => {
    await gradients.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  const ids = (): string[] => [
    '--model',
    dir,
    '--clean-ids',
    CLEAN.join(','),
    '--corrupt-ids',
    CORRUPT.join(','),
    '--target-id',
    '3332',
    '--contrast-id',
    '1110',
  ];
  const engineScores = async (steps: number): Promise<Map<string, number>> => {
    const result = await runAttribution(gradients, {
      cleanIds: CLEAN,
      corruptIds: CORRUPT,
      targetId: 3332,
      contrastId: 1110,
      method: 'eap-ig',
      kind: 'edges',
      steps,
    });
    return new Map((result.entries as ScoredEdge[]).map((e) => [`${e.from}>${e.to}`, e.score]));
  };

  test('attribute --method eap-ig --kind edges --json: every edge, key/value inputs per key/value head', async () => {
    const { code, out, err } = await cli(['attribute', ...ids(), '--method', 'eap-ig', '--kind', 'edges', '--steps', '3', '--json']);
    assert.equal(code, 0, err);
    const doc = JSON.parse(out) as AttributeCliOutput;
    assert.equal(doc.kind, 'edges');
    const edges = doc.edges!;
    // 2 layers, 4 query heads, 2 key/value heads: readers per layer 4 q + 2 k + 2 v + the MLP.
    assert.ok(edges.some((e) => e.from === 'L0H3' && e.to === 'L1KV1.k'));
    assert.ok(!edges.some((e) => /KV[2-9]|H[4-9]\./.test(e.to)), 'no reader past the model’s heads');
    const expected = await engineScores(3);
    assert.equal(edges.length, expected.size);
    for (const e of edges) assert.ok(Math.abs(e.score - expected.get(`${e.from}>${e.to}`)!) <= 1e-6 * Math.max(1, Math.abs(e.score)), `${e.from} → ${e.to}`);
  });

  test('circuit --method eap-ig --json: the circuit’s edges and scores, its faithfulness as the float64 reference measures it, the curve', async () => {
    const { code, out, err } = await cli(['circuit', ...ids(), '--method', 'eap-ig', '--edges', '10', '--curve', '3', '--json']);
    assert.equal(code, 0, err);
    const doc = JSON.parse(out) as CircuitCliOutput;
    assert.ok(doc.edges.length > 0 && doc.edges.length <= 10, `${doc.edges.length} edges`);
    const expected = await engineScores(5);
    for (const e of doc.edges)
      assert.ok(Math.abs(e.score - expected.get(`${e.from}>${e.to}`)!) <= 1e-5 * Math.max(1, Math.abs(e.score)), `${e.from} → ${e.to}`);

    // The checkpoint random-model wrote (the same seeded generator).
    const { config, tensors: list } = generateRandomLlama('llama', 'tiny', 3);
    const tensors = new Map(list.map((t) => [t.name, t]));
    const metric = { targetId: 3332, contrastId: 1110 };
    const kept = new Set(doc.edges.map((e) => `${e.from}>${e.to}`));
    const reference = (keep: (from: string, to: string) => boolean): number => referenceLlamaEdgePatchedMetric(tensors, config, CLEAN, CORRUPT, keep, metric);
    const [clean, corrupt, circuit] = [reference(() => true), reference(() => false), reference((from, to) => kept.has(`${from}>${to}`))];
    assert.ok(Math.abs(doc.metric.clean.value - clean) < 1e-4 * Math.max(1, Math.abs(clean)), `clean ${doc.metric.clean.value} vs ${clean}`);
    assert.ok(Math.abs(doc.metric.corrupt.value - corrupt) < 1e-4 * Math.max(1, Math.abs(corrupt)), `corrupt ${doc.metric.corrupt.value} vs ${corrupt}`);
    assert.ok(Math.abs(doc.metric.circuit.value - circuit) < 1e-4 * Math.max(1, Math.abs(circuit)), `circuit ${doc.metric.circuit.value} vs ${circuit}`);
    assert.ok(Math.abs(doc.faithfulness! - (circuit - corrupt) / (clean - corrupt)) < 1e-3, `${doc.faithfulness}`);
    assert.ok(Math.abs(doc.curve!.at(-1)!.faithfulness! - 1) < 1e-4, 'every edge is the clean run');
  });
});
