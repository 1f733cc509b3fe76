/**
 * A user runs Find Circuit on the induction preset and works with the Lab's Circuit view, in the
 * light and the dark theme: the measured induction circuit drawn in the theme's colours; clicking
 * an edge out of a head, or pressing Enter on one, shows its path-patching check; moving the size
 * slider to a size the faithfulness curve has not measured measures it and adds its point.
 */
import assert from 'node:assert/strict';
import type { Frame, Locator } from 'playwright-core';
import { describeInThemes, sessionTest } from './harness/session.js';
import { INDUCTION, labFrame, labView, openPresets, waitForViewsDrawn } from './harness/circuit-trace.js';
import { editorLine, runCommand, visibleText } from './harness/workbench.js';

const CIRCUIT_TIMEOUT_MS = 240_000;

/** Relative luminance (0 black .. 1 white) of a CSS `rgb(r, g, b)` colour. */
function luminance(css: string): number {
  const [r, g, b] = (css.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((v) => Number(v) / 255);
  const lin = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  return 0.2126 * lin(r ?? 0) + 0.7152 * lin(g ?? 0) + 0.0722 * lin(b ?? 0);
}

/**
 * Clicks a point of an SVG path's stroke where the path is the topmost element (its bounding box's
 * centre may lie off a curved stroke, and other edges may cross it). The click is placed on the
 * drawing's <svg> (whose box the browser and Playwright agree on) at that point.
 */
async function clickStroke(edge: Locator): Promise<void> {
  const position = await edge.evaluate((element) => {
    const path = element as SVGPathElement;
    const svg = path.ownerSVGElement!.getBoundingClientRect();
    const matrix = path.getScreenCTM()!;
    for (const t of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
      const p = path.getPointAtLength(path.getTotalLength() * t);
      const x = p.x * matrix.a + p.y * matrix.c + matrix.e;
      const y = p.x * matrix.b + p.y * matrix.d + matrix.f;
      if (document.elementFromPoint(x, y) === path) return { x: x - svg.left, y: y - svg.top };
    }
    return null;
  });
  assert.ok(position, 'some point of the edge’s stroke is on top');
  await edge.locator('xpath=ancestor::*[local-name()="svg"][1]').click({ position });
}

describeInThemes('the circuit view', 'circuit', (current, theme) => {
  let lab: Frame;
  let circuit: Locator;

  sessionTest('Find Circuit on the induction preset draws the measured induction circuit in the theme’s colours', current, async (session) => {
    const { page } = session;
    await openPresets(page);
    await editorLine(page, INDUCTION.prompt).first().click(); // the cursor in the prompt with @corrupt
    await runCommand(page, 'Circuit Trace: Find Circuit');
    lab = await labFrame(page);
    await waitForViewsDrawn(lab, ['circuit'], CIRCUIT_TIMEOUT_MS);
    circuit = labView(lab, 'circuit');
    await circuit.scrollIntoViewIfNeeded();
    const labels = await circuit.locator('path.circuit-edge').evaluateAll((paths) => paths.map((p) => p.getAttribute('aria-label') ?? ''));
    assert.ok(
      labels.some((l) => /^L1H0 → logits: score /.test(l)),
      labels.join(' | '),
    );
    assert.match(visibleText(await circuit.innerText()), /faithfulness \d+(\.\d+)?%/);
    // The view follows the theme: its background and its text are the theme's.
    const colours = await circuit.evaluate((element) => {
      const style = getComputedStyle(element);
      return { background: getComputedStyle(document.body).backgroundColor, text: style.color };
    });
    const background = luminance(colours.background);
    const text = luminance(colours.text);
    if (theme === 'dark') assert.ok(background < 0.2 && text > 0.4, `dark theme: background ${colours.background}, text ${colours.text}`);
    else assert.ok(background > 0.6 && text < 0.3, `light theme: background ${colours.background}, text ${colours.text}`);
    await session.elementScreenshot(circuit, 'view-circuit');
  });

  sessionTest('pressing Enter on an edge out of a head, or clicking one, shows its path-patching check', current, async (session) => {
    const check = circuit.locator('.circuit-check');
    /** Waits for the check of `edge` (its text, or what the view says instead when it does not come). */
    const waitForCheck = async (edge: string): Promise<string> => {
      const deadline = Date.now() + 90_000;
      let text = '';
      while (Date.now() < deadline) {
        text = visibleText(await check.innerText());
        if (text.startsWith(`path patching ${edge}: logit diff`) || / failed: /.test(text)) break;
        await session.page.waitForTimeout(250);
      }
      assert.match(
        text,
        new RegExp(
          `^path patching ${edge.replace('.', '\\.')}: logit diff [−-]?\\d+\\.\\d+ \\([−-]?\\d+(\\.\\d+)?% of clean − corrupt; clean [−-]?\\d+\\.\\d+, corrupt [−-]?\\d+\\.\\d+\\)$`,
        ),
      );
      return text;
    };
    await circuit.locator('path.circuit-edge[data-edge="L0H0>L1H0.k"]').focus();
    await session.page.keyboard.press('Enter');
    await waitForCheck('L0H0 → L1H0.k');
    await clickStroke(circuit.locator('path.circuit-edge[data-edge="L1H0>logits"]'));
    await waitForCheck('L1H0 → logits');
    await session.elementScreenshot(circuit, 'circuit-edge-check');
  });

  sessionTest('moving the size slider to a size the curve has not measured measures it and adds its point', current, async (session) => {
    const { page } = session;
    const measured = async () =>
      (await circuit.locator('circle.circuit-curve-point').evaluateAll((cs) => cs.map((c) => Number(c.getAttribute('data-edges'))))).sort((a, b) => a - b);
    const before = await measured();
    assert.ok(before.length >= 2 && before[0] === 1, `curve sizes: ${before.join(', ')}`);
    // The smallest size the curve skipped.
    let k = 2;
    while (before.includes(k)) k++;
    const slider = circuit.getByRole('slider', { name: /Circuit size/ });
    await slider.focus();
    await page.keyboard.press('Home');
    for (let i = 1; i < k; i++) await page.keyboard.press('ArrowRight');
    await lab.waitForFunction(
      (size) => (document.querySelector('[data-view="circuit"] circle.circuit-curve-point[data-edges="' + size + '"]') ?? null) !== null,
      k,
      { timeout: 60_000 },
    );
    const after = await measured();
    assert.deepEqual(
      after,
      [...before, k].sort((a, b) => a - b),
      `curve sizes after: ${after.join(', ')}`,
    );
    assert.match((await slider.getAttribute('aria-valuetext')) ?? '', /^\d+ edges?( \(top \d+, pruned\))?, faithfulness (-?\d+(\.\d+)?%|undefined)/);
    assert.match((await slider.getAttribute('aria-valuetext')) ?? '', new RegExp(`^${k} edges?,|\\(top ${k}, pruned\\)`));
    await session.elementScreenshot(circuit, 'circuit-measured-size');
  });
});
