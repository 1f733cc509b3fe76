/**
 * Bad input, as a user makes it: analysing with nothing selected, a prompt over the token limit,
 * a malformed directive. Each gets a clear notification or diagnostic, and the extension keeps
 * working afterwards.
 */
import assert from 'node:assert/strict';
import { describeInThemes, sessionTest, type Session } from './harness/session.js';
import { INDUCTION, clickCodeLens, openPresets, predictionLens } from './harness/circuit-trace.js';
import { clearNotifications, editorLine, focusEditor, runCommand, waitForNotification, waitForProblem } from './harness/workbench.js';

/** About 120 GPT-2 tokens: over the default circuitTrace.maxTokens (64) and the organism's context. */
const LONG_PROMPT = 'The cat sat on the mat and looked at the dog. '.repeat(10).trim();

/** Types lines at the end of the open document and leaves the caret at the start of the last one. */
async function appendToDocument(session: Session, text: string): Promise<void> {
  const { page } = session;
  await focusEditor(page);
  await page.keyboard.press('Control+End');
  await page.keyboard.press('Enter');
  for (const [i, line] of text.split('\n').entries()) {
    if (i > 0) await page.keyboard.press('Enter');
    await page.keyboard.insertText(line);
  }
  await page.keyboard.press('Home'); // scrolls a long line back to its start
}

describeInThemes('bad input', 'bad-input', (current) => {
  sessionTest('"Analyze Selection" with an empty selection outside any prompt says what to select', current, async (session) => {
    const { page } = session;
    await openPresets(page);
    // The caret on the file's first comment line, nothing selected.
    await editorLine(page, '// The five preset prompts').first().click();
    await runCommand(page, 'Circuit Trace: Analyze Selection');
    const message = await waitForNotification(page, /Circuit Trace.*(select|cursor)/i);
    assert.match(message, /select the text to analyze|put the cursor in a prompt/, message);
    await session.screenshot('empty-selection-notification');
    await clearNotifications(page);
  });

  sessionTest('a prompt over the token limit gets a diagnostic, and analysing it anyway says why it cannot run', current, async (session) => {
    const { page } = session;
    await appendToDocument(session, `\n## Too long\n${LONG_PROMPT}`);
    // The BOS counts, as the engine counts it: "121 tokens with the BOS … over the limit of 64".
    await waitForProblem(page, /\d+ tokens( with the BOS)?.*over the limit of \d+/);
    await focusEditor(page);
    await page.keyboard.press('Home');
    await session.screenshot('over-long-prompt-diagnostic');
    // Selecting the text and analysing it anyway gets a notification that says what is wrong.
    await page.keyboard.press('Shift+End');
    await runCommand(page, 'Circuit Trace: Analyze Selection');
    // The "analyzing" progress toast comes first; the error replaces it once the worker has tokenized.
    const message = await waitForNotification(page, /Circuit Trace.*\d+ tokens/);
    assert.match(message, /failed\. The prompt is \d+ tokens( with the BOS)?, more than the (token limit of \d+|model's context of \d+ tokens)/, message);
    await session.screenshot('over-long-prompt-notification');
    await clearNotifications(page);
  });

  sessionTest('a malformed directive gets a diagnostic that says how to write it', current, async (session) => {
    const { page } = session;
    await appendToDocument(session, '\n## Broken directive\nThe dog sat on the\n@target');
    await waitForProblem(page, /@target needs a value/);
    await session.screenshot('malformed-directive-diagnostic');
  });

  sessionTest('the extension still works: Analyze on the induction preset still predicts " mat"', current, async (session) => {
    const { page } = session;
    await focusEditor(page);
    await page.keyboard.press('Control+Home');
    await clickCodeLens(page, INDUCTION.prompt, 'Analyze');
    const lens = await predictionLens(page, INDUCTION.prompt);
    assert.match(lens, /^→ " mat" /, lens);
    await session.screenshot('still-working');
  });
});
