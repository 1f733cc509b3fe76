/**
 * The packaged VSIX in a real VS Code: installed, activated by opening a .prompt file, its
 * commands in the palette and its CodeLenses above every preset.
 */
import assert from 'node:assert/strict';
import { describeInThemes, sessionTest } from './harness/session.js';
import { waitForCodeLensTitles, editorLine, openFile, paletteTitles } from './harness/workbench.js';

const INDUCTION_PROMPT = 'The cat sat on the mat. The cat sat on the';

describeInThemes('activation', 'activation', (current) => {
  sessionTest('the workbench opens the sample workspace', current, async (session) => {
    const explorer = await session.page.locator('.explorer-folders-view .monaco-list-row').allInnerTexts();
    assert.ok(
      explorer.some((row) => row.includes('presets.prompt')),
      `explorer rows: ${explorer.join(', ')}`,
    );
    await session.screenshot('workbench');
  });

  sessionTest('opening presets.prompt shows it as a Prompt file with Analyze and Patch CodeLenses above each preset', current, async (session) => {
    const { page } = session;
    await openFile(page, 'presets.prompt');
    // The language mode in the status bar comes from the extension's contributed language.
    await page
      .locator('#status\\.editor\\.mode')
      .filter({ hasText: /prompt/i })
      .waitFor();
    // Lenses appear once the provider has answered: poll until the induction prompt has its Analyze lens.
    const lenses = await waitForCodeLensTitles(page, INDUCTION_PROMPT, (titles) => titles.includes('Analyze'));
    assert.ok(lenses.includes('Patch'), `CodeLenses above the induction prompt: ${lenses.join(' | ')}`);
    // The prompt without a corrupted counterpart offers Analyze only.
    const duplicate = await waitForCodeLensTitles(page, 'The password is SWORDFISH. Again, the password is', (titles) => titles.includes('Analyze'));
    assert.ok(!duplicate.includes('Patch'), `CodeLenses above the duplicate-token prompt: ${duplicate.join(' | ')}`);
    assert.equal(await editorLine(page, INDUCTION_PROMPT).count(), 1);
    await session.screenshot('prompt-file-codelens');
  });

  sessionTest('the command palette offers the Circuit Trace commands', current, async (session) => {
    const titles = await paletteTitles(session.page, 'Circuit Trace:');
    for (const expected of ['Circuit Trace: Analyze Selection', 'Circuit Trace: Open Lab']) {
      assert.ok(titles.includes(expected), `palette offers: ${titles.join(' | ')}`);
    }
  });
});
