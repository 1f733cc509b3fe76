/** The Attribution Graph view's model: layout, edge styles, keyboard moves, node texts, pins, supernodes, the pinned subgraph, qParams, the SVG export. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeNode,
  edgeStroke,
  groupPinned,
  layoutGraph,
  maxAbsWeight,
  moveFocus,
  NO_PINS,
  nodeLinks,
  pinnedSubgraph,
  prunePins,
  qParams,
  rowOf,
  togglePin,
  ungroup,
  validThreshold,
  type PinState,
} from '../../../src/webviews/lab/views/attribution-graph/graph-model.js';
import { graphCaption, graphSvg } from '../../../src/webviews/lab/views/attribution-graph/graph-svg.js';
import { featureProfile } from '../../../src/webviews/lab/views/features/features-model.js';
import { FALLBACK_PALETTE } from '../../../src/webviews/lab/shared/colour.js';
import { syntheticGraph } from '../../mocks/synthetic-graph.js';
import { syntheticFeatures } from '../../mocks/synthetic-features.js';

const graph = syntheticGraph();
const layout = layoutGraph(graph);
const at = (id: string) => layout.byId.get(id)!;

test('rows: logits on top, then the layers from the last to the first, embeddings at the bottom; columns by position', () => {
  assert.deepEqual(layout.rowLabels, ['Logits', 'L1', 'L0', 'Embed']);
  assert.equal(
    rowOf(
      graph.nodes.find((n) => n.id === '3_319_2')!,
      2,
    ),
    0,
  );
  assert.equal(at('1_4_2').row, 1);
  assert.equal(at('1_-1_2').row, 1, 'the error node of layer 1');
  assert.equal(at('0_5_2').row, 2);
  assert.equal(at('E_1000_1').row, 3);
  assert.ok(at('E_50256_0').x < at('E_1000_1').x && at('E_1000_1').x < at('E_1001_2').x, 'positions left to right');
  assert.ok(at('3_319_2').y < at('1_4_2').y && at('1_4_2').y < at('0_5_2').y && at('0_5_2').y < at('E_1001_2').y, 'logits above, embeddings below');
  // One cell, several nodes: side by side within the column, features by index, the error node last.
  assert.ok(at('0_3_2').x < at('0_5_2').x);
  assert.ok(at('1_4_2').x < at('1_-1_2').x);
  const column = (id: string) => Math.floor((at(id).x - layout.left) / layout.columnWidth);
  for (const id of ['0_3_2', '0_5_2', '1_4_2', '1_-1_2', '3_319_2', '3_866_2']) assert.equal(column(id), 2, id);
  assert.deepEqual(layout.rowOrder[2], ['0_2_1', '0_3_2', '0_5_2']);
});

test('edges: width from |w| relative to the largest, colour from the sign', () => {
  assert.equal(maxAbsWeight(graph.links), 3);
  assert.deepEqual(edgeStroke(3, 3), { width: 5, positive: true, opacity: 0.9 });
  const weak = edgeStroke(-0.3, 3);
  assert.equal(weak.positive, false);
  assert.ok(Math.abs(weak.width - 0.95) < 1e-9);
  assert.equal(maxAbsWeight([]), 1);
});

test('keyboard: arrows move along a row and to the nearest node above or below; Home/End; an empty start enters at the top', () => {
  assert.equal(moveFocus(layout, null, 'ArrowDown'), '3_319_2');
  assert.equal(moveFocus(layout, '0_2_1', 'ArrowRight'), '0_3_2');
  assert.equal(moveFocus(layout, '0_3_2', 'ArrowLeft'), '0_2_1');
  assert.equal(moveFocus(layout, '0_2_1', 'ArrowLeft'), '0_2_1', 'stays at the row end');
  assert.equal(moveFocus(layout, '0_2_1', 'End'), '0_5_2');
  assert.equal(moveFocus(layout, '0_5_2', 'Home'), '0_2_1');
  assert.equal(moveFocus(layout, '0_2_1', 'ArrowDown'), 'E_1000_1', 'the node below at the same position');
  assert.equal(moveFocus(layout, '0_2_1', 'ArrowUp'), '1_4_2', 'the nearest node in the row above');
  assert.equal(moveFocus(layout, 'E_1000_1', 'ArrowDown'), 'E_1000_1', 'nothing below the embeddings');
  assert.equal(moveFocus(layout, '3_319_2', 'ArrowUp'), '3_319_2');
  assert.equal(moveFocus(layout, 'gone', 'ArrowUp'), '3_319_2');
});

test('node descriptions and strongest links', () => {
  const byId = (id: string) => graph.nodes.find((n) => n.id === id)!;
  assert.equal(describeNode(byId('0_2_1'), graph.tokens), 'feature L0 #2 at 1 " cat", activation 2.500: animals');
  assert.equal(describeNode(byId('1_-1_2'), graph.tokens), 'reconstruction error of layer 1 at 2 " sat"');
  assert.equal(describeNode(byId('E_1001_2'), graph.tokens), 'embedding of " sat" at 2');
  assert.equal(describeNode(byId('3_866_2'), graph.tokens), 'Output " down" (p=0.200)');
  const links = nodeLinks(graph, '1_4_2', 2);
  assert.deepEqual(links.incoming, [
    { node: '0_2_1', weight: 2 },
    { node: '0_5_2', weight: -0.5 },
  ]);
  assert.deepEqual(links.outgoing, [
    { node: '3_319_2', weight: 3 },
    { node: '3_866_2', weight: -1 },
  ]);
});

test("a feature node's profile: its activations across the same prompt and its label or logits", () => {
  const features = syntheticFeatures();
  assert.deepEqual(featureProfile(features, 0, 2)?.activations, [0, 2.5, 3.5]);
  assert.equal(featureProfile(features, 0, 2)?.label, 'animals');
  const l1 = featureProfile(features, 1, 4)!;
  assert.deepEqual(
    l1.top.map((t) => t.token),
    [' on', ' down'],
  );
  assert.equal(featureProfile(features, 1, 6), null);
  assert.equal(featureProfile(features, 7, 1), null);
});

test('pins: Enter toggles; groups need a unique name and two pinned nodes; unpinning leaves the group; ungroup', () => {
  let pins: PinState = NO_PINS;
  for (const id of ['0_2_1', '0_5_2', '1_4_2']) pins = togglePin(pins, id);
  assert.deepEqual(pins.pinned, ['0_2_1', '0_5_2', '1_4_2']);
  const err = (ids: string[], name: string) => {
    const r = groupPinned(pins, ids, name);
    return r.ok ? '' : r.error;
  };
  assert.match(err(['0_2_1', '0_5_2'], '  '), /Name the supernode/);
  assert.match(err(['0_2_1', 'E_1000_1'], 'x'), /at least two pinned/);
  const grouped = groupPinned(pins, ['0_2_1', '0_5_2'], ' subject ');
  assert.ok(grouped.ok);
  pins = grouped.state;
  assert.deepEqual(pins.supernodes, [{ name: 'subject', members: ['0_2_1', '0_5_2'] }]);
  assert.match(err(['0_5_2', '1_4_2'], 'subject'), /already a supernode "subject"/);
  // Regrouping moves a member out of its old group; a group of one is kept, an empty one goes.
  const moved = groupPinned(pins, ['0_5_2', '1_4_2'], 'output');
  assert.ok(moved.ok);
  assert.deepEqual(moved.state.supernodes, [
    { name: 'subject', members: ['0_2_1'] },
    { name: 'output', members: ['0_5_2', '1_4_2'] },
  ]);
  pins = togglePin(moved.state, '0_2_1');
  assert.deepEqual(
    pins.supernodes.map((s) => s.name),
    ['output'],
  );
  assert.deepEqual(ungroup(pins, 'output').supernodes, []);
});

test("the pinned subgraph sums edges between supernodes; qParams are circuit-tracer's; pins follow a new graph", () => {
  let pins: PinState = NO_PINS;
  for (const id of ['E_1001_2', '0_5_2', '0_3_2', '1_4_2']) pins = togglePin(pins, id);
  const r = groupPinned(pins, ['0_5_2', '0_3_2'], 'sat features');
  assert.ok(r.ok);
  const sub = pinnedSubgraph(graph, r.state);
  assert.deepEqual(sub.units.sort(), ['1_4_2', 'E_1001_2', 'sat features']);
  assert.deepEqual(sub.edges, [
    { source: 'E_1001_2', target: 'sat features', weight: 1 },
    { source: 'sat features', target: '1_4_2', weight: -0.25 },
  ]);
  assert.deepEqual(qParams(r.state), { pinnedIds: ['E_1001_2', '0_5_2', '0_3_2', '1_4_2'], supernodes: [['sat features', '0_5_2', '0_3_2']] });
  const smaller = { ...graph, nodes: graph.nodes.filter((n) => n.id !== '0_3_2') };
  assert.deepEqual(prunePins(r.state, smaller), { pinned: ['E_1001_2', '0_5_2', '1_4_2'], supernodes: [{ name: 'sat features', members: ['0_5_2'] }] });
  assert.ok(validThreshold(0.8) && validThreshold(1));
  assert.ok(!validThreshold(0) && !validThreshold(1.2) && !validThreshold(Number.NaN));
});

test('the SVG export: every node and drawable edge, pins outlined, supernode names, the scores', () => {
  const pins = groupPinned(togglePin(togglePin(NO_PINS, '0_5_2'), '0_3_2'), ['0_5_2', '0_3_2'], 'A & B');
  assert.ok(pins.ok);
  const svg = graphSvg(graph, layout, pins.state, FALLBACK_PALETTE);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal((svg.match(/<line /g) ?? []).length, graph.links.length);
  assert.equal((svg.match(/<circle /g) ?? []).length, 4, 'features as circles');
  assert.equal((svg.match(/<rect x=/g) ?? []).length, 6, 'errors, tokens and logits as squares');
  assert.equal((svg.match(/stroke-width="2.5"/g) ?? []).length, 2, 'the two pinned nodes');
  assert.match(svg, /A &amp; B/);
  assert.ok(svg.includes(graphCaption(graph)));
  assert.match(graphCaption(graph), /replacement 0\.820 · completeness 0\.910/);
});

test('a crowded cell widens every column, so that its nodes stay apart', () => {
  const crowded = syntheticGraph();
  for (let t = 0; t < 9; t++)
    crowded.nodes.push({
      id: `3_${2000 + t}_2`,
      kind: 'logit',
      layer: null,
      position: 2,
      index: 2000 + t,
      activation: null,
      influence: null,
      probability: 0.01,
      label: '',
    });
  const wide = layoutGraph(crowded);
  assert.ok(wide.columnWidth > layout.columnWidth);
  const xs = wide.rowOrder[0]!.map((id) => wide.byId.get(id)!.x);
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i]! - xs[i - 1]! >= 15.9, `logit ${i} is ${xs[i]! - xs[i - 1]!} px from the one before`);
});
