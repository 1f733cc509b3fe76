/**
 * Engine.circuit on the organism, whose induction circuit is known (the previous-token head L0H0
 * feeds the induction head L1H0's key, L1H0 writes the answer). With a scorer given by the test
 * (each edge's exact effect: the metric with every edge minus the metric without that one): the
 * report's faithfulness and every curve point's against the float64 edge-patching reference reading
 * the organism's own checkpoint, the request's resolution (prompts, target, BOS, sizes), the tools'
 * lifecycle, and the errors a request can meet. With the engine's own scorer (EAP-IG): the
 * induction circuit on top and a faithful handful of edges.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EdgeScorerFactory } from '../../../src/engine/circuits/circuit-tools.js';
import { eapEdgeScorer } from '../../../src/engine/circuits/eap-edge-scorer.js';
import { EdgePatcher } from '../../../src/engine/circuits/edge-patcher.js';
import { Engine } from '../../../src/engine/engine.js';
import { EngineError } from '../../../src/engine/errors.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';
import type { CircuitReport, CircuitRequest, ScoredEdge } from '../../../src/protocol/circuit.js';
import { referenceEdgePatchedMetric } from '../../helpers/reference-edge-patching.js';
import type { ReferenceWeightTensor } from '../../helpers/reference-gpt2.js';

const BOS = 50256;
const CONFIG = { n_layer: 2, n_head: 4, n_embd: 256, layer_norm_epsilon: 1e-5 };
// Induction: at the second " crane" the induction head finds the token after the first one.
const CLEAN = ' apple river crane music tiger apple river crane';
// The first " crane" replaced: no earlier token is preceded by " crane", so nothing to copy.
const CORRUPT = ' apple river stone music tiger apple river crane';

/** Stand-in scorer: score(e) = m(every edge) − m(every edge but e), measured by an edge patcher of its own. */
function ablationScorer(log: string[]): EdgeScorerFactory {
  return async (model, runner, graph) => {
    const patcher = await EdgePatcher.create(model, runner);
    log.push('created');
    return {
      score: async ({ clean, corrupt, metric, signal }) => {
        const n = graph.edges.length;
        const circuits = Array.from({ length: n }, (_, i) => {
          const c = new Uint8Array(n).fill(1);
          c[i] = 0;
          return c;
        });
        const run = await patcher.run({ clean, corrupt, metric, circuits, ...(signal ? { signal } : {}) });
        return run.values.map((v) => run.clean - v);
      },
      dispose: async () => {
        log.push('disposed');
        await patcher.dispose();
      },
    };
  };
}

describe('Engine.circuit on the organism', () => {
  const root = mkdtempSync(join(tmpdir(), 'ct-engine-circuit-'));
  const dir = join(root, 'organism');
  const log: string[] = [];
  const engine = new Engine({ edgeScorer: ablationScorer(log) });
  let tensors: Map<string, ReferenceWeightTensor>;
  let report: CircuitReport;
  const request: CircuitRequest = { clean: CLEAN, corrupt: CORRUPT, target: { text: ' music' }, contrast: { text: ' tiger' }, edges: 6, curvePoints: 5 };

  before(async () => {
    await engine.loadModel({ kind: 'organism', dir }, { device: 'cpu', maxTokens: 1024, offline: true });
    const file = readSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors');
    tensors = new Map([...file.tensors.keys()].map((name) => [name, { shape: [...file.get(name).shape], data: file.get(name).float32() }]));
    report = await engine.circuit(request);
  });
  after(async () => {
    await engine.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  /** The reference's metric with only `edges` carrying the clean run's values. */
  function referenceMetric(edges: readonly ScoredEdge[] | 'all'): number {
    const kept = edges === 'all' ? null : new Set(edges.map((e) => `${e.from}>${e.to}`));
    return referenceEdgePatchedMetric(tensors, CONFIG, report.cleanIds, report.corruptIds, (from, to) => kept === null || kept.has(`${from}>${to}`), {
      targetId: report.targetId,
      contrastId: report.contrastId!,
    });
  }

  test('the prompts, target and model as resolved: text with the BOS, the tokens, the graph shape', () => {
    assert.equal(report.cleanIds[0], BOS);
    assert.equal(report.corruptIds[0], BOS);
    assert.equal(report.prependBos, true);
    assert.equal(report.cleanIds.length, report.corruptIds.length);
    assert.deepEqual(
      report.cleanTokens.map((t) => t.id),
      report.cleanIds,
    );
    assert.equal(
      report.cleanTokens
        .slice(1)
        .map((t) => t.text)
        .join(''),
      CLEAN,
    );
    assert.equal(report.cleanText, CLEAN);
    assert.equal(report.corruptText, CORRUPT);
    assert.equal(report.target, ' music');
    assert.equal(report.contrast, ' tiger');
    assert.equal(report.model.id, 'organism');
    assert.deepEqual(report.graph, { nLayers: 2, nHeads: 4, nKvHeads: 4, parallelResidual: false });
    assert.equal(report.metric.clean.name, 'logit_diff');
  });

  test('the metric and the faithfulness of the circuit and of every curve point match the float64 reference', () => {
    const clean = referenceMetric('all');
    const corrupt = referenceMetric([]);
    const tolerance = 1e-4 * Math.max(1, Math.abs(clean - corrupt));
    assert.ok(clean - corrupt > 1, `the corruption must break the induction (${clean} vs ${corrupt})`);
    assert.ok(Math.abs(report.metric.clean.value - clean) < tolerance, `clean ${report.metric.clean.value} vs ${clean}`);
    assert.ok(Math.abs(report.metric.corrupt.value - corrupt) < tolerance, `corrupt ${report.metric.corrupt.value} vs ${corrupt}`);
    const faithfulness = (edges: readonly ScoredEdge[]): number => (referenceMetric(edges) - corrupt) / (clean - corrupt);
    assert.ok(Math.abs(report.faithfulness! - faithfulness(report.edges)) < 1e-4, `circuit ${report.faithfulness} vs ${faithfulness(report.edges)}`);
    assert.equal(report.curve!.length, report.curveCircuits.length);
    report.curve!.forEach((point, i) => {
      const edges = report.curveCircuits[i]!.map((j) => report.allEdges[j]!);
      assert.equal(edges.length, point.edges, `point ${point.requested}: its circuit has the counted edges`);
      assert.ok(point.edges <= point.requested);
      assert.ok(Math.abs(point.faithfulness! - faithfulness(edges)) < 1e-4, `point ${point.requested}: ${point.faithfulness} vs ${faithfulness(edges)}`);
    });
  });

  test('the chosen size is a curve point holding the same circuit; the curve ends at every edge', () => {
    const chosen = report.curve!.findIndex((p) => p.requested === 6);
    assert.ok(chosen >= 0, 'the chosen size is on the curve');
    assert.deepEqual(
      report.curveCircuits[chosen]!.map((j) => report.allEdges[j]),
      report.edges,
    );
    assert.equal(report.curve!.at(-1)!.requested, report.allEdges.length);
    assert.ok(Math.abs(report.curve!.at(-1)!.faithfulness! - 1) < 1e-4);
    const scores = report.edges.map((e) => Math.abs(e.score));
    assert.deepEqual(
      scores,
      [...scores].sort((a, b) => b - a),
      'edges by |score| descending',
    );
  });

  test('the induction circuit is in: previous-token head → induction head key, induction head → logits', () => {
    const names = report.edges.map((e) => `${e.from} → ${e.to}`);
    assert.ok(names.includes('L0H0 → L1H0.k'), names.join(', '));
    assert.ok(names.includes('L1H0 → logits'), names.join(', '));
    assert.ok(report.nodes.includes('L0H0') && report.nodes.includes('L1H0') && report.nodes.at(-1) === 'logits');
  });

  test('the tools are made once, on the first request, and released with the model', async () => {
    await engine.circuit({ ...request, cleanIds: report.cleanIds, corruptIds: report.corruptIds, clean: undefined, corrupt: undefined, curvePoints: 0 });
    assert.deepEqual(log, ['created']);
    const other = new Engine({ edgeScorer: ablationScorer(log) });
    await other.loadModel({ kind: 'organism', dir }, { device: 'cpu', maxTokens: 1024, offline: true });
    await other.circuit({ ...request, curvePoints: 0 });
    await other.loadModel({ kind: 'organism', dir }, { device: 'cpu', maxTokens: 1024, offline: true });
    assert.deepEqual(log, ['created', 'created', 'disposed'], 'a new model releases the old tools');
    await other.circuit({ ...request, curvePoints: 0 });
    await other.dispose();
    assert.deepEqual(log, ['created', 'created', 'disposed', 'created', 'disposed']);
  });

  test('ids given as ids are used as given; a threshold picks edges by |score|', async () => {
    const byIds = await engine.circuit({
      ...request,
      clean: undefined,
      corrupt: undefined,
      cleanIds: report.cleanIds,
      corruptIds: report.corruptIds,
      curvePoints: 0,
    });
    assert.equal(byIds.cleanText, null);
    assert.deepEqual(byIds.cleanIds, report.cleanIds);
    assert.deepEqual(
      byIds.curve!.map((p) => p.requested),
      [6],
      'without curve points the curve holds the chosen size alone',
    );
    assert.deepEqual(
      byIds.curveCircuits[0]!.map((j) => byIds.allEdges[j]),
      byIds.edges,
    );
    const threshold = Math.abs(report.edges[2]!.score);
    const byThreshold = await engine.circuit({ ...request, edges: undefined, threshold, curvePoints: 0 });
    assert.deepEqual(byThreshold.size, { threshold });
    assert.ok(byThreshold.edges.every((e) => Math.abs(e.score) >= threshold));
  });

  test('bad requests are typed errors naming the problem', async () => {
    const fails = async (r: CircuitRequest, code: string, pattern: RegExp): Promise<void> => {
      await assert.rejects(engine.circuit(r), (e: unknown) => e instanceof EngineError && e.code === code && pattern.test(e.message));
    };
    await fails({ ...request, corrupt: ' apple river stone' }, 'LENGTH_MISMATCH', /same length/);
    await fails({ ...request, threshold: 0.1 }, 'BAD_ARGUMENT', /not both/);
    await fails({ ...request, edges: 0 }, 'BAD_ARGUMENT', /number of edges/);
    await fails({ ...request, steps: 0 }, 'BAD_ARGUMENT', /steps/);
    await fails({ ...request, steps: 1e6 }, 'BAD_ARGUMENT', /steps/);
    await fails({ ...request, curvePoints: 1000 }, 'BAD_ARGUMENT', /curve points/);
    await fails({ ...request, method: 'acdc' as never }, 'BAD_ARGUMENT', /'eap' or 'eap-ig'/);
    const bare = new Engine();
    await assert.rejects(bare.circuit(request), (e: unknown) => e instanceof EngineError && /No model is loaded/.test(e.message));
    await bare.loadModel({ kind: 'organism', dir }, { device: 'cpu', maxTokens: 1024, offline: true });
    await assert.rejects(bare.circuit(request), (e: unknown) => e instanceof EngineError && /without an edge scorer/.test(e.message));
    await bare.dispose();
  });
});

describe('Engine.circuit with the engine’s own scorer (EAP-IG) on the organism', () => {
  const root = mkdtempSync(join(tmpdir(), 'ct-engine-eap-'));
  const dir = join(root, 'organism');
  const engine = new Engine({ edgeScorer: eapEdgeScorer });
  let tensors: Map<string, ReferenceWeightTensor>;

  before(async () => {
    await engine.loadModel({ kind: 'organism', dir }, { device: 'cpu', maxTokens: 1024, offline: true });
    const file = readSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors');
    tensors = new Map([...file.tensors.keys()].map((name) => [name, { shape: [...file.get(name).shape], data: file.get(name).float32() }]));
  });
  after(async () => {
    await engine.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  test('the induction circuit comes out on top, and a handful of edges is faithful (against the float64 reference)', async () => {
    const report = await engine.circuit({
      clean: CLEAN,
      corrupt: CORRUPT,
      target: { text: ' music' },
      contrast: { text: ' tiger' },
      method: 'eap-ig',
      steps: 5,
      edges: 6,
    });
    assert.equal(report.method, 'eap-ig');
    assert.equal(report.steps, 5);
    const top = report.edges.slice(0, 4).map((e) => `${e.from} → ${e.to}`);
    assert.ok(top.includes('L0H0 → L1H0.k') && top.includes('L1H0 → logits'), top.join(', '));
    const metric = { targetId: report.targetId, contrastId: report.contrastId! };
    const m = (keep: (from: string, to: string) => boolean): number =>
      referenceEdgePatchedMetric(tensors, CONFIG, report.cleanIds, report.corruptIds, keep, metric);
    const kept = new Set(report.edges.map((e) => `${e.from}>${e.to}`));
    const clean = m(() => true),
      corrupt = m(() => false);
    const faithfulness = (m((from, to) => kept.has(`${from}>${to}`)) - corrupt) / (clean - corrupt);
    assert.ok(Math.abs(report.faithfulness! - faithfulness) < 1e-4, `${report.faithfulness} vs ${faithfulness}`);
    assert.ok(faithfulness >= 0.9, `six edges recover ${(faithfulness * 100).toFixed(1)}%`);
  });

  test('a metric edge attribution cannot differentiate is a typed error', async () => {
    await assert.rejects(
      engine.circuit({ clean: CLEAN, corrupt: CORRUPT, target: { text: ' music' }, metric: { kind: 'greater-than', startYear: 32 } }),
      (e: unknown) => e instanceof EngineError && (e.code === 'BAD_ARGUMENT' || e.code === 'NOT_SINGLE_TOKEN'),
    );
  });
});
