/**
 * A user clicks "Patch" above the induction preset: the activation-patching sweep (clean
 * "... the mat. The cat sat on the" vs corrupted "... the rug. ...") ranks the organism's
 * documented induction head first.
 */
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { organismHead } from '../../src/engine/organism/organism-design.js';
import { openSession, sessionTest, themesToRun, type Session } from './harness/session.js';
import { INDUCTION, clickCodeLens, labFrame, labView, openPresets, waitForViewsDrawn } from './harness/circuit-trace.js';
import { visibleText } from './harness/workbench.js';

for (const theme of themesToRun()) {
  describe(`activation patching (${theme} theme)`, () => {
    let session: Session;
    before(async () => {
      session = await openSession({ theme, name: 'patch' });
    });
    after(async () => {
      await session?.close();
    });

    sessionTest('Patch above the induction preset ranks the induction head first', () => session, async (session) => {
      const { page } = session;
      await openPresets(page);
      await clickCodeLens(page, INDUCTION.prompt, 'Patch');
      const lab = await labFrame(page);
      await waitForViewsDrawn(lab, ['patching']);
      await session.screenshot('patch-sweep');
      const induction = organismHead('induction');
      const ranking = labView(lab, 'patching').locator('[data-rank="1"]').first();
      const first = visibleText(await ranking.innerText());
      assert.ok(first.includes(`L${induction.layer}H${induction.head}`), `the strongest component is ${first}`);
    });
  });
}
