/**
 * A user puts the cursor in the induction preset (a prompt with @corrupt) and runs Circuit Trace:
 * Attribution Heatmaps: the attribution view opens with path patching to the logits (layer × head),
 * AtP per head and per layer and position, and, once the exact sweep of heads at every position has
 * run on the same tokens, the AtP-vs-exact scatter with its Pearson correlation.
 */
import assert from 'node:assert/strict';
import { describeInThemes, sessionTest } from './harness/session.js';
import { INDUCTION, labFrame, labView, openPresets, waitForViewsDrawn } from './harness/circuit-trace.js';
import { elementPixels } from './harness/webview.js';
import { editorLine, runCommand, visibleText } from './harness/workbench.js';

describeInThemes('attribution heatmaps', 'attribution', (current) => {
  sessionTest('Attribution Heatmaps on the induction preset draws path patching, AtP and the AtP-vs-exact scatter', current, async (session) => {
    const { page } = session;
    await openPresets(page);
    await editorLine(page, INDUCTION.prompt).first().click(); // the cursor in the prompt with @corrupt
    await runCommand(page, 'Circuit Trace: Attribution Heatmaps');
    const lab = await labFrame(page);
    await waitForViewsDrawn(lab, ['attribution'], 180_000);
    const view = labView(lab, 'attribution');
    // The scatter appears once the exact sweep (the command's last run) has arrived.
    const r = view.locator('.attribution-r');
    await r.waitFor({ timeout: 180_000 });
    const correlation = Number(visibleText(await r.innerText()));
    assert.ok(Number.isFinite(correlation) && correlation >= -1 && correlation <= 1, `Pearson r: ${await r.innerText()}`);
    for (const map of ['path-patching', 'attribution-heads', 'attribution-positions']) {
      const canvas = view.locator(`[data-map="${map}"] canvas`).first();
      const pixels = await elementPixels(session.browser, canvas);
      assert.ok(pixels.width > 20 && pixels.height > 20, `${map}: the heatmap canvas is ${pixels.width}×${pixels.height}`);
      assert.ok(pixels.colours >= 3, `${map}: the heatmap has ${pixels.colours} colours`);
    }
    assert.match(visibleText(await view.innerText()), /clean [+−-]?\d/, 'the clean and corrupt logit differences are shown');
    // The keyboard walks the scatter's points; the last (largest exact effect) is the organism's induction head.
    const scatter = view.locator('[data-map="scatter"]');
    await scatter.locator('.attribution-scatter-plot').focus();
    await page.keyboard.press('End');
    assert.match(visibleText(await scatter.locator('.attribution-point').innerText()), /^L1H0: exact [+−-]?\d/);
    await session.elementScreenshot(scatter, 'attribution-scatter');
    await session.elementScreenshot(view, 'view-attribution');
  });
});
