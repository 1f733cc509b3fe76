/**
 * A user clicks "Analyze" above the induction preset and reads the Lab: every view drawn with
 * the built-in organism's answer, " mat".
 */
import assert from 'node:assert/strict';
import type { Frame } from 'playwright-core';
import { describeInThemes, sessionTest } from './harness/session.js';
import {
  ANALYSIS_VIEWS,
  INDUCTION,
  clickCodeLens,
  labFrame,
  labRenderMs,
  labView,
  openPresets,
  predictionLens,
  waitForViewsDrawn,
} from './harness/circuit-trace.js';
import { elementPixels } from './harness/webview.js';
import { recordMeasurement } from './harness/measurements.js';
import { editorLine, runCommand, visibleText } from './harness/workbench.js';

/** A view's text as the user reads it, line by line (table cells tab-separated). */
async function viewLines(lab: Frame, view: string): Promise<string[]> {
  return visibleText(await labView(lab, view).innerText())
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

describeInThemes('the Lab', 'lab', (current, theme) => {
  let lab: Frame;

  sessionTest('Analyze above the induction preset opens the Lab with every view drawn', current, async (session) => {
    const { page } = session;
    await openPresets(page);
    await session.screenshot('presets-codelens');
    await clickCodeLens(page, INDUCTION.prompt, 'Analyze');
    lab = await labFrame(page);
    await waitForViewsDrawn(lab, ANALYSIS_VIEWS);
    await predictionLens(page, INDUCTION.prompt); // the editor side has caught up too
    await session.screenshot('lab-all-views');
    const renderMs = await labRenderMs(lab);
    recordMeasurement({ name: 'lab-render-ms', value: renderMs, unit: 'ms', theme, context: `induction preset (organism)` });
  });

  sessionTest('the CodeLens above the prompt now shows the top prediction, " mat"', current, async (session) => {
    const lens = await predictionLens(session.page, INDUCTION.prompt);
    assert.match(lens, /^→ " mat" \d+(\.\d+)?%$/, lens);
  });

  sessionTest('the 3D grid draws the layers × heads grid (its canvas is not blank)', current, async (session) => {
    const canvas = labView(lab, 'grid3d').locator('canvas').first();
    const pixels = await elementPixels(session.browser, canvas);
    assert.ok(pixels.width > 50 && pixels.height > 50, `canvas is ${pixels.width}×${pixels.height}`);
    assert.ok(pixels.foregroundShare > 0.01, `only ${(pixels.foregroundShare * 100).toFixed(2)}% of the 3D canvas differs from its background`);
    assert.ok(pixels.colours >= 4, `the 3D canvas has ${pixels.colours} colours`);
  });

  sessionTest('the attention heatmap draws its cells', current, async (session) => {
    const canvas = labView(lab, 'heatmap').locator('canvas').first();
    const pixels = await elementPixels(session.browser, canvas);
    assert.ok(pixels.foregroundShare > 0.02, `only ${(pixels.foregroundShare * 100).toFixed(2)}% of the heatmap differs from its background`);
    // A heat scale over query × key cells: many shades, not one flat fill.
    assert.ok(pixels.colours >= 8, `the heatmap has ${pixels.colours} colours`);
  });

  sessionTest('the predictions view ranks " mat" first', current, async () => {
    const lines = await viewLines(lab, 'predictions');
    // Rows read rank, token, probability: "1", "mat", "77.8%".
    const first = lines.indexOf('1');
    assert.ok(first >= 0, `predictions: ${lines.join(' | ')}`);
    assert.equal(lines[first + 1], INDUCTION.topToken.trim(), `predictions: ${lines.join(' | ')}`);
    assert.match(lines[first + 2] ?? '', /^\d+(\.\d+)?%$/);
  });

  sessionTest('the circuit trace explains the logit of " mat"', current, async () => {
    const text = (await viewLines(lab, 'trace')).join('\n');
    assert.match(text, /logit " mat"/, text.slice(0, 300));
  });

  sessionTest('the logit lens ends on " mat" at the last position', current, async () => {
    const lines = await viewLines(lab, 'lens');
    assert.ok(
      lines.some((line) => /target " mat"/.test(line)),
      `lens: ${lines.slice(0, 3).join(' | ')}`,
    );
    // The table's last depth row (the final residual stream): its last cell is the model's answer.
    const rows = lines.filter((line) => /^resid_(pre|post|mid) \d+\t/.test(line));
    const lastCell = rows.at(-1)?.split('\t').at(-1)?.trim() ?? '';
    assert.match(lastCell, /^mat\d/, `last lens row: ${rows.at(-1)}`);
  });

  sessionTest('the token flow draws arcs between the prompt\'s tokens, " mat" among them', current, async () => {
    const lines = await viewLines(lab, 'flow');
    const arcs = Number(/(\d+) arcs/.exec(lines.join(' '))?.[1] ?? 0);
    assert.ok(arcs > 0, `flow: ${lines.slice(0, 3).join(' | ')}`);
    assert.ok(lines.includes(INDUCTION.topToken.trim()), `flow labels: ${lines.join(' | ')}`);
  });

  sessionTest(
    'Find Circuit on the induction preset draws its measured circuit, sized by the slider, and the grid draws its edges',
    current,
    async (session) => {
      const { page } = session;
      await editorLine(page, INDUCTION.prompt).first().click(); // the cursor in the prompt with @corrupt
      await runCommand(page, 'Circuit Trace: Find Circuit');
      await waitForViewsDrawn(lab, ['circuit'], 120_000);
      const circuit = labView(lab, 'circuit');
      await circuit.scrollIntoViewIfNeeded();
      const edges = circuit.locator('path.circuit-edge');
      const drawn = await edges.count();
      assert.ok(drawn > 0, 'the circuit view draws measured edges');
      const labels = await edges.evaluateAll((paths) => paths.map((p) => p.getAttribute('aria-label') ?? ''));
      // The organism's induction circuit: the induction head writes the answer, reading the previous-token head through its key.
      assert.ok(
        labels.some((l) => /^L1H0 → logits: score /.test(l)),
        labels.join(' | '),
      );
      assert.ok(
        labels.some((l) => /^L0H0 → L1H0\.k: score /.test(l)),
        labels.join(' | '),
      );
      assert.match(visibleText(await circuit.innerText()), /faithfulness \d+(\.\d+)?%/);
      await session.elementScreenshot(circuit, 'view-circuit');
      const slider = circuit.getByRole('slider', { name: /Circuit size/ });
      await slider.focus();
      await page.keyboard.press('Home');
      // The smallest point of the curve: the top edge, pruned to paths from the embedding to the logits.
      await lab.waitForFunction((before) => document.querySelectorAll('[data-view="circuit"] path.circuit-edge').length < before, drawn, { timeout: 10_000 });
      assert.match((await slider.getAttribute('aria-valuetext')) ?? '', /^\d+ edges? \(top 1, pruned\)|^1 edge,/);
      // The grid draws the circuit's measured head → head edge (its caption says so), not unmeasured links.
      await page.keyboard.press('End');
      const gridLabel = (await labView(lab, 'grid3d').locator('[aria-label^="Model grid"]').first().getAttribute('aria-label')) ?? '';
      assert.match(gridLabel, /measured head → head edges of the circuit/);
    },
  );

  sessionTest('each view, and the Lab maximised, as pictures', current, async (session) => {
    for (const view of ANALYSIS_VIEWS) await session.elementScreenshot(labView(lab, view), `view-${view}`);
    // The Lab's editor group, not the prompt file's, is the one to maximise.
    await session.page.locator('.tabs-container .tab', { hasText: 'Circuit Trace Lab' }).first().click();
    await runCommand(session.page, 'View: Toggle Maximize Editor Group');
    await waitForViewsDrawn(lab, ANALYSIS_VIEWS);
    await session.page.waitForTimeout(500); // the views redraw at the new size
    await labView(lab, 'grid3d').scrollIntoViewIfNeeded(); // the per-view pictures scrolled the Lab
    await session.screenshot('lab-maximized');
    await runCommand(session.page, 'View: Toggle Maximize Editor Group');
  });
});
