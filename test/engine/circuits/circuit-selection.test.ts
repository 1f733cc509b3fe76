/**
 * The edge graph's nodes, edges and names (against the rules of the definition, counted by hand),
 * and choosing a circuit: ranking by |score|, thresholds, and pruning to paths embed → logits.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EdgeGraph } from '../../../src/engine/circuits/edge-graph.js';
import { pruneCircuit, rankEdges, selectCircuit } from '../../../src/engine/circuits/circuit-selection.js';
import { curveSizes } from '../../../src/engine/circuits/faithfulness.js';
import { EngineError } from '../../../src/engine/errors.js';

const TWO_BY_TWO = { nLayers: 2, nHeads: 2 };

/** Membership with exactly the named edges. */
function circuitOf(graph: EdgeGraph, names: ReadonlyArray<[string, string]>): Uint8Array {
  const c = new Uint8Array(graph.edges.length);
  for (const [from, to] of names) c[graph.edgeIndex(from, to)] = 1;
  return c;
}

function namesOf(graph: EdgeGraph, c: Uint8Array): string[] {
  return graph.edges.flatMap((e, i) => (c[i] ? [`${graph.edgeName(e).from}>${graph.edgeName(e).to}`] : []));
}

describe('the edge graph', () => {
  test("GPT-2 small's edges, counted from the rules", () => {
    const graph = new EdgeGraph({ nLayers: 12, nHeads: 12 });
    // Layer L's 36 head inputs see embed and 13 writers per earlier layer; its MLP also its own 12 heads; the logits all 157 writers.
    let expected = 0;
    for (let L = 0; L < 12; L++) expected += 36 * (1 + 13 * L) + (1 + 13 * L + 12);
    expected += 1 + 12 * 13;
    assert.equal(graph.edges.length, expected);
    assert.equal(graph.edges.length, 32491);
    assert.equal(graph.upstream.length, 157);
    assert.equal(graph.downstream.length, 12 * 37 + 1);
  });

  test('names and edge rules, sequential and parallel residual, grouped-query attention', () => {
    const g = new EdgeGraph(TWO_BY_TWO);
    assert.deepEqual(g.edgeName(g.edges[g.edgeIndex('L0H1', 'mlp0')]!), { from: 'L0H1', to: 'mlp0' });
    assert.doesNotThrow(() => g.edgeIndex('embed', 'L0H0.q'));
    assert.doesNotThrow(() => g.edgeIndex('mlp1', 'logits'));
    assert.throws(
      () => g.edgeIndex('L1H0', 'L1H1.q'),
      (e: unknown) => e instanceof EngineError && /no edge L1H0 → L1H1\.q/.test(e.message),
    );
    assert.throws(() => g.edgeIndex('mlp0', 'mlp0'), EngineError);
    assert.throws(
      () => g.edgeIndex('L2H0', 'logits'),
      (e: unknown) => e instanceof EngineError && /"L2H0" is not a node/.test(e.message),
    );
    assert.throws(
      () => g.edgeIndex('embed', 'L0H0.x'),
      (e: unknown) => e instanceof EngineError && /"L0H0\.x"/.test(e.message),
    );
    const parallel = new EdgeGraph({ ...TWO_BY_TWO, parallelResidual: true });
    assert.throws(() => parallel.edgeIndex('L0H1', 'mlp0'), EngineError);
    assert.equal(g.edges.length - parallel.edges.length, 2 * 2, 'one head → own-MLP edge per head and layer');
    const gqa = new EdgeGraph({ nLayers: 2, nHeads: 4, nKvHeads: 2 });
    assert.doesNotThrow(() => gqa.edgeIndex('L0H3', 'L1KV1.k'));
    assert.doesNotThrow(() => gqa.edgeIndex('L0H3', 'L1H3.q'));
    assert.throws(() => gqa.edgeIndex('L0H3', 'L1H3.k'), EngineError);
  });
});

describe('choosing a circuit', () => {
  const g = new EdgeGraph(TWO_BY_TWO);

  test('pruning keeps the paths from the embedding to the logits and drops dangling edges', () => {
    const path: Array<[string, string]> = [
      ['embed', 'L0H0.v'],
      ['L0H0', 'L1H1.k'],
      ['embed', 'L1H1.q'],
      ['L1H1', 'logits'],
    ];
    const dangling: Array<[string, string]> = [
      ['embed', 'mlp0'], // mlp0 reaches nothing chosen
      ['L0H1', 'logits'], // nothing chosen feeds L0H1
      ['mlp1', 'logits'], // nor mlp1
    ];
    assert.deepEqual(namesOf(g, pruneCircuit(g, circuitOf(g, [...path, ...dangling]))).sort(), path.map(([a, b]) => `${a}>${b}`).sort());
    assert.deepEqual(namesOf(g, pruneCircuit(g, circuitOf(g, [['L0H0', 'L1H1.k']]))), [], 'an edge alone, fed by nothing and reaching nothing');
  });

  test('with grouped-query attention a key/value input feeds every query head of its group', () => {
    const gqa = new EdgeGraph({ nLayers: 2, nHeads: 4, nKvHeads: 2 });
    const kept = pruneCircuit(
      gqa,
      circuitOf(gqa, [
        ['embed', 'L1KV1.v'],
        ['L1H3', 'logits'],
        ['embed', 'L1KV0.v'],
      ]),
    );
    assert.deepEqual(namesOf(gqa, kept).sort(), ['L1H3>logits', 'embed>L1KV1.v']);
  });

  test('top k and thresholds rank by |score|; bad sizes are typed errors', () => {
    const scores = new Float64Array(g.edges.length);
    const set = (from: string, to: string, s: number): void => void (scores[g.edgeIndex(from, to)] = s);
    set('embed', 'L0H0.v', 3);
    set('L0H0', 'logits', -5);
    set('embed', 'L1H1.q', 0.5);
    set('L1H1', 'logits', 0.4);
    scores[g.edgeIndex('mlp0', 'logits')] = NaN;
    assert.equal(rankEdges(scores)[0], g.edgeIndex('L0H0', 'logits'));
    assert.equal(rankEdges(scores).at(-1), g.edgeIndex('mlp0', 'logits'), 'NaN ranks last');
    assert.deepEqual(namesOf(g, selectCircuit(g, scores, { edges: 2 })).sort(), ['L0H0>logits', 'embed>L0H0.v']);
    assert.deepEqual(namesOf(g, selectCircuit(g, scores, { threshold: 0.45 })).sort(), ['L0H0>logits', 'embed>L0H0.v'], 'L1H1 → logits alone is not fed');
    assert.equal(namesOf(g, selectCircuit(g, scores, { threshold: 0.3 })).length, 4);
    assert.throws(() => selectCircuit(g, scores, { edges: -1 }), EngineError);
    assert.throws(() => selectCircuit(g, scores, { threshold: NaN }), EngineError);
    assert.throws(() => selectCircuit(g, scores.subarray(1), { edges: 1 }), EngineError);
  });

  test('curve sizes run from one edge to every edge', () => {
    assert.deepEqual(curveSizes(1000, 4), [1, 10, 100, 1000]);
    assert.deepEqual(curveSizes(3, 10), [1, 2, 3]);
    assert.deepEqual(curveSizes(0, 10), []);
  });
});
