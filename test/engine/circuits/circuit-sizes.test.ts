/**
 * Engine.circuitSizes on the organism (the Lab's size slider): circuits of sizes the discovery's
 * curve did not measure, from the discovery's own edge scores. Each answer's circuit is the top k
 * edges by |score| pruned to paths from the embedding to the logits (checked against a pruning
 * written here from the definition), its faithfulness matches the float64 edge-patching reference
 * reading the organism's checkpoint, nothing is scored again, and bad requests get typed errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EdgeScorerFactory } from '../../../src/engine/circuits/circuit-tools.js';
import { EdgePatcher } from '../../../src/engine/circuits/edge-patcher.js';
import { Engine } from '../../../src/engine/engine.js';
import { EngineError } from '../../../src/engine/errors.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';
import type { CircuitReport, ScoredEdge } from '../../../src/protocol/circuit.js';
import type { CircuitSizesRequest } from '../../../src/protocol/circuit-sizes.js';
import { referenceEdgePatchedMetric } from '../../helpers/reference-edge-patching.js';
import type { ReferenceWeightTensor } from '../../helpers/reference-gpt2.js';

const CONFIG = { n_layer: 2, n_head: 4, n_embd: 256, layer_norm_epsilon: 1e-5 };
const CLEAN = ' apple river crane music tiger apple river crane';
const CORRUPT = ' apple river stone music tiger apple river crane';

/** Stand-in scorer (each edge's exact effect, by an edge patcher of its own) that counts its calls. */
function countingScorer(calls: { n: number }): EdgeScorerFactory {
  return async (model, runner, graph) => {
    const patcher = await EdgePatcher.create(model, runner);
    return {
      score: async ({ clean, corrupt, metric, signal }) => {
        calls.n++;
        const n = graph.edges.length;
        const circuits = Array.from({ length: n }, (_, i) => {
          const c = new Uint8Array(n).fill(1);
          c[i] = 0;
          return c;
        });
        const run = await patcher.run({ clean, corrupt, metric, circuits, ...(signal ? { signal } : {}) });
        return run.values.map((v) => run.clean - v);
      },
      dispose: () => patcher.dispose(),
    };
  };
}

/** The writer a reader's input belongs to: `L1H2.k` → `L1H2`, `mlp1` → `mlp1`; the logits belong to none. */
function ownerOf(reader: string): string | null {
  if (reader === 'logits') return null;
  return reader.replace(/\.[qkv]$/, '');
}

/** The definition of the pruned circuit: the chosen edges on a path embed → … → logits through chosen edges. */
function referencePrune(chosen: readonly ScoredEdge[]): Set<string> {
  const fed = new Set(['embed']);
  const reaches = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const e of chosen) {
      const owner = ownerOf(e.to);
      if (fed.has(e.from) && owner !== null && !fed.has(owner)) {
        fed.add(owner);
        changed = true;
      }
      if ((owner === null || reaches.has(owner)) && !reaches.has(e.from)) {
        reaches.add(e.from);
        changed = true;
      }
    }
  }
  const kept = chosen.filter((e) => {
    const owner = ownerOf(e.to);
    return fed.has(e.from) && (owner === null || reaches.has(owner));
  });
  return new Set(kept.map((e) => `${e.from}>${e.to}`));
}

describe('Engine.circuitSizes on the organism', () => {
  const root = mkdtempSync(join(tmpdir(), 'ct-circuit-sizes-'));
  const dir = join(root, 'organism');
  const calls = { n: 0 };
  const engine = new Engine({ edgeScorer: countingScorer(calls) });
  let tensors: Map<string, ReferenceWeightTensor>;
  let report: CircuitReport;
  let base: CircuitSizesRequest;

  before(async () => {
    await engine.loadModel({ kind: 'organism', dir }, { device: 'cpu', maxTokens: 1024, offline: true });
    const file = readSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors');
    tensors = new Map([...file.tensors.keys()].map((name) => [name, { shape: [...file.get(name).shape], data: file.get(name).float32() }]));
    report = await engine.circuit({ clean: CLEAN, corrupt: CORRUPT, target: { text: ' music' }, contrast: { text: ' tiger' }, edges: 6, curvePoints: 4 });
    base = {
      cleanIds: report.cleanIds,
      corruptIds: report.corruptIds,
      target: { id: report.targetId },
      contrast: { id: report.contrastId! },
      scores: Float64Array.from(report.allEdges, (e) => e.score),
      sizes: [],
    };
  });
  after(async () => {
    await engine.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  function referenceMetric(kept: ReadonlySet<string> | 'all'): number {
    return referenceEdgePatchedMetric(tensors, CONFIG, report.cleanIds, report.corruptIds, (from, to) => kept === 'all' || kept.has(`${from}>${to}`), {
      targetId: report.targetId,
      contrastId: report.contrastId!,
    });
  }

  test('sizes off the curve: the pruned top-k circuit and its faithfulness against the float64 reference, without scoring again', async () => {
    const measured = new Set((report.curve ?? []).map((p) => p.requested));
    const sizes = [2, 3, 5, 9, 17].filter((k) => !measured.has(k) && k <= report.allEdges.length);
    assert.ok(sizes.length >= 3, `sizes off the curve: ${sizes.join(', ')}`);
    const scoredBefore = calls.n;
    const result = await engine.circuitSizes({ ...base, sizes });
    assert.equal(calls.n, scoredBefore, 'no edge was scored again');
    const clean = referenceMetric('all');
    const corrupt = referenceMetric(new Set());
    const tolerance = 1e-4 * Math.max(1, Math.abs(clean - corrupt));
    assert.ok(Math.abs(result.metric.clean.value - clean) < tolerance, `clean ${result.metric.clean.value} vs ${clean}`);
    assert.ok(Math.abs(result.metric.corrupt.value - corrupt) < tolerance, `corrupt ${result.metric.corrupt.value} vs ${corrupt}`);
    assert.equal(result.points.length, sizes.length);
    const byMagnitude = [...report.allEdges].sort((a, b) => Math.abs(b.score) - Math.abs(a.score));
    result.points.forEach((point, i) => {
      const k = sizes[i]!;
      assert.equal(point.requested, k);
      const expected = referencePrune(byMagnitude.slice(0, k));
      const got = point.circuit.map((j) => report.allEdges[j]!);
      assert.deepEqual(new Set(got.map((e) => `${e.from}>${e.to}`)), expected, `size ${k}: the pruned top-${k} edges`);
      assert.equal(point.edges, expected.size);
      const magnitudes = got.map((e) => Math.abs(e.score));
      assert.deepEqual(
        magnitudes,
        [...magnitudes].sort((a, b) => b - a),
        'by |score| descending',
      );
      const faithfulness = (referenceMetric(expected) - corrupt) / (clean - corrupt);
      assert.ok(Math.abs(point.faithfulness! - faithfulness) < 1e-4, `size ${k}: ${point.faithfulness} vs ${faithfulness}`);
    });
  });

  test('a size on the curve gives the curve point of the discovery', async () => {
    const curve = report.curve!;
    const result = await engine.circuitSizes({ ...base, sizes: curve.map((p) => p.requested) });
    result.points.forEach((point, i) => {
      assert.equal(point.edges, curve[i]!.edges);
      assert.deepEqual(point.circuit, report.curveCircuits[i]);
      assert.ok(Math.abs(point.faithfulness! - curve[i]!.faithfulness!) < 1e-5);
    });
  });

  test('the scores decide the circuit: other scores give the circuit they rank first', async () => {
    // Reversed magnitudes: the weakest edge of the discovery now ranks first.
    const maxAbs = Math.max(...report.allEdges.map((e) => Math.abs(e.score)));
    const scores = Float64Array.from(report.allEdges, (e) => maxAbs + 1 - Math.abs(e.score));
    const k = 7;
    const [point] = (await engine.circuitSizes({ ...base, scores, sizes: [k] })).points;
    const reranked = report.allEdges.map((e, i) => ({ ...e, score: scores[i]! })).sort((a, b) => b.score - a.score);
    const expected = referencePrune(reranked.slice(0, k));
    assert.deepEqual(new Set(point!.circuit.map((j) => `${report.allEdges[j]!.from}>${report.allEdges[j]!.to}`)), expected);
    const clean = referenceMetric('all');
    const corrupt = referenceMetric(new Set());
    if (expected.size > 0) assert.ok(Math.abs(point!.faithfulness! - (referenceMetric(expected) - corrupt) / (clean - corrupt)) < 1e-4);
  });

  test('bad requests get typed errors naming the problem', async () => {
    const rejects = (request: CircuitSizesRequest, pattern: RegExp, code = 'BAD_ARGUMENT') =>
      assert.rejects(engine.circuitSizes(request), (e: unknown) => e instanceof EngineError && e.code === code && pattern.test(e.message));
    const total = report.allEdges.length;
    await rejects({ ...base, scores: new Float64Array(total - 1), sizes: [3] }, new RegExp(`${total - 1} scores; this model's edge graph has ${total} edges`));
    await rejects({ ...base, sizes: [0] }, /whole number of edges in 1\.\./);
    await rejects({ ...base, sizes: [total + 1] }, /whole number of edges in 1\.\./);
    await rejects({ ...base, sizes: [2.5] }, /whole number of edges/);
    await rejects({ ...base, sizes: [] }, /Ask for 1 to 64 circuit sizes/);
    await rejects({ ...base, sizes: Array.from({ length: 65 }, (_, i) => i + 1) }, /Ask for 1 to 64 circuit sizes/);
    await rejects({ ...base, corruptIds: base.corruptIds.slice(1), sizes: [3] }, /same length/, 'LENGTH_MISMATCH');
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      engine.circuitSizes({ ...base, sizes: [3] }, { signal: controller.signal }),
      (e: unknown) => e instanceof EngineError && e.code === 'CANCELLED',
    );
  });
});
