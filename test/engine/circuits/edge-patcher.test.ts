/**
 * Exact edge-level patching against the float64 reference written from the definition
 * (test/helpers/reference-edge-patching.ts): random circuits on a seeded tiny GPT-2 with sharpened
 * attention (so that early edges matter), a GPT-Neo-style local window, and the identities (every
 * edge kept is the clean run, none is the corrupted run).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgePatcher } from '../../../src/engine/circuits/edge-patcher.js';
import { EngineError } from '../../../src/engine/errors.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGpt2 } from '../../../src/engine/model/random-gpt2.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { metricOfLogits } from '../../../src/engine/analysis/target-metric.js';
import { measureFaithfulness, type FaithfulnessPoint } from '../../../src/engine/circuits/faithfulness.js';
import { discoverCircuit } from '../../../src/engine/circuits/discover-circuit.js';
import { referenceEdgePatchedMetric } from '../../helpers/reference-edge-patching.js';
import type { ReferenceWeightTensor } from '../../helpers/reference-gpt2.js';

const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797];
const CORRUPT = [464, 3290, 3332, 319, 262, 2603, 13, 383, 3290];
const METRIC = { name: 'logit_diff', targetId: 3332, contrastId: 1110 } as const;

/** A seeded tiny GPT-2 whose queries, keys and head outputs are scaled up 6×, written to a folder. */
async function sharpenedModel(dir: string, seed: number): Promise<Map<string, ReferenceWeightTensor>> {
  const model = generateRandomGpt2({ preset: 'tiny' }, seed);
  const d = model.modelConfig.dModel;
  const tensors = model.tensors.map((t) => {
    if (t.name.endsWith('attn.c_attn.weight')) return { ...t, data: t.data.map((x, i) => (i % (3 * d) < 2 * d ? x * 6 : x)) };
    if (t.name.endsWith('attn.c_proj.weight')) return { ...t, data: t.data.map((x) => x * 6) };
    return t;
  });
  await writeHfFolder(dir, { config: model.config, tensors, tokenizerJson: loadGpt2TokenizerJson() });
  return new Map(tensors.map((t) => [t.name, { shape: t.shape, data: t.data }]));
}

/** Seeded membership: each edge kept with probability `density`. */
function randomCircuit(edges: number, density: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  return Uint8Array.from({ length: edges }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 < density ? 1 : 0;
  });
}

describe('edge patching on a tiny GPT-2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-edges-'));
  let tensors: Map<string, ReferenceWeightTensor>;
  let runner: InstrumentedModel;
  let patcher: EdgePatcher;
  const config = { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 };

  before(async () => {
    tensors = await sharpenedModel(dir, 11);
    const loaded = await loadModelFolder(dir);
    runner = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
    patcher = await EdgePatcher.create(loaded.model, runner);
  });
  after(async () => {
    await patcher?.dispose();
    await runner?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every edge kept is the clean run, none the corrupted run (against plain forwards)', async () => {
    const n = patcher.graph.edges.length;
    const result = await patcher.run({ clean: CLEAN, corrupt: CORRUPT, metric: METRIC, circuits: [new Uint8Array(n).fill(1), new Uint8Array(n)] });
    const forward = async (ids: number[]): Promise<number> =>
      metricOfLogits(METRIC, (await runner.forward(ids, { hooks: ['logits'], logitPositions: [ids.length - 1] })).cache.get('logits')!.data);
    const clean = await forward(CLEAN),
      corrupt = await forward(CORRUPT);
    const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));
    assert.ok(Math.abs(clean - corrupt) > 0.1, `the prompts must differ in the metric (${clean} vs ${corrupt})`);
    assert.ok(
      close(result.clean, clean) && close(result.values[0]!, clean),
      `full circuit ${result.values[0]} / baseline ${result.clean} vs clean forward ${clean}`,
    );
    assert.ok(
      close(result.corrupt, corrupt) && close(result.values[1]!, corrupt),
      `empty circuit ${result.values[1]} / baseline ${result.corrupt} vs corrupted forward ${corrupt}`,
    );
  });

  test('random circuits equal the float64 reference', async () => {
    const n = patcher.graph.edges.length;
    const circuits = [0.05, 0.3, 0.6, 0.9].map((density, i) => randomCircuit(n, density, 100 + i));
    const result = await patcher.run({ clean: CLEAN, corrupt: CORRUPT, metric: METRIC, circuits });
    const scale = Math.abs(result.clean - result.corrupt);
    circuits.forEach((circuit, c) => {
      const kept = new Set<string>();
      patcher.graph.edges.forEach((e, i) => {
        if (circuit[i]) {
          const { from, to } = patcher.graph.edgeName(e);
          kept.add(`${from}>${to}`);
        }
      });
      const expected = referenceEdgePatchedMetric(tensors, config, CLEAN, CORRUPT, (from, to) => kept.has(`${from}>${to}`), METRIC);
      assert.ok(Math.abs(result.values[c]! - expected) <= 1e-4 * Math.max(1, scale), `circuit ${c}: engine ${result.values[c]} vs reference ${expected}`);
    });
    // The circuits must not all agree with a baseline, or the comparison shows nothing.
    assert.ok(
      result.values.some((v) => Math.abs(v - result.clean) > 0.05 * scale && Math.abs(v - result.corrupt) > 0.05 * scale),
      result.values.join(', '),
    );
  });

  test("a single edge from a head into a later head's key moves the metric as the reference says", async () => {
    const i = patcher.graph.edgeIndex('L0H1', 'L1H2.k');
    const circuit = new Uint8Array(patcher.graph.edges.length);
    circuit[i] = 1;
    const result = await patcher.run({ clean: CLEAN, corrupt: CORRUPT, metric: METRIC, circuits: [circuit] });
    const expected = referenceEdgePatchedMetric(tensors, config, CLEAN, CORRUPT, (from, to) => from === 'L0H1' && to === 'L1H2.k', METRIC);
    assert.ok(Math.abs(result.values[0]! - expected) <= 1e-4 * Math.max(1, Math.abs(expected)), `${result.values[0]} vs ${expected}`);
  });

  test('faithfulness: no edge recovers nothing, every edge everything, a circuit what the reference says', async () => {
    const n = patcher.graph.edges.length;
    const scores = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 - Math.floor(Math.sin(i * 12.9898) * 43758.5453));
    const result = await measureFaithfulness(patcher, {
      clean: CLEAN,
      corrupt: CORRUPT,
      metric: METRIC,
      scores,
      sizes: [{ edges: 0 }, { edges: n }, { edges: 40 }],
    });
    const [none, all, some] = result.points as [FaithfulnessPoint, FaithfulnessPoint, FaithfulnessPoint];
    assert.equal(none.edgeCount, 0);
    assert.equal(all.edgeCount, n);
    assert.ok(Math.abs(none.faithfulness) < 1e-4 && Math.abs(all.faithfulness - 1) < 1e-4, `${none.faithfulness}, ${all.faithfulness}`);
    assert.ok(some.edgeCount > 0 && some.edgeCount <= 40);
    const kept = new Set(patcher.graph.edges.flatMap((e, i) => (some.circuit[i] ? [`${patcher.graph.edgeName(e).from}>${patcher.graph.edgeName(e).to}`] : [])));
    const expected = referenceEdgePatchedMetric(tensors, config, CLEAN, CORRUPT, (from, to) => kept.has(`${from}>${to}`), METRIC);
    const expectedFaithfulness = (expected - result.corrupt) / (result.clean - result.corrupt);
    assert.ok(Math.abs(some.faithfulness - expectedFaithfulness) < 1e-4, `${some.faithfulness} vs ${expectedFaithfulness}`);
    await assert.rejects(measureFaithfulness(patcher, { clean: CLEAN, corrupt: CORRUPT, metric: METRIC, scores, sizes: [] }), EngineError);
  });

  test('discovery: the circuit of the top-scored edges, its exact faithfulness and a curve', async () => {
    const n = patcher.graph.edges.length;
    const scores = Float64Array.from({ length: n }, (_, i) => Math.cos(i * 7.31) * (1 + (i % 13)));
    const asked: string[] = [];
    const scorer = async (r: { method: string; steps: number }): Promise<Float64Array> => (asked.push(`${r.method}/${r.steps}`), scores);
    const result = await discoverCircuit(patcher, scorer, { clean: CLEAN, corrupt: CORRUPT, metric: METRIC, method: 'eap-ig', size: { edges: 30 }, curve: 4 });
    assert.deepEqual(asked, ['eap-ig/5']);
    assert.equal(result.steps, 5);
    assert.ok(result.edges.length > 0 && result.edges.length <= 30);
    for (let i = 1; i < result.edges.length; i++) assert.ok(Math.abs(result.edges[i - 1]!.score) >= Math.abs(result.edges[i]!.score), 'sorted by |score|');
    for (const e of result.edges) assert.equal(e.score, scores[patcher.graph.edgeIndex(e.from, e.to)]);
    assert.ok(result.nodes[0] === 'embed' && result.nodes.at(-1) === 'logits', result.nodes.join(' '));
    const kept = new Set(result.edges.map((e) => `${e.from}>${e.to}`));
    const expected = referenceEdgePatchedMetric(tensors, config, CLEAN, CORRUPT, (from, to) => kept.has(`${from}>${to}`), METRIC);
    assert.ok(Math.abs(result.metric.circuit.value - expected) <= 1e-4 * Math.max(1, Math.abs(expected)), `${result.metric.circuit.value} vs ${expected}`);
    assert.deepEqual(
      result.curve!.map((p) => p.requested),
      [1, Math.round(Math.cbrt(n)), Math.round(Math.cbrt(n) ** 2), n],
    );
    assert.equal(result.curve!.at(-1)!.edges, n);
    assert.ok(Math.abs(result.curve!.at(-1)!.faithfulness! - 1) < 1e-4);
    await assert.rejects(
      discoverCircuit(patcher, async () => scores.subarray(1), { clean: CLEAN, corrupt: CORRUPT, metric: METRIC, method: 'eap', size: { edges: 3 } }),
      (e: unknown) => e instanceof EngineError && e.code === 'INTERNAL',
    );
    await assert.rejects(
      discoverCircuit(patcher, scorer, { clean: CLEAN, corrupt: CORRUPT, metric: METRIC, method: 'eap', size: { edges: 3 }, curve: [2.5] }),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT',
    );
  });

  test('bad requests get typed errors', async () => {
    const n = patcher.graph.edges.length;
    await assert.rejects(
      patcher.run({ clean: CLEAN, corrupt: CORRUPT.slice(1), metric: METRIC, circuits: [new Uint8Array(n)] }),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && /same non-zero length/.test(e.message),
    );
    await assert.rejects(
      patcher.run({ clean: CLEAN, corrupt: CORRUPT, metric: METRIC, circuits: [new Uint8Array(n - 1)] }),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT',
    );
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      patcher.run({ clean: CLEAN, corrupt: CORRUPT, metric: METRIC, circuits: [new Uint8Array(n)], signal: controller.signal }),
      (e: unknown) => e instanceof EngineError && e.code === 'CANCELLED',
    );
  });
});
