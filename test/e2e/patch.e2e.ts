/**
 * A user clicks "Patch" above the induction preset: the activation-patching sweep (clean
 * "... the mat. The cat sat on the" vs corrupted "... the rug. ...") ranks the organism's
 * documented induction head first.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame } from 'playwright-core';
import { elementPixels } from './harness/webview.js';
import { describeInThemes, sessionTest } from './harness/session.js';
import { INDUCTION, clickCodeLens, labFrame, labView, openPresets, waitForViewsDrawn } from './harness/circuit-trace.js';
import { visibleText } from './harness/workbench.js';
import { REPO_ROOT } from './harness/paths.js';

/** The head that models/organism/README.md's head table documents as the induction head, e.g. "L1H0". */
function documentedInductionHead(): string {
  const readme = readFileSync(join(REPO_ROOT, 'models', 'organism', 'README.md'), 'utf8');
  const row = /^\|\s*\*\*(L\d+H\d+)\*\*\s*\|\s*induction\s*\|/m.exec(readme);
  if (!row?.[1]) throw new Error('models/organism/README.md documents no induction head in its head table');
  return row[1];
}

describeInThemes('activation patching', 'patch', (current) => {
  let lab: Frame;

  sessionTest('Patch above the induction preset ranks the induction head first', current, async (session) => {
    const { page } = session;
    await openPresets(page);
    await clickCodeLens(page, INDUCTION.prompt, 'Patch');
    lab = await labFrame(page);
    const patching = labView(lab, 'patching');
    // The sorted bar chart is an ordered list, strongest component first ("L1H0@11": head at position).
    const strongest = patching.getByRole('list', { name: /strongest components/ }).getByRole('listitem');
    await strongest.first().waitFor({ timeout: 120_000 });
    await patching.scrollIntoViewIfNeeded();
    await session.screenshot('patch-sweep');
    const ranking = (await strongest.allInnerTexts()).map((row) => visibleText(row).trim().split(/\s+/)[0]?.replace(/@\d+$/, '') ?? '');
    assert.equal(ranking[0], documentedInductionHead(), `ranking: ${ranking.join(', ')}`);
  });

  sessionTest('the patching view draws its layer × head heatmap', current, async (session) => {
    await waitForViewsDrawn(lab, ['patching'], 30_000);
    const canvas = labView(lab, 'patching').locator('canvas').first();
    const pixels = await elementPixels(session.browser, canvas);
    assert.ok(pixels.width > 20 && pixels.height > 20, `the heatmap canvas is ${pixels.width}×${pixels.height}`);
    assert.ok(pixels.colours >= 3, `the heatmap has ${pixels.colours} colours`);
    await session.elementScreenshot(labView(lab, 'patching'), 'view-patching');
  });
});
