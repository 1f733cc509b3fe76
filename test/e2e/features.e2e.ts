/**
 * Sparse dictionaries in VS Code, on the organism and its built-in transcoders (features that are
 * its known mechanisms): Load Dictionary… picks them, Show Features on the induction preset opens
 * the Features view with the top features of the last position, the error share and the heatmap,
 * a steering run (ablating the first listed feature) shows the predictions before and after,
 * ablating the fact feature on the factual-recall preset takes " Paris" off the top, and
 * Attribution Graph draws the graph with its scores and keyboard-reachable nodes.
 */
import assert from 'node:assert/strict';
import { describeInThemes, sessionTest } from './harness/session.js';
import { INDUCTION, labView, openPresets, waitForViewsDrawn } from './harness/circuit-trace.js';
import { webviewFrame } from './harness/webview.js';
import { clearNotifications, editorLine, runCommand, visibleText, waitForNotification } from './harness/workbench.js';

const RUN_TIMEOUT_MS = 180_000;
/** The factual-recall preset of test/e2e/workspace/presets.prompt. */
const FACT = { prompt: 'The capital of France is' } as const;

describeInThemes('sparse dictionaries: features and attribution graphs', 'features', (current) => {
  sessionTest("Load Dictionary… picks the organism's transcoders, and the engine checks them against the model", current, async (session) => {
    const { page } = session;
    await openPresets(page);
    await runCommand(page, 'Circuit Trace: Load Dictionary…', 'Circuit Trace: Load Dictionary');
    await page.locator('.quick-input-widget .monaco-list-row').first().waitFor();
    await page.keyboard.type('organism');
    await page.keyboard.press('Enter');
    const message = await waitForNotification(page, /Circuit Trace: loaded/, RUN_TIMEOUT_MS);
    assert.match(message, /loaded the organism's transcoders: transcoder/, message);
    await session.screenshot('dictionary-loaded');
    await clearNotifications(page);
  });

  sessionTest(
    'Show Features on the induction preset: top features, error share, heatmap; a steering run shows the predictions before and after',
    current,
    async (session) => {
      const { page } = session;
      await editorLine(page, INDUCTION.prompt).first().click();
      await runCommand(page, 'Circuit Trace: Show Features');
      const frame = await webviewFrame(page, '[data-view="features"]', RUN_TIMEOUT_MS);
      await waitForViewsDrawn(frame, ['features'], RUN_TIMEOUT_MS);
      const view = labView(frame, 'features');
      const top = view.locator('table.feature-table').first();
      const caption = visibleText(await top.locator('caption').innerText());
      assert.match(caption, /^Top features at \d+ " the"/, caption);
      assert.match(visibleText(await view.innerText()), /Share of ‖hook‖/);
      const canvas = view.locator('canvas').first();
      assert.ok(((await canvas.boundingBox())?.width ?? 0) > 20, 'the feature × position heatmap is drawn');
      await session.screenshot('features-view');

      // Steer: ablate the first feature of the table (the organism's induction feature fires on the last " the") at every position.
      await view.locator('table.feature-table button.link-button').first().click();
      await view.locator('label', { hasText: 'Positions' }).locator('input').fill('');
      await view.getByRole('button', { name: /Add edit/ }).click();
      await view.getByRole('button', { name: /Steer and predict/ }).click();
      const table = view.locator('table[aria-label="Predictions before and after steering"]');
      await table.waitFor({ timeout: RUN_TIMEOUT_MS });
      const rows = (await table.locator('tbody tr').allInnerTexts()).map(visibleText);
      assert.ok(rows.length > 0 && rows.every((r) => /%/.test(r)), rows.join(' | '));
      await session.screenshot('features-steered');
    },
  );

  sessionTest('steering on the factual-recall preset: ablating the fact feature takes " Paris" off the top', current, async (session) => {
    const { page } = session;
    await editorLine(page, FACT.prompt).first().click();
    await runCommand(page, 'Circuit Trace: Show Features');
    const frame = await webviewFrame(page, '[data-view="features"]', RUN_TIMEOUT_MS);
    await waitForViewsDrawn(frame, ['features'], RUN_TIMEOUT_MS);
    const view = labView(frame, 'features');
    const top = view.locator('table.feature-table').first();
    await top.locator('caption', { hasText: '" is"' }).waitFor({ timeout: RUN_TIMEOUT_MS });
    // Layer 0's strongest feature at " is" is MLP0's fact neuron (activation 5), labelled by the organism's transcoder.
    const first = top.locator('tbody tr').first();
    assert.match(visibleText(await first.innerText()), /fact: " France" then " is"/);
    await first.locator('button.link-button').click();
    await view.locator('label', { hasText: 'Positions' }).locator('input').fill('');
    await view.getByRole('button', { name: /Add edit/ }).click();
    await view.getByRole('button', { name: /Steer and predict/ }).click();
    const table = view.locator('table[aria-label="Predictions before and after steering"]');
    await table.waitFor({ timeout: RUN_TIMEOUT_MS });
    const paris = visibleText(await table.locator('tbody tr', { hasText: 'Paris' }).first().innerText());
    // Token, before, after: "87.2% (#1)", and after "–" when it left the top predictions.
    const [, before, after] = paris.split('\t').map((cell) => cell.trim());
    assert.match(String(before), /\(#1\)$/, `before steering " Paris" is the top prediction: ${paris}`);
    assert.ok(after === '–' || !/\(#1\)$/.test(String(after)), `after ablating the fact feature it is not: ${paris}`);
  });

  sessionTest('Attribution Graph on the induction preset draws the graph with its scores; arrow keys move between nodes', current, async (session) => {
    const { page } = session;
    await editorLine(page, INDUCTION.prompt).first().click();
    await runCommand(page, 'Circuit Trace: Attribution Graph');
    const frame = await webviewFrame(page, '[data-view="attributionGraph"]', RUN_TIMEOUT_MS);
    await waitForViewsDrawn(frame, ['attributionGraph'], RUN_TIMEOUT_MS);
    const view = labView(frame, 'attributionGraph');
    const text = visibleText(await view.innerText());
    assert.match(text, /Replacement score \d\.\d{3}/, text.slice(0, 400));
    assert.match(text, /Completeness score \d\.\d{3}/);
    const nodes = view.locator('g.graph-node');
    assert.ok((await nodes.count()) > 0, 'nodes drawn');
    const first = view.locator('g.graph-node[tabindex="0"]');
    await first.focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    assert.equal(await view.locator('g.graph-node[aria-pressed="true"]').count(), 1, 'Enter pinned the focused node');
    await session.screenshot('attribution-graph');
  });
});
