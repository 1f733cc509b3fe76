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

describeInThemes('the Circuit Trace explorer', 'explorer', (current) => {
  sessionTest('Models lists the built-in organism', current, async (session) => {
    const rows = await paneRows(await sideBarPane(session.page, 'Models'));
    assert.ok(rows.some((row) => /organism/i.test(row)), `Models: ${rows.join(' | ')}`);
  });

  sessionTest('Presets lists the five presets', current, async (session) => {
    const rows = await paneRows(await sideBarPane(session.page, 'Presets'));
    for (const name of PRESET_NAMES) assert.ok(rows.some((row) => row.includes(name)), `Presets: ${rows.join(' | ')}`);
  });

  sessionTest('Heads lists the analysed heads, the induction head among them', current, async (session) => {
    const induction = organismHead('induction');
    const rows = await paneRows(await sideBarPane(session.page, 'Heads'));
    const label = `L${induction.layer}H${induction.head}`;
    assert.ok(rows.some((row) => row.includes(label)), `Heads: ${rows.join(' | ')}`);
  });

  sessionTest('History lists the analysis', current, async (session) => {
    const rows = await paneRows(await sideBarPane(session.page, 'History'));
    assert.ok(rows.some((row) => /Induction|The cat sat/.test(row)), `History: ${rows.join(' | ')}`);
    await session.screenshot('explorer-views');
  });
}, async (session) => {
  // The views fill from an analysis: run one first, as a user would.
  await openPresets(session.page);
  await clickCodeLens(session.page, INDUCTION.prompt, 'Analyze');
  await predictionLens(session.page, INDUCTION.prompt);
  await openViewContainer(session.page, 'Circuit Trace');
});
