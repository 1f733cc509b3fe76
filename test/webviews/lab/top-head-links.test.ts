import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TOP_HEAD_LINKS_LABEL, topHeadLinks } from '../../../src/webviews/lab/shared/top-head-links.js';
import { gridLinks } from '../../../src/webviews/lab/views/grid3d/grid-model.js';
import { topHeadOverlay } from '../../../src/webviews/lab/views/trace/trace-model.js';
import { syntheticResult } from '../../mocks/synthetic-result.js';

test('top-head links: nothing drawn unless asked for', () => {
  const r = syntheticResult({ nLayers: 3, nHeads: 4 });
  assert.ok(r.trace.edges.length > 0, 'the trace has links to hide');
  assert.deepEqual(topHeadLinks(r.trace, false), { nodes: [], edges: [], caption: null });
  assert.deepEqual(topHeadLinks(null, true), { nodes: [], edges: [], caption: null });
  assert.deepEqual(gridLinks(r.trace, true, false), { edges: [], caption: null }, '3D and 2D grid: no edges by default');
  assert.deepEqual(topHeadOverlay(r.trace, false), { segments: [], nodes: [], caption: null }, 'trace: no overlay by default');
});

test('top-head links: when asked for, every link and top head, always with the label', () => {
  const r = syntheticResult({ nLayers: 3, nHeads: 4 });
  assert.equal(TOP_HEAD_LINKS_LABEL, 'top heads by |DLA| (not measured edges)');
  const links = topHeadLinks(r.trace, true);
  assert.equal(links.caption, TOP_HEAD_LINKS_LABEL);
  assert.equal(links.edges, r.trace.edges);
  assert.equal(links.nodes.length, r.trace.topPath.flat().length);

  const grid = gridLinks(r.trace, true, true);
  assert.equal(grid.edges, r.trace.edges);
  assert.equal(grid.caption, TOP_HEAD_LINKS_LABEL);
  assert.deepEqual(gridLinks(r.trace, false, true), { edges: [], caption: null }, 'while streaming there is no trace to draw');

  const overlay = topHeadOverlay(r.trace, true);
  assert.equal(overlay.caption, TOP_HEAD_LINKS_LABEL);
  assert.deepEqual(
    overlay.segments,
    r.trace.edges.map((e) => ({ from: { row: e.from.layer, col: e.from.head }, to: { row: e.to.layer, col: e.to.head }, weight: e.weight })),
  );
  assert.deepEqual(overlay.nodes, r.trace.topPath.flat());
});
