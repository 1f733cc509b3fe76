/**
 * TransformerLens's conventions as a user sees them: the prepended BOS at position 0 in the Lab
 * (a muted ⟨BOS⟩ and the position convention in the header), and the prompt-level head classes on
 * a list, where a perfect previous-token head is labelled previous-token (key i−1 is never
 * duplicate or induction evidence).
 */
import assert from 'node:assert/strict';
import type { Frame } from 'playwright-core';
import { organismHead } from '../../src/engine/organism/organism-design.js';
import { describeInThemes, sessionTest } from './harness/session.js';
import { ANALYSIS_VIEWS, clickCodeLens, labFrame, labView, predictionLens, waitForViewsDrawn } from './harness/circuit-trace.js';
import { codeLensAbove, openFile, openViewContainer, paneRows, sideBarPane, visibleText } from './harness/workbench.js';

const LIST = 'a , b , c , d , e ,';

describeInThemes('TransformerLens conventions', 'conventions', (current) => {
  let lab: Frame;

  sessionTest('Analyze above the list prompt draws the Lab with the prepended BOS at position 0', current, async (session) => {
    await openFile(session.page, 'conventions.prompt');
    await codeLensAbove(session.page, LIST, 'Analyze');
    await clickCodeLens(session.page, LIST, 'Analyze');
    lab = await labFrame(session.page);
    await waitForViewsDrawn(lab, ANALYSIS_VIEWS);
    await predictionLens(session.page, LIST);
    const header = visibleText(await lab.locator('body').innerText());
    assert.match(header, /positions count the prepended BOS as 0/, header.slice(0, 400));
    const flow = visibleText(await labView(lab, 'flow').innerText());
    assert.ok(flow.includes('⟨BOS⟩'), `token flow labels: ${flow.slice(0, 300)}`);
    await session.screenshot('lab-list-prompt-bos');
    await session.elementScreenshot(labView(lab, 'heatmap'), 'heatmap-bos-axis');
  });

  sessionTest('the Heads view labels the previous-token head of the list previous-token', current, async (session) => {
    const head = organismHead('previous-token');
    const name = `L${head.layer}H${head.head}`;
    await openViewContainer(session.page, 'Circuit Trace');
    const pane = await sideBarPane(session.page, 'Heads');
    // Classed groups open expanded ("Previous token (1)", then its heads); rows are in tree order.
    const isGroup = (row: string): boolean => /^(Induction|Duplicate token|Previous token|Diffuse|No evidence) \(\d+\)/.test(row);
    const rows = await paneRows(pane, (seen) => seen.some((row) => row.startsWith(name)));
    const headIndex = rows.findIndex((row) => row.startsWith(name));
    const groupAbove = rows.slice(0, headIndex).filter(isGroup).at(-1) ?? '';
    assert.match(groupAbove, /^Previous token/, `${name} is under "${groupAbove}": ${rows.join(' | ')}`);
    // The side bar is short: fold Models and Presets so the Heads tree shows the head in the picture.
    for (const title of ['Models', 'Presets']) {
      const header = session.page.locator('.sidebar .pane-header', { hasText: new RegExp(`^\\s*${title}`, 'i') }).first();
      if ((await header.getAttribute('aria-expanded')) === 'true') await header.click();
    }
    await pane.locator('.pane-body').first().hover();
    await session.page.mouse.wheel(0, 400);
    await session.page.waitForTimeout(300);
    await session.screenshot('heads-list-prompt');
  });
});
