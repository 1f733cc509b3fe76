/**
 * The Attribution Graph view rendered by preact into a minimal DOM (mini-dom.ts): nodes and edges
 * drawn with ARIA labels, one tab stop with arrow-key moves between nodes, Enter pins, grouping
 * pinned nodes into a named supernode (and its errors), hover details with the feature's profile,
 * the scores, the threshold sliders' rebuild, and the JSON export carrying the pins.
 */
import { all, click, miniDocument, press, settle, type, MiniEvent, type MiniElement } from './mini-dom.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from 'preact';
import { LabContext, type LabActions } from '../../../src/webviews/lab/components/lab-context.js';
import { AttributionGraphView } from '../../../src/webviews/lab/views/attribution-graph/attribution-graph-view.js';
import { initialLabState, labReducer, type LabState } from '../../../src/webviews/lab/state/lab-state.js';
import { FALLBACK_PALETTE } from '../../../src/webviews/lab/shared/colour.js';
import { syntheticGraph } from '../../mocks/synthetic-graph.js';
import { syntheticFeatures } from '../../mocks/synthetic-features.js';

function labWithGraph(canRebuild = true, withFeatures = false, canExportJson = true): LabState {
  let state = initialLabState('attributionGraph', null);
  state = labReducer(state, {
    type: 'host',
    now: 0,
    message: { type: 'attributionGraph', graph: syntheticGraph(), dictionaryName: 'owner/tc', canRebuild, canExportJson },
  });
  if (withFeatures) state = labReducer(state, { type: 'host', now: 0, message: { type: 'features', result: syntheticFeatures(), dictionaryName: 'owner/tc' } });
  return state;
}

function mount(state: LabState) {
  const root = miniDocument.createElement('div');
  miniDocument.body.appendChild(root);
  const rebuilds: number[][] = [];
  const exports: unknown[] = [];
  const actions = {
    rebuildGraph: async (node: number, edge: number) => void rebuilds.push([node, edge]),
    exportGraph: async (pins: unknown) => void exports.push(pins),
    log: () => {},
    exportView: async () => {},
    openView: () => {},
    reportDrawn: () => {},
  } as unknown as LabActions;
  render(
    <LabContext.Provider value={{ state, palette: FALLBACK_PALETTE, actions }}>
      <AttributionGraphView />
    </LabContext.Provider>,
    root as never,
  );
  return { root, rebuilds, exports };
}

const text = (e: MiniElement) => e.textContent.replace(/\s+/g, ' ').trim();
const nodes = (root: MiniElement) => all(root, (e) => (e.getAttribute('class') ?? '').startsWith('graph-node'));
const nodeById = (root: MiniElement, id: string) => all(root, (e) => e.id === `graph-node-${id}`)[0]!;
const tabIndex = (e: MiniElement) => e.getAttribute('tabIndex') ?? e.getAttribute('tabindex');

test('without a graph: a placeholder that says how to make one', async () => {
  const { root } = mount(initialLabState('attributionGraph', null));
  await settle();
  assert.match(text(root), /run "Circuit Trace: Attribution Graph"/);
});

test('the graph: every node with an ARIA label, every edge drawn, the scores; one tab stop, arrows move, Enter pins', async () => {
  const { root } = mount(labWithGraph());
  await settle();
  const all_ = nodes(root);
  assert.equal(all_.length, 10);
  assert.equal(all(root, (e) => e.localName === 'line').length, 10);
  assert.equal(nodeById(root, '0_2_1').getAttribute('aria-label'), 'feature L0 #2 at 1 " cat", activation 2.500: animals');
  assert.match(text(root), /Replacement score 0\.820/);
  assert.match(text(root), /Completeness score 0\.910/);
  assert.deepEqual(
    all_.filter((n) => tabIndex(n) === '0').map((n) => n.id),
    ['graph-node-3_319_2'],
    'one tab stop: the first logit',
  );
  const ev = press(nodeById(root, '3_319_2'), 'ArrowDown');
  assert.equal(ev.defaultPrevented, true);
  await settle();
  assert.equal(miniDocument.activeElement.id, 'graph-node-1_4_2');
  assert.equal(tabIndex(nodeById(root, '1_4_2')), '0');
  press(nodeById(root, '1_4_2'), 'ArrowDown');
  await settle();
  assert.equal(miniDocument.activeElement.id, 'graph-node-0_3_2', 'the nearest node below');
  press(nodeById(root, '0_3_2'), 'Home');
  await settle();
  assert.equal(miniDocument.activeElement.id, 'graph-node-0_2_1');
  press(nodeById(root, '0_2_1'), 'Enter');
  await settle();
  assert.equal(nodeById(root, '0_2_1').getAttribute('aria-pressed'), 'true');
  assert.match(nodeById(root, '0_2_1').getAttribute('aria-label')!, /, pinned$/);
  assert.match(text(all(root, (e) => (e.getAttribute('class') ?? '') === 'graph-pins')[0]!), /L0 #2 @1/);
  press(nodeById(root, '0_2_1'), 'Enter');
  await settle();
  assert.equal(nodeById(root, '0_2_1').getAttribute('aria-pressed'), 'false');
});

test("focus shows a node's details: its profile across the same prompt, its top logits and strongest links", async () => {
  const { root } = mount(labWithGraph(true, true));
  await settle();
  nodeById(root, '1_4_2').dispatchEvent(new MiniEvent('focus'));
  await settle();
  const details = text(all(root, (e) => (e.getAttribute('class') ?? '') === 'graph-details')[0]!);
  assert.match(details, /feature L1 #4 at 2 " sat", activation 2\.000/);
  assert.match(details, /Top logits: " on" \+3\.00, " down" \+2\.00/);
  assert.match(details, /From: L0 #2 @1 \+2\.00, L0 #5 @2 −0\.500/);
  assert.match(details, /To: Logit @2 \+3\.00, Logit @2 −1\.00/);
  nodeById(root, '0_2_1').dispatchEvent(new MiniEvent('mouseenter'));
  await settle();
  assert.match(text(root), /Activation across the prompt/);
});

test('pinned nodes group into a named supernode; errors for a missing name; the JSON export carries pins and supernodes', async () => {
  const { root, exports } = mount(labWithGraph());
  await settle();
  for (const id of ['0_5_2', '0_3_2']) click(nodeById(root, id));
  await settle();
  const checkboxes = all(root, (e) => e.localName === 'input' && e.getAttribute('type') === 'checkbox');
  assert.equal(checkboxes.length, 2);
  for (const c of checkboxes) {
    c.checked = true;
    c.dispatchEvent(new MiniEvent('change'));
    await settle();
  }
  const groupButton = all(root, (e) => e.localName === 'button' && /Group 2 into a supernode/.test(text(e)))[0]!;
  click(groupButton);
  await settle();
  assert.match(text(all(root, (e) => e.getAttribute('role') === 'alert')[0]!), /Name the supernode/);
  type(all(root, (e) => e.localName === 'input' && e.getAttribute('placeholder') === 'e.g. say a capital')[0]!, 'sat features');
  await settle();
  click(all(root, (e) => e.localName === 'button' && /Group 2 into a supernode/.test(text(e)))[0]!);
  await settle();
  assert.match(text(root), /sat features \(2\)/);
  assert.match(nodeById(root, '0_5_2').getAttribute('aria-label')!, /in supernode sat features/);
  assert.equal(all(root, (e) => e.localName === 'text' && text(e) === 'sat features').length, 2, 'the name beside both members');
  click(all(root, (e) => e.getAttribute('aria-label') === 'Export the graph as circuit-tracer JSON')[0]!);
  await settle();
  assert.deepEqual(exports, [{ pinnedIds: ['0_5_2', '0_3_2'], supernodes: [['sat features', '0_5_2', '0_3_2']] }]);
});

test("threshold sliders rebuild the graph when the host can; without the host's support they are disabled and the JSON export is hidden", async () => {
  const { root, rebuilds } = mount(labWithGraph());
  await settle();
  const slider = all(root, (e) => e.getAttribute('aria-label') === 'Node threshold: share of influence kept')[0]!;
  type(slider, '0.65');
  await settle();
  assert.match(text(root), /Node threshold 0\.65/);
  click(all(root, (e) => e.localName === 'button' && /Rebuild with these thresholds/.test(text(e)))[0]!);
  await settle();
  assert.deepEqual(rebuilds, [[0.65, 0.98]]);
  const fixed = mount(labWithGraph(false, false, false));
  await settle();
  const fieldset = all(fixed.root, (e) => e.localName === 'fieldset')[0]!;
  assert.equal(fieldset.disabled, true);
  assert.equal(
    all(fixed.root, (e) => e.getAttribute('aria-label') === 'Export the graph as circuit-tracer JSON').length,
    0,
    "no JSON export without the host's exporter",
  );
});
