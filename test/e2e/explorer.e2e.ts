/**
 * The Circuit Trace side bar: Models (the built-in organism, active), Presets (the five presets),
 * and after an analysis Heads (every head with its class) and History (the analysis).
 */
import assert from 'node:assert/strict';
import { organismHead } from '../../src/engine/organism/organism-design.js';
import { describeInThemes, sessionTest } from './harness/session.js';
import { INDUCTION, clickCodeLens, openPresets, predictionLens } from './harness/circuit-trace.js';
import { openViewContainer, paneRows, sideBarPane } from './harness/workbench.js';

const PRESET_NAMES = ['IOI', 'Induction', 'Factual recall', 'Greater-than', 'Duplicate token'];

describeInThemes(
  'the Circuit Trace explorer',
  'explorer',
  (current) => {
    sessionTest('Models lists the built-in organism', current, async (session) => {
      const hasOrganism = (rows: string[]): boolean => rows.some((row) => /organism/i.test(row));
      const rows = await paneRows(await sideBarPane(session.page, 'Models'), hasOrganism);
      assert.ok(hasOrganism(rows), `Models: ${rows.join(' | ')}`);
    });

    sessionTest('Presets lists the five presets', current, async (session) => {
      const allPresets = (rows: string[]): boolean => PRESET_NAMES.every((name) => rows.some((row) => row.includes(name)));
      const rows = await paneRows(await sideBarPane(session.page, 'Presets'), allPresets);
      for (const name of PRESET_NAMES)
        assert.ok(
          rows.some((row) => row.includes(name)),
          `Presets: ${rows.join(' | ')}`,
        );
    });

    sessionTest('Heads lists the analysed heads, the induction head among them', current, async (session) => {
      const induction = organismHead('induction');
      const label = `L${induction.layer}H${induction.head}`;
      const hasInduction = (rows: string[]): boolean => rows.some((row) => row.includes(label));
      const rows = await paneRows(await sideBarPane(session.page, 'Heads'), hasInduction);
      assert.ok(hasInduction(rows), `Heads: ${rows.join(' | ')}`);
    });

    sessionTest('History lists the analysis', current, async (session) => {
      const hasAnalysis = (rows: string[]): boolean => rows.some((row) => /Induction|The cat sat/.test(row));
      const rows = await paneRows(await sideBarPane(session.page, 'History'), hasAnalysis);
      assert.ok(hasAnalysis(rows), `History: ${rows.join(' | ')}`);
      await session.screenshot('explorer-views');
    });
  },
  async (session) => {
    // The views fill from an analysis: run one first, as a user would.
    await openPresets(session.page);
    await clickCodeLens(session.page, INDUCTION.prompt, 'Analyze');
    await predictionLens(session.page, INDUCTION.prompt);
    await openViewContainer(session.page, 'Circuit Trace');
  },
);
