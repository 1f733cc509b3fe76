/**
 * The Features view rendered by preact into a minimal DOM (mini-dom.ts), inside the Lab's context:
 * it shows the top features of the chosen position with labels or top logits and the error share,
 * arrow keys move between tokens, the hook selector switches layers, and the steering form refuses
 * bad input in place, lists valid edits and sends them (with the position) to the host.
 */
import { all, click, installMiniDom, miniDocument, press, settle, type, type MiniElement } from './mini-dom.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from 'preact';
import { LabContext, type LabActions } from '../../../src/webviews/lab/components/lab-context.js';
import { FeaturesView } from '../../../src/webviews/lab/views/features/features-view.js';
import { initialLabState, labReducer, type LabState } from '../../../src/webviews/lab/state/lab-state.js';
import { FALLBACK_PALETTE } from '../../../src/webviews/lab/shared/colour.js';
import type { FeatureEdit } from '../../../src/protocol/features.js';
import { syntheticFeatures, syntheticSteer } from '../../mocks/synthetic-features.js';

installMiniDom();

function labWithFeatures(): LabState {
  const state = initialLabState('features', null);
  return labReducer(state, { type: 'host', now: 0, message: { type: 'features', result: syntheticFeatures(), dictionaryName: 'owner/tc' } });
}

function mount(state: LabState, steer: (edits: FeatureEdit[], position?: number) => Promise<void> = async () => {}) {
  const root = miniDocument.createElement('div');
  miniDocument.body.appendChild(root);
  const calls: Array<{ edits: FeatureEdit[]; position?: number }> = [];
  const actions = {
    steerFeatures: (edits: FeatureEdit[], position?: number) => {
      calls.push({ edits, ...(position !== undefined ? { position } : {}) });
      return steer(edits, position);
    },
    log: () => {},
    exportView: async () => {},
    openView: () => {},
    reportDrawn: () => {},
  } as unknown as LabActions;
  const draw = (s: LabState) =>
    render(<LabContext.Provider value={{ state: s, palette: FALLBACK_PALETTE, actions }}>{<FeaturesView />}</LabContext.Provider>, root as never);
  draw(state);
  return { root, calls, draw };
}

const text = (e: MiniElement) => e.textContent.replace(/\s+/g, ' ').trim();
/** A table row's cells, joined by single spaces. */
const rowText = (tr: MiniElement) =>
  all(tr, (e) => e.localName === 'td' || e.localName === 'th')
    .map(text)
    .join(' ');
const byText = (root: MiniElement, tag: string, pattern: RegExp) => all(root, (e) => e.localName === tag && pattern.test(text(e)));
const field = (root: MiniElement, label: RegExp) => {
  const labelEl = byText(root, 'label', label)[0]!;
  return all(labelEl, (e) => e.localName === 'input' || e.localName === 'select')[0]!;
};

test('without features: a placeholder that says how to get them', async () => {
  const { root } = mount(initialLabState('features', null));
  await settle();
  assert.match(text(root), /Load Dictionary…", then "Show Features"/);
});

test("with features: the last position's top features with labels, the error share per position, and the layer switch", async () => {
  const { root } = mount(labWithFeatures());
  await settle();
  const table = all(root, (e) => e.localName === 'table')[0]!;
  assert.match(text(all(table, (e) => e.localName === 'caption')[0]!), /Top features at 2 " sat" · 3 active · blocks\.0\.ln2\.hook_normalized/);
  const rows = all(table, (e) => e.localName === 'tr')
    .slice(1)
    .map(rowText);
  assert.deepEqual(rows, ['L0/2 3.500 animals', 'L0/5 1.000 past tense', 'L0/3 0.250 misc']);
  assert.match(text(root), /Reconstruction error of blocks\.0\.hook_mlp_out/);
  assert.match(text(root), /25\.0%/, "position 2's error share");
  // The hook selector shows layer 1, whose features stand in with their top logits.
  const select = all(root, (e) => e.localName === 'select' && e.getAttribute('aria-label') === 'Dictionary layer')[0]!;
  type(select, '1');
  await settle();
  const rows1 = all(all(root, (e) => e.localName === 'table')[0]!, (e) => e.localName === 'tr')
    .slice(1)
    .map(rowText);
  assert.deepEqual(rows1, ['L1/4 2.000 → " on" " down"', 'L1/1 1.000 → " mat"']);
});

test('arrow keys move between the tokens (one tab stop) and the table follows', async () => {
  const { root } = mount(labWithFeatures());
  await settle();
  const tokens = () => all(root, (e) => e.localName === 'button' && (e.getAttribute('class') ?? '').includes('feature-token'));
  assert.deepEqual(
    tokens().map((t) => t.getAttribute('tabIndex') ?? t.getAttribute('tabindex')),
    ['-1', '-1', '0'],
  );
  const ev = press(tokens()[2]!, 'ArrowLeft');
  assert.equal(ev.defaultPrevented, true);
  await settle();
  assert.equal(miniDocument.activeElement, tokens()[1]);
  assert.equal(tokens()[1]!.getAttribute('aria-pressed'), 'true');
  assert.match(text(root), /Top features at 1 " cat" · 3 active/);
  press(tokens()[1]!, 'Home');
  await settle();
  assert.match(text(root), /Top features at 0 ⟨BOS⟩ · 1 active/);
  press(tokens()[0]!, 'End');
  await settle();
  assert.match(text(root), /Top features at 2 " sat"/);
});

test('steering form: errors in place, valid edits listed, then sent with the chosen position; the answer shows before and after', async () => {
  const { root, calls, draw } = mount(labWithFeatures());
  await settle();
  const add = byText(root, 'button', /^Add edit$/)[0]!;
  click(add);
  await settle();
  assert.match(text(all(root, (e) => e.getAttribute('role') === 'alert')[0]!), /whole number/);
  // Picking a feature from the table fills the form with it and its position.
  click(all(root, (e) => e.getAttribute('aria-label') === 'Steer L0/5')[0]!);
  await settle();
  assert.equal(field(root, /^Feature/).value, '5');
  assert.equal(field(root, /^Positions/).value, '2');
  type(field(root, /^Edit/), 'scale');
  await settle();
  type(field(root, /^Factor/), 'x');
  await settle();
  click(add);
  await settle();
  assert.match(text(root), /The factor is a number/);
  type(field(root, /^Factor/), '3');
  await settle();
  type(field(root, /^Positions/), '1-2');
  await settle();
  click(add);
  await settle();
  assert.equal(all(root, (e) => e.getAttribute('role') === 'alert').length, 0);
  assert.deepEqual(all(all(root, (e) => e.localName === 'ul')[0]!, (e) => e.localName === 'li').map(text), ['L0/5 × 3 at 1, 2']);
  click(byText(root, 'button', /Steer and predict at 2/)[0]!);
  await settle();
  assert.deepEqual(calls, [{ edits: [{ layer: 0, feature: 5, positions: [1, 2], kind: 'scale', factor: 3 }], position: 2 }]);
  let state = labWithFeatures();
  state = labReducer(state, { type: 'host', now: 0, message: { type: 'steered', result: syntheticSteer(calls[0]!.edits, 2), edits: calls[0]!.edits } });
  draw(state);
  await settle();
  const steerTable = all(root, (e) => e.getAttribute('aria-label') === 'Predictions before and after steering')[0]!;
  assert.deepEqual(
    all(steerTable, (e) => e.localName === 'tr')
      .slice(1)
      .map(rowText),
    ['down 20.0% (#2) 45.0% (#1)', 'on 50.0% (#1) 30.0% (#2)', 'up – 5.0% (#3)', 'there 10.0% (#3) –'],
  );
});

test("a refused steering run shows the host's error", async () => {
  const { root } = mount(labWithFeatures(), async () => {
    throw new Error('Feature 5 is outside layer 0.');
  });
  await settle();
  type(field(root, /^Feature/), '5');
  await settle();
  click(byText(root, 'button', /^Add edit$/)[0]!);
  await settle();
  click(byText(root, 'button', /Steer and predict/)[0]!);
  await settle();
  assert.match(text(root), /Feature 5 is outside layer 0\./);
});
