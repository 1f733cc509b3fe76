import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FALLBACK_PALETTE } from '../../../src/webviews/lab/shared/colour.js';
import {
  circuitAtSize,
  circuitDrawing,
  circuitSvg,
  curvePlot,
  edgeCheckable,
  edgeCheckText,
  edgeWidth,
  initialSize,
  keySize,
  maxSize,
  measuredIndex,
  pendingSizeText,
  sizeAtPosition,
  sliderPosition,
  SLIDER_POSITIONS,
  layoutNodes,
  MAX_EDGE_WIDTH,
  MIN_EDGE_WIDTH,
  parseNode,
  sizeText,
} from '../../../src/webviews/lab/views/circuit/circuit-model.js';
import { withMeasuredSize } from '../../../src/protocol/circuit-sizes.js';
import { syntheticCircuit } from '../../mocks/synthetic-circuit.js';

const palette = { ...FALLBACK_PALETTE, positive: [0, 0, 255] as const, negative: [255, 128, 0] as const };
const SHAPE = { nLayers: 2, nHeads: 4, nKvHeads: 4 };

/** The end point of a drawn edge's path (`M x y C … x y`). */
function endOf(d: string): { x: number; y: number } {
  const numbers = d.match(/-?\d+(\.\d+)?/g)!.map(Number);
  return { x: numbers.at(-2)!, y: numbers.at(-1)! };
}

test('layout: embed on top, each layer its heads in a row and its MLP below, the logits at the bottom', () => {
  const nodes = layoutNodes(SHAPE, 600, new Set(['L0H1']));
  assert.equal(nodes.length, 1 + 2 * (4 + 1) + 1);
  const at = (name: string) => nodes.find((n) => n.name === name)!;
  const ys = ['embed', 'L0H0', 'mlp0', 'L1H0', 'mlp1', 'logits'].map((n) => at(n).y);
  assert.deepEqual(
    ys,
    [...ys].sort((a, b) => a - b),
    'rows go down with depth',
  );
  assert.equal(new Set(ys).size, ys.length);
  for (const layer of [0, 1]) {
    const row = [0, 1, 2, 3].map((h) => at(`L${layer}H${h}`));
    assert.ok(
      row.every((n) => n.y === row[0]!.y),
      'a layer’s heads share a row',
    );
    assert.ok(
      row.every((n, i) => i === 0 || n.x > row[i - 1]!.x),
      'heads left to right',
    );
  }
  assert.equal(at('L0H1').active, true);
  assert.equal(at('L0H2').active, false);
  assert.ok(nodes.every((n) => n.x >= 0 && n.x + n.width <= 600));
});

test('edges: width from |score| (the largest at the maximum), colour from the sign', () => {
  const report = syntheticCircuit({ size: 8 });
  const drawing = circuitDrawing(SHAPE, report.edges, 600, palette);
  assert.equal(drawing.edges.length, 8);
  const edge = (from: string, to: string) => drawing.edges.find((e) => e.from === from && e.to === to)!;
  assert.equal(edge('L1H2', 'logits').width, MAX_EDGE_WIDTH, 'the largest |score| (3)');
  assert.ok(Math.abs(edge('L0H1', 'L1H2.k').width - (MIN_EDGE_WIDTH + (MAX_EDGE_WIDTH - MIN_EDGE_WIDTH) * (2 / 3))) < 1e-9);
  assert.ok(Math.abs(edge('mlp0', 'logits').width - (MIN_EDGE_WIDTH + (MAX_EDGE_WIDTH - MIN_EDGE_WIDTH) * (0.8 / 3))) < 1e-9, 'width from |score|, not score');
  assert.deepEqual(edge('L1H2', 'logits').colour, palette.positive);
  assert.deepEqual(edge('mlp0', 'logits').colour, palette.negative);
  assert.deepEqual(edge('embed', 'L1H2.q').colour, palette.negative);
  assert.equal(edgeWidth(1, 0), MIN_EDGE_WIDTH);
  assert.equal(edgeWidth(Number.NaN, 3), MIN_EDGE_WIDTH);
  assert.ok(
    drawing.edges.every((e, i) => i === 0 || Math.abs(e.score) >= Math.abs(drawing.edges[i - 1]!.score)),
    'the strongest are drawn last (on top)',
  );
  const active = drawing.nodes.filter((n) => n.active).map((n) => n.name);
  assert.deepEqual(active.sort(), ['L0H0', 'L0H1', 'L1H2', 'L1H3', 'embed', 'logits', 'mlp0'].sort());
});

test('q, k and v inputs: the edge ends at the head’s left, middle or right port, solid, dashed or dotted', () => {
  const report = syntheticCircuit({ size: 8 });
  const drawing = circuitDrawing(SHAPE, report.edges, 600, palette);
  const head = drawing.nodes.find((n) => n.name === 'L1H2')!;
  const centre = head.x + head.width / 2;
  const edge = (to: string) => drawing.edges.find((e) => e.to === to && (e.from === 'embed' || e.from === 'L0H1'))!;
  const q = edge('L1H2.q'),
    k = edge('L1H2.k'),
    v = edge('L1H2.v');
  assert.deepEqual([q.port, k.port, v.port], ['q', 'k', 'v']);
  assert.ok(endOf(q.d).x < centre - 1 && Math.abs(endOf(k.d).x - centre) < 0.1 && endOf(v.d).x > centre + 1);
  assert.ok(
    [q, k, v].every((e) => Math.abs(endOf(e.d).y - head.y) < 0.1),
    'edges end at the top of the reader',
  );
  assert.equal(new Set([q.dash, k.dash, v.dash]).size, 3, 'three distinct strokes');
  assert.equal(q.dash, null);
  const logits = drawing.edges.find((e) => e.to === 'logits')!;
  assert.equal(logits.port, null);
  assert.equal(logits.dash, null);
});

test('grouped-query attention: a key/value head’s input is drawn at the middle of its query heads', () => {
  const shape = { nLayers: 2, nHeads: 4, nKvHeads: 2 };
  const drawing = circuitDrawing(shape, [{ from: 'L0H0', to: 'L1KV1.k', score: 1 }], 600, palette);
  const [a, b] = ['L1H2', 'L1H3'].map((n) => drawing.nodes.find((x) => x.name === n)!);
  const end = endOf(drawing.edges[0]!.d);
  assert.ok(Math.abs(end.x - (a!.x + a!.width / 2 + b!.x + b!.width / 2) / 2) < 0.1);
  assert.ok(a!.active && b!.active);
  assert.deepEqual(parseNode('L1KV1.k'), { kind: 'head', layer: 1, head: 1, kv: true, port: 'k' });
  assert.equal(parseNode('L1X2'), null);
});

test('the size slider: starts at the circuit’s own size, a measured size is that point’s circuit and faithfulness, another is not measured yet', () => {
  const report = syntheticCircuit({ size: 4 });
  const start = initialSize(report);
  assert.equal(start, 4);
  assert.deepEqual(circuitAtSize(report, start), { edges: report.edges, faithfulness: report.faithfulness, requested: 4 });
  const smallest = circuitAtSize(report, 1)!;
  assert.deepEqual(smallest.edges, [report.allEdges[0]]);
  assert.equal(smallest.faithfulness, report.curve![0]!.faithfulness);
  assert.equal(circuitAtSize(report, 8)!.edges.length, 8);
  assert.equal(circuitAtSize(report, 3), null, '3 edges: not on the curve yet');
  assert.equal(measuredIndex(report, 3), -1);
  const byThreshold = { ...report, size: { threshold: 0.5 } };
  assert.equal(initialSize(byThreshold), null);
  assert.equal(circuitAtSize(byThreshold, null)!.requested, null);
  assert.equal(sizeText({ edges: 4, requested: 4, faithfulness: 0.95 }), '4 edges, faithfulness 95.0%');
  assert.equal(sizeText({ edges: 3, requested: 5, faithfulness: null }), '3 edges (top 5, pruned), faithfulness undefined (clean and corrupted agree)');
  assert.equal(pendingSizeText(3, null), 'top 3 edges, measuring faithfulness…');
  assert.equal(pendingSizeText(1, 'no model'), 'top 1 edge, not measured: no model');
});

test('the size slider covers every size from 1 to all scored edges: a log-scale thumb, keys one edge at a time', () => {
  const max = 32491;
  assert.equal(sliderPosition(1, max), 0);
  assert.equal(sliderPosition(max, max), SLIDER_POSITIONS);
  assert.equal(sizeAtPosition(0, max), 1);
  assert.equal(sizeAtPosition(SLIDER_POSITIONS, max), max);
  // Every small size has a thumb position of its own; every position maps back to a size in range.
  for (let k = 1; k <= 90; k++) assert.equal(sizeAtPosition(sliderPosition(k, max), max), k, `size ${k}`);
  for (let p = 0; p <= SLIDER_POSITIONS; p += 37) {
    const k = sizeAtPosition(p, max);
    assert.ok(Number.isInteger(k) && k >= 1 && k <= max);
  }
  assert.equal(sizeAtPosition(-5, max), 1);
  assert.equal(sizeAtPosition(5000, max), max);
  assert.equal(sizeAtPosition(500, 1), 1, 'one edge: one size');
  const report = syntheticCircuit({ size: 4 }); // 8 scored edges, measured at 1, 2, 4, 8
  assert.equal(maxSize(report), 8);
  assert.equal(keySize(report, 4, 'ArrowRight'), 5);
  assert.equal(keySize(report, 4, 'ArrowUp'), 5);
  assert.equal(keySize(report, 4, 'ArrowLeft'), 3);
  assert.equal(keySize(report, 8, 'ArrowRight'), 8, 'not past every edge');
  assert.equal(keySize(report, 1, 'ArrowDown'), 1, 'not below one edge');
  assert.equal(keySize(report, 5, 'PageUp'), 8, 'the next measured size');
  assert.equal(keySize(report, 5, 'PageDown'), 4, 'the previous measured size');
  assert.equal(keySize(report, 4, 'Home'), 1);
  assert.equal(keySize(report, 4, 'End'), 8);
  assert.equal(keySize(report, 4, 'a'), null);
  assert.equal(keySize({ ...report, size: { threshold: 0.5 } }, null, 'ArrowRight'), 5, 'from a threshold circuit: its edge count');
});

test('a measured size joins the curve in order, with its circuit; measured again, it replaces its point', () => {
  const report = syntheticCircuit({ size: 4 });
  const three = withMeasuredSize(report, { requested: 3, edges: 3, faithfulness: 0.93, circuit: [0, 1, 2] });
  assert.deepEqual(
    three.curve!.map((p) => p.requested),
    [1, 2, 3, 4, 8],
  );
  assert.equal(three.curve!.length, three.curveCircuits.length);
  assert.deepEqual(circuitAtSize(three, 3), { edges: report.allEdges.slice(0, 3), faithfulness: 0.93, requested: 3 });
  assert.equal(three.allEdges, report.allEdges, 'the same discovery');
  assert.deepEqual(circuitAtSize(three, 4)!.edges, report.edges, 'the other points keep their circuits');
  const again = withMeasuredSize(three, { requested: 3, edges: 2, faithfulness: 0.5, circuit: [0, 1] });
  assert.equal(again.curve!.length, 5);
  assert.deepEqual(circuitAtSize(again, 3), { edges: report.allEdges.slice(0, 2), faithfulness: 0.5, requested: 3 });
  assert.equal(report.curve!.length, 4, 'the original is unchanged');
});

test('the faithfulness curve: x on a log scale of edges, 0% and 100% marked, points without a value left unplotted', () => {
  const plot = curvePlot(
    [
      { requested: 1, edges: 1, faithfulness: 0 },
      { requested: 10, edges: 10, faithfulness: 1 },
      { requested: 100, edges: 100, faithfulness: null },
    ],
    200,
    100,
  );
  assert.equal(plot.points[0]!.y, plot.y0);
  assert.equal(plot.points[1]!.y, plot.y100);
  assert.ok(plot.y100 < plot.y0);
  assert.ok(Number.isNaN(plot.points[2]!.y));
  assert.equal(plot.points[1]!.x, 200 - 8, 'the largest plotted size at the right edge');
});

test('SVG export: the graph with every edge, its port stroke, a hover title, the caption and the legend', () => {
  const report = syntheticCircuit({ size: 8 });
  const drawing = circuitDrawing(SHAPE, report.edges, 600, palette);
  const svg = circuitSvg(drawing, SHAPE, 'EAP-IG · faithfulness 98.0%', palette);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.equal((svg.match(/<path /g) ?? []).length, 8);
  assert.ok(svg.includes('stroke-dasharray="5 3"'), 'a key input');
  assert.ok(svg.includes('<title>L0H1 → L1H2.k: 2.000</title>'));
  assert.ok(svg.includes('EAP-IG · faithfulness 98.0%'));
  assert.ok(svg.includes('key (dashed, middle)'));
  assert.ok(svg.includes('#0000ff') && svg.includes('#ff8000'), 'both signs’ colours');
});

test('path-patching checks: edges out of a head into the logits or a head input only, and the check in words', () => {
  assert.equal(edgeCheckable('L1H2', 'logits'), true);
  assert.equal(edgeCheckable('L0H1', 'L1H2.k'), true);
  assert.equal(edgeCheckable('L0H1', 'L1KV0.v'), true);
  assert.equal(edgeCheckable('embed', 'L1H2.v'), false, 'path patching sends from heads');
  assert.equal(edgeCheckable('mlp0', 'logits'), false);
  assert.equal(edgeCheckable('L0H1', 'mlp1'), false, 'an MLP input is not a path-patching receiver');
  assert.equal(
    edgeCheckText({ from: 'L0H0', to: 'L1H0.k', receivers: 'L1H0:k', logitDiff: 1, cleanLogitDiff: 6, corruptLogitDiff: 0, normalized: -5 / 6 }),
    'path patching L0H0 → L1H0.k: logit diff 1.000 (-83.3% of clean − corrupt; clean 6.000, corrupt 0.000)',
  );
  assert.match(
    edgeCheckText({ from: 'L0H0', to: 'logits', receivers: 'logits', logitDiff: 1, cleanLogitDiff: 1, corruptLogitDiff: 1, normalized: null }),
    /clean and corrupted agree/,
  );
});
