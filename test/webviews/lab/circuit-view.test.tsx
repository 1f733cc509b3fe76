/**
 * The Circuit view rendered by preact into a minimal DOM (mini-dom.ts), inside the Lab's context:
 * the size slider shows a measured size at once; an unmeasured one is asked of the host once the
 * slider rests (debounced: sizes passed over are never asked for), drawn when its point arrives and
 * added to the curve; only the latest request's failure is shown; a new discovery resets the
 * slider; clicking or pressing Enter on an edge out of a head asks for its path-patching check.
 */
import { all, attr, click, installMiniDom, miniDocument, press, settle, type, type MiniElement } from './mini-dom.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from 'preact';
import { LabContext, type LabActions } from '../../../src/webviews/lab/components/lab-context.js';
import { CircuitView, SIZE_DEBOUNCE_MS } from '../../../src/webviews/lab/views/circuit/circuit-view.js';
import { sliderPosition } from '../../../src/webviews/lab/views/circuit/circuit-model.js';
import { initialLabState, labReducer, type LabState } from '../../../src/webviews/lab/state/lab-state.js';
import { FALLBACK_PALETTE } from '../../../src/webviews/lab/shared/colour.js';
import { syntheticCircuit, syntheticCircuitSizes } from '../../mocks/synthetic-circuit.js';

installMiniDom();

const rest = () => new Promise((r) => setTimeout(r, SIZE_DEBOUNCE_MS + 60));

function labWithCircuit(size = 4): LabState {
  return labReducer(initialLabState('circuit', null), { type: 'host', now: 0, message: { type: 'circuit', report: syntheticCircuit({ size }) } });
}

function mount(initial: LabState, measure: (edges: number) => Promise<void> = async () => {}) {
  const root = miniDocument.createElement('div');
  miniDocument.body.appendChild(root);
  const asked: number[] = [];
  const checks: string[] = [];
  let state = initial;
  const actions = {
    measureCircuitSize: (edges: number) => {
      asked.push(edges);
      return measure(edges);
    },
    checkEdge: async (from: string, to: string) => {
      checks.push(`${from} → ${to}`);
    },
    log: () => {},
    exportView: async () => {},
    openView: () => {},
    reportDrawn: () => {},
  } as unknown as LabActions;
  const draw = () => render(<LabContext.Provider value={{ state, palette: FALLBACK_PALETTE, actions }}>{<CircuitView />}</LabContext.Provider>, root as never);
  draw();
  /** A message from the host, as the Lab's reducer applies it. */
  const host = (message: Parameters<typeof labReducer>[1] & { type: 'host' }) => {
    state = labReducer(state, message);
    draw();
  };
  return { root, asked, checks, host };
}

const slider = (root: MiniElement) => all(root, (e) => e.localName === 'input' && attr(e, 'type') === 'range')[0]!;
const edges = (root: MiniElement) => all(root, (e) => e.localName === 'path' && (attr(e, 'class') ?? '').includes('circuit-edge'));
const curvePoints = (root: MiniElement) => all(root, (e) => e.localName === 'circle').map((c) => Number(attr(c, 'data-edges')));
const text = (e: MiniElement) => e.textContent.replace(/\s+/g, ' ').trim();

test('the slider starts at the circuit’s own size and ranges over every scored edge', async () => {
  const { root } = mount(labWithCircuit(4));
  await settle();
  const input = slider(root);
  assert.equal(attr(input, 'aria-valuetext'), '4 edges, faithfulness 97.0%');
  assert.match(attr(input, 'aria-label') ?? '', /^Circuit size: top edges by \|score\|, 1 to 8 \(log scale\)$/);
  assert.equal(edges(root).length, 4);
  assert.deepEqual(curvePoints(root), [1, 2, 4, 8]);
});

test('a measured size shows at once; an unmeasured one is asked for once the slider rests, then joins the curve', async () => {
  const { root, asked, host } = mount(labWithCircuit(4));
  await settle();
  press(slider(root), 'ArrowLeft'); // 3: not measured
  await settle();
  assert.equal(attr(slider(root), 'aria-valuetext'), 'top 3 edges, measuring faithfulness…');
  assert.equal(edges(root).length, 4, 'the last measured circuit stays drawn meanwhile');
  assert.match(text(root), /Size 3: top 3 edges, measuring faithfulness…/);
  press(slider(root), 'ArrowLeft'); // 2: measured
  await settle();
  assert.equal(attr(slider(root), 'aria-valuetext'), '2 edges, faithfulness 90.0%');
  assert.equal(edges(root).length, 2);
  // Passing over 3 and 5 quickly to 6: only the size the slider rests on is asked for.
  for (const key of ['ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight']) press(slider(root), key);
  await settle();
  assert.equal(attr(slider(root), 'aria-valuetext'), 'top 6 edges, measuring faithfulness…');
  await rest();
  assert.deepEqual(asked, [6]);
  host({ type: 'host', now: 1, message: { type: 'circuitSize', point: syntheticCircuitSizes([6]).points[0]! } });
  await settle();
  assert.equal(attr(slider(root), 'aria-valuetext'), '6 edges, faithfulness 99.0%');
  assert.equal(edges(root).length, 6);
  assert.deepEqual(curvePoints(root), [1, 2, 4, 6, 8], 'the measured point joins the curve');
  await rest();
  assert.deepEqual(asked, [6], 'a measured size is not asked for again');
});

test('dragging the thumb picks the size on the log scale; only the latest request’s failure is shown', async () => {
  let fail = (_edges: number) => false;
  const { root, asked } = mount(labWithCircuit(4), async (k) => {
    await new Promise((r) => setTimeout(r, 20));
    if (fail(k)) throw new Error(`cannot measure ${k}`);
  });
  await settle();
  fail = () => true;
  type(slider(root), String(sliderPosition(5, 8)));
  await rest();
  assert.deepEqual(asked, [5]);
  await settle();
  assert.equal(attr(slider(root), 'aria-valuetext'), 'top 5 edges, not measured: cannot measure 5');
  // A request superseded by a newer one fails (the host cancels it): that failure is not news.
  type(slider(root), String(sliderPosition(7, 8)));
  await rest();
  press(slider(root), 'ArrowLeft'); // 6, asked for while 7's answer is still coming
  await new Promise((r) => setTimeout(r, 5));
  fail = (k) => k === 7;
  await rest();
  await settle();
  assert.deepEqual(asked, [5, 7, 6]);
  assert.equal(attr(slider(root), 'aria-valuetext'), 'top 6 edges, measuring faithfulness…');
});

test('a new discovery resets the slider to its own size', async () => {
  const { root, host } = mount(labWithCircuit(4));
  await settle();
  press(slider(root), 'Home');
  await settle();
  assert.equal(edges(root).length, 1);
  // A new discovery: a new report from the engine, with its own scored edges.
  const next = syntheticCircuit({ size: 8 });
  host({ type: 'host', now: 2, message: { type: 'circuit', report: { ...next, allEdges: [...next.allEdges] } } });
  await settle();
  assert.equal(attr(slider(root), 'aria-valuetext'), '8 edges, faithfulness 100.0%');
  assert.equal(edges(root).length, 8);
});

test('clicking an edge out of a head, or Enter on it, asks for its path-patching check; other edges do not', async () => {
  const { root, checks } = mount(labWithCircuit(8));
  await settle();
  const edge = (key: string) => edges(root).find((e) => attr(e, 'data-edge') === key)!;
  click(edge('L1H2>logits'));
  await settle();
  const enter = press(edge('L0H1>L1H2.k'), 'Enter');
  assert.ok(enter.defaultPrevented);
  click(edge('embed>L1H2.v'));
  click(edge('mlp0>logits'));
  await settle();
  assert.deepEqual(checks, ['L1H2 → logits', 'L0H1 → L1H2.k']);
  assert.match(attr(edge('L1H2>logits'), 'aria-label') ?? '', /^L1H2 → logits: score 3\.000; Enter checks it by path patching$/);
});
