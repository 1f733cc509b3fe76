/**
 * Bad input, as a user makes it: analysing with nothing selected, a prompt over the token limit,
 * a malformed directive. Each gets a clear notification or diagnostic, and the extension keeps
 * working afterwards.
 */
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { openSession, sessionTest, themesToRun, type Session } from './harness/session.js';
import { INDUCTION, clickCodeLens, openPresets, predictionLens } from './harness/circuit-trace.js';
import { clearNotifications, codeLensTitlesAbove, editorLine, runCommand, waitForNotification, waitForProblem } from './harness/workbench.js';

/** About 120 GPT-2 tokens: over the default circuitTrace.maxTokens (64) and the organism's context. */
const LONG_PROMPT = 'The cat sat on the mat and looked at the dog. '.repeat(10).trim();

async function appendToDocument(session: Session, text: string): Promise<void> {
  const { page } = session;
  await editorLine(page, INDUCTION.prompt).first().click();
  await page.keyboard.press('Control+End');
  await page.keyboard.press('Enter');
  for (const [i, line] of text.split('\n').entries()) {
    if (i > 0) await page.keyboard.press('Enter');
    await page.keyboard.insertText(line);
  }
}

for (const theme of themesToRun()) {
  describe(`bad input (${theme} theme)`, () => {
    let session: Session;
    before(async () => {
      session = await openSession({ theme, name: 'bad-input' });
    });
    after(async () => {
      await session?.close();
    });

    sessionTest('"Analyze Selection" with an empty selection outside any prompt says what to select', () => session, async (session) => {
      const { page } = session;
      await openPresets(page);
      // The caret on the file's first comment line, nothing selected.
      await editorLine(page, '// The five preset prompts').first().click();
      await runCommand(page, 'Circuit Trace: Analyze Selection');
      const message = await waitForNotification(page, /Circuit Trace/);
      assert.match(message, /select|cursor/i, message);
      await session.screenshot('empty-selection-notification');
      await clearNotifications(page);
    });

    sessionTest('a prompt over the token limit gets a diagnostic and no Analyze CodeLens', () => session, async (session) => {
      const { page } = session;
      await appendToDocument(session, `\n## Too long\n${LONG_PROMPT}`);
      await waitForProblem(page, /tokens long.*over the limit of \d+/);
      const lenses = await codeLensTitlesAbove(page, LONG_PROMPT.slice(0, 40));
      assert.ok(!lenses.includes('Analyze') && lenses.some((t) => /problem/.test(t)), `CodeLenses above the long prompt: ${lenses.join(' | ')}`);
      await session.screenshot('over-long-prompt-diagnostic');
    });

    sessionTest('a malformed directive gets a diagnostic that says how to write it', () => session, async (session) => {
      const { page } = session;
      await appendToDocument(session, '\n## Broken directive\nThe dog sat on the\n@target');
      await waitForProblem(page, /@target needs a value/);
      await session.screenshot('malformed-directive-diagnostic');
    });

    sessionTest('the extension still works: Analyze on the induction preset still predicts " mat"', () => session, async (session) => {
      const { page } = session;
      await editorLine(page, INDUCTION.prompt).first().scrollIntoViewIfNeeded();
      await clickCodeLens(page, INDUCTION.prompt, 'Analyze');
      const lens = await predictionLens(page, INDUCTION.prompt);
      assert.match(lens, /^→ " mat" /, lens);
      await session.screenshot('still-working');
    });
  });
}
