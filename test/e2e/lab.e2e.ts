/**
 * A user clicks "Analyze" above the induction preset and reads the Lab: every view drawn with
 * the built-in organism's answer, " mat".
 */
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from 'playwright-core';
import { openSession, sessionTest, themesToRun, type Session } from './harness/session.js';
import { ANALYSIS_VIEWS, INDUCTION, clickCodeLens, labFrame, labRenderMs, labView, openPresets, predictionLens, waitForViewsDrawn } from './harness/circuit-trace.js';
import { elementPixels } from './harness/webview.js';
import { recordMeasurement } from './harness/measurements.js';
import { visibleText } from './harness/workbench.js';

for (const theme of themesToRun()) {
  describe(`the Lab (${theme} theme)`, () => {
    let session: Session;
    let lab: Frame;
    before(async () => {
      session = await openSession({ theme, name: 'lab' });
    });
    after(async () => {
      await session?.close();
    });

    sessionTest('Analyze above the induction preset opens the Lab with every view drawn', () => session, async (session) => {
      const { page } = session;
      await openPresets(page);
      await session.screenshot('presets-codelens');
      await clickCodeLens(page, INDUCTION.prompt, 'Analyze');
      lab = await labFrame(page);
      await waitForViewsDrawn(lab, ANALYSIS_VIEWS);
      await session.screenshot('lab-all-views');
      const renderMs = await labRenderMs(lab);
      recordMeasurement({ name: 'lab-render-ms', value: renderMs, unit: 'ms', theme, context: `induction preset (organism)` });
    });

    sessionTest('the CodeLens above the prompt now shows the top prediction, " mat"', () => session, async (session) => {
      const lens = await predictionLens(session.page, INDUCTION.prompt);
      assert.match(lens, /^→ " mat" \d+(\.\d+)?%$/, lens);
    });

    sessionTest('the 3D grid draws the layers × heads grid (its canvas is not blank)', () => session, async (session) => {
      const canvas = labView(lab, 'grid3d').locator('canvas').first();
      const pixels = await elementPixels(session.browser, canvas);
      assert.ok(pixels.width > 50 && pixels.height > 50, `canvas is ${pixels.width}×${pixels.height}`);
      assert.ok(pixels.foregroundShare > 0.01, `only ${(pixels.foregroundShare * 100).toFixed(2)}% of the 3D canvas differs from its background`);
      assert.ok(pixels.colours >= 4, `the 3D canvas has ${pixels.colours} colours`);
    });

    sessionTest('the attention heatmap draws its cells', () => session, async (session) => {
      const canvas = labView(lab, 'heatmap').locator('canvas').first();
      const pixels = await elementPixels(session.browser, canvas);
      assert.ok(pixels.foregroundShare > 0.02, `only ${(pixels.foregroundShare * 100).toFixed(2)}% of the heatmap differs from its background`);
      // A heat scale over query × key cells: many shades, not one flat fill.
      assert.ok(pixels.colours >= 8, `the heatmap has ${pixels.colours} colours`);
    });

    for (const view of ['trace', 'lens', 'flow', 'predictions'] as const) {
      sessionTest(`the ${view} view shows the top token " mat"`, () => session, async () => {
        const text = visibleText(await labView(lab, view).innerText());
        assert.ok(text.includes(INDUCTION.topToken.trim()), `${view} view text: ${text.slice(0, 400)}`);
      });
    }
  });
}
