/**
 * The attribution view's exports in a minimal DOM (mini-dom.ts): a JSON export of its maps (the
 * host serialises them) enabled once a map is shown, and each heatmap's own PNG and SVG buttons.
 */
import { all, attr, click, installMiniDom, miniDocument, settle } from './mini-dom.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from 'preact';
import { LabContext, type LabActions } from '../../../src/webviews/lab/components/lab-context.js';
import { initialLabState, labReducer, type LabState } from '../../../src/webviews/lab/state/lab-state.js';
import { FALLBACK_PALETTE } from '../../../src/webviews/lab/shared/colour.js';
import { syntheticAttributionMap, syntheticPathPatchMap } from '../../mocks/synthetic-attribution.js';

installMiniDom();
// uPlot (the scatter's chart) reads these when it loads; the minimal DOM has no browser globals.
const g = globalThis as Record<string, unknown>;
g['navigator'] ??= { userAgent: 'node' };
g['devicePixelRatio'] ??= 1;
g['dispatchEvent'] ??= () => true;
g['addEventListener'] ??= () => {};
g['removeEventListener'] ??= () => {};
g['matchMedia'] ??= () => ({ matches: false, addListener: () => {}, removeListener: () => {}, addEventListener: () => {}, removeEventListener: () => {} });
type ViewModule = typeof import('../../../src/webviews/lab/views/attribution/attribution-view.js');
const loadView = (): Promise<ViewModule> => import('../../../src/webviews/lab/views/attribution/attribution-view.js');

function mount(state: LabState, AttributionView: ViewModule['AttributionView']) {
  const root = miniDocument.createElement('div');
  miniDocument.body.appendChild(root);
  const exports: unknown[][] = [];
  const actions = {
    exportView: async (...args: unknown[]) => {
      exports.push(args);
    },
    log: () => {},
    openView: () => {},
    reportDrawn: () => {},
    select: () => {},
  } as unknown as LabActions;
  render(<LabContext.Provider value={{ state, palette: FALLBACK_PALETTE, actions }}>{<AttributionView />}</LabContext.Provider>, root as never);
  return { root, exports };
}

const button = (root: ReturnType<typeof mount>['root'], label: RegExp) => all(root, (e) => e.localName === 'button' && label.test(attr(e, 'aria-label') ?? ''));

test('the JSON export of the maps: disabled without a map, asks the host for the view’s JSON once one is shown', async () => {
  const { AttributionView } = await loadView();
  const empty = mount(initialLabState('attribution', null), AttributionView);
  await settle();
  const [disabled] = button(empty.root, /^Export the attribution and path-patching maps as JSON$/);
  assert.ok(disabled, 'the button is there');
  assert.equal(disabled.disabled, true);
  let state = initialLabState('attribution', null);
  state = labReducer(state, { type: 'host', now: 0, message: { type: 'attributionMap', map: syntheticAttributionMap() } });
  state = labReducer(state, { type: 'host', now: 0, message: { type: 'pathPatchMap', map: syntheticPathPatchMap() } });
  const shown = mount(state, AttributionView);
  await settle();
  const [json] = button(shown.root, /^Export the attribution and path-patching maps as JSON$/);
  assert.equal(json!.disabled, false);
  click(json!);
  await settle();
  assert.deepEqual(shown.exports, [['attribution', 'json']]);
  // Each heatmap shown has its own picture exports.
  assert.equal(button(shown.root, /^Export the .* heatmap as PNG$/).length, 3);
  assert.equal(button(shown.root, /^Export the .* heatmap as SVG$/).length, 3);
});
