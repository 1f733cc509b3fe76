/**
 * In the editor, as a user: analyse a selected prompt from the command palette, and after an
 * analysis hover a token to read the model's top prediction there.
 */
import assert from 'node:assert/strict';
import { describeInThemes, sessionTest } from './harness/session.js';
import { ANALYSIS_VIEWS, INDUCTION, clickCodeLens, labFrame, openPresets, predictionLens, waitForViewsDrawn } from './harness/circuit-trace.js';
import { hoverWord, runCommand, selectLine } from './harness/workbench.js';

const FACTUAL_PROMPT = 'The capital of France is';

/** The first row of the hover's "Top next tokens here" table: [token, probability]. */
function topPredictionOfHover(hover: string): [string, string] {
  const lines = hover
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const header = lines.findIndex((line) => /^next token\s+probability$/.test(line));
  const row = header >= 0 ? lines[header + 1] : undefined;
  const cells = row?.split(/\t+/) ?? [];
  if (cells.length < 2) throw new Error(`no prediction table in the hover:\n${hover}`);
  return [cells[0] ?? '', cells[1] ?? ''];
}

describeInThemes('the editor', 'editor', (current) => {
  sessionTest('selecting a prompt and running "Circuit Trace: Analyze Selection" analyses it in the Lab', current, async (session) => {
    const { page } = session;
    await openPresets(page);
    await selectLine(page, FACTUAL_PROMPT);
    await session.screenshot('selection');
    await runCommand(page, 'Circuit Trace: Analyze Selection');
    const lab = await labFrame(page);
    // The Lab shows the selected prompt's tokens once the analysis has arrived.
    await lab.locator('[data-view]').filter({ hasText: 'France' }).first().waitFor({ timeout: 120_000 });
    await waitForViewsDrawn(lab, ANALYSIS_VIEWS);
    await session.screenshot('selection-analyzed');
  });

  sessionTest('after Analyze, hovering the last token of the induction prompt shows " mat" as the top next token', current, async (session) => {
    const { page } = session;
    await page.keyboard.press('Escape');
    // Back to the editor (the Lab took the side), then analyse the induction preset.
    await openPresets(page);
    await clickCodeLens(page, INDUCTION.prompt, 'Analyze');
    await predictionLens(page, INDUCTION.prompt);
    // "the" at the end of "... The cat sat on the" is the second lowercase "the" of the line.
    const hover = await hoverWord(page, INDUCTION.prompt, 'the', 1);
    await session.screenshot('hover-token');
    const [token, probability] = topPredictionOfHover(hover);
    assert.equal(token, `"${INDUCTION.topToken}"`, hover);
    assert.match(probability, /^\d+(\.\d+)?%$/, hover);
    assert.match(hover, /token id \d+/, hover);
  });
});
