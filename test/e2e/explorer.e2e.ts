/**
 * The Circuit Trace side bar: Models (the built-in organism, active), Presets (the five presets),
 * and after an analysis Heads (every head with its class) and History (the analysis).
 */
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { organismHead } from '../../src/engine/organism/organism-design.js';
import { openSession, sessionTest, themesToRun, type Session } from './harness/session.js';
import { INDUCTION, clickCodeLens, openPresets, predictionLens } from './harness/circuit-trace.js';
import { openViewContainer, paneRows, sideBarPane } from './harness/workbench.js';

const PRESET_NAMES = ['IOI', 'Induction', 'Factual recall', 'Greater-than', 'Duplicate token'];

for (const theme of themesToRun()) {
  describe(`the Circuit Trace explorer (${theme} theme)`, () => {
    let session: Session;
    before(async () => {
      session = await openSession({ theme, name: 'explorer' });
      // The views fill from an analysis: run one first, as a user would.
      await openPresets(session.page);
      await clickCodeLens(session.page, INDUCTION.prompt, 'Analyze');
      await predictionLens(session.page, INDUCTION.prompt);
      await openViewContainer(session.page, 'Circuit Trace');
    });
    after(async () => {
      await session?.close();
    });

    sessionTest('Models lists the built-in organism', () => session, async (session) => {
      const rows = await paneRows(await sideBarPane(session.page, 'Models'));
      assert.ok(rows.some((row) => /organism/i.test(row)), `Models: ${rows.join(' | ')}`);
    });

    sessionTest('Presets lists the five presets', () => session, async (session) => {
      const rows = await paneRows(await sideBarPane(session.page, 'Presets'));
      for (const name of PRESET_NAMES) assert.ok(rows.some((row) => row.includes(name)), `Presets: ${rows.join(' | ')}`);
    });

    sessionTest('Heads lists the analysed heads, the induction head among them', () => session, async (session) => {
      const induction = organismHead('induction');
      const rows = await paneRows(await sideBarPane(session.page, 'Heads'));
      const label = `L${induction.layer}H${induction.head}`;
      assert.ok(rows.some((row) => row.includes(label)), `Heads: ${rows.join(' | ')}`);
    });

    sessionTest('History lists the analysis', () => session, async (session) => {
      const rows = await paneRows(await sideBarPane(session.page, 'History'));
      assert.ok(rows.some((row) => /Induction|The cat sat/.test(row)), `History: ${rows.join(' | ')}`);
      await session.screenshot('explorer-views');
    });
  });
}
