import { test } from 'node:test';
import assert from 'node:assert/strict';
import { circuitLinks, circuitOfAnalysis } from '../../../src/webviews/lab/shared/circuit-links.js';
import { gridLinks } from '../../../src/webviews/lab/views/grid3d/grid-model.js';
import { circuitOverlay } from '../../../src/webviews/lab/views/trace/trace-model.js';
import { syntheticCircuit } from '../../mocks/synthetic-circuit.js';
import { syntheticResult } from '../../mocks/synthetic-result.js';

test('circuit links: nothing without a circuit of this prompt and model (no unmeasured links anywhere)', () => {
  const r = syntheticResult({ nLayers: 2, nHeads: 4, nTokens: 5 });
  const none = { nodes: [], edges: [], caption: null };
  assert.deepEqual(circuitLinks(null, r), none);
  assert.deepEqual(circuitLinks(syntheticCircuit({ size: 8, clean: r.tokens, modelId: 'synthetic' }), null), none);
  assert.deepEqual(circuitLinks(syntheticCircuit({ size: 8, modelId: 'synthetic' }), r), none, 'another prompt');
  assert.deepEqual(circuitLinks(syntheticCircuit({ size: 8, clean: r.tokens, modelId: 'gpt2' }), r), none, 'another model');
  assert.deepEqual(gridLinks(null, r), { edges: [], caption: null });
  assert.deepEqual(circuitOverlay(null, r), { segments: [], nodes: [], caption: null });
  assert.ok(r.trace.edges.length > 0, 'the trace’s own top-head links exist and are not drawn');
});

test('circuit links: the circuit’s measured head → head edges only, weighted by |score|, captioned', () => {
  const r = syntheticResult({ nLayers: 2, nHeads: 4, nTokens: 5 });
  const report = syntheticCircuit({ size: 8, clean: r.tokens, modelId: 'synthetic' });
  assert.ok(circuitOfAnalysis(report, r));
  const links = circuitLinks(report, r);
  assert.deepEqual(
    links.edges.map((e) => [e.from, e.to, e.score, e.weight]),
    [
      [{ layer: 0, head: 1 }, { layer: 1, head: 2 }, 2, 1],
      [{ layer: 0, head: 0 }, { layer: 1, head: 3 }, 0.05, 0.025],
    ],
    'L0H1 → L1H2.k and L0H0 → L1H3.q; embed, MLP and logits edges are not head → head',
  );
  assert.match(links.caption!, /^measured head → head edges of the circuit \(EAP-IG, 8 edges\)$/);
  assert.deepEqual(links.nodes.map((n) => `L${n.layer}H${n.head}`).sort(), ['L0H0', 'L0H1', 'L1H2', 'L1H3']);
  const grid = gridLinks(report, r);
  assert.deepEqual(grid.edges, links.edges);
  assert.equal(grid.caption, links.caption);
  const overlay = circuitOverlay(report, r);
  assert.deepEqual(
    overlay.segments,
    links.edges.map((e) => ({ from: { row: e.from.layer, col: e.from.head }, to: { row: e.to.layer, col: e.to.head }, weight: e.weight })),
  );
  assert.equal(overlay.caption, links.caption);
});

test('circuit links: an edge into a key/value head goes to each query head of its group', () => {
  const r = syntheticResult({ nLayers: 2, nHeads: 4, nTokens: 5 });
  const report = { ...syntheticCircuit({ clean: r.tokens, modelId: 'synthetic' }), graph: { nLayers: 2, nHeads: 4, nKvHeads: 2, parallelResidual: false } };
  report.edges = [{ from: 'L0H3', to: 'L1KV0.v', score: -1 }];
  const links = circuitLinks(report, r);
  assert.deepEqual(
    links.edges.map((e) => e.to.head),
    [0, 1],
  );
  assert.ok(links.edges.every((e) => e.weight === 1 && e.score === -1));
});
