/**
 * Writes the e2e suite's timings and the Lab's measured render time into docs/benchmarks.md.
 * The suite is timed cold (code-server installed from scratch) and warm (cached); a run
 * updates its own row and keeps the other.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { writeBenchmarksSection } from '../package/benchmarks-section.mjs';
import type { Measurement } from '../../test/e2e/harness/measurements.js';

export interface SuiteTimings {
  codeServerCached: boolean;
  provideSeconds: number;
  packageSeconds: number;
  installSeconds: number;
  testsSeconds: number;
  totalSeconds: number;
  passed: boolean;
  /** Number of tests run and the titles of those that failed. */
  tests: number;
  failures: string[];
}

const SUITE_HEADING = 'End-to-end suite (npm run test:e2e)';
const RENDER_HEADING = 'Lab render time in VS Code (e2e)';

/** The existing table row of a section whose first cell is `key`, if any. */
function existingRow(file: string, heading: string, key: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(`## ${heading}\n`);
  if (start < 0) return undefined;
  const next = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, next < 0 ? undefined : next);
  return section.split('\n').find((line) => line.startsWith(`| ${key} |`));
}

function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function recordSuiteBenchmarks(file: string, timings: SuiteTimings, measurements: Measurement[], commit: string): void {
  const date = new Date().toISOString().slice(0, 10);
  const kind = timings.codeServerCached ? 'warm' : 'cold';
  const s = (seconds: number) => `${seconds.toFixed(0)} s`;
  const row = `| ${kind} | ${s(timings.provideSeconds)} | ${s(timings.packageSeconds)} | ${s(timings.installSeconds)} | ${s(timings.testsSeconds)} | **${s(timings.totalSeconds)}** | ${timings.passed ? `all ${timings.tests} passed` : `${timings.tests - timings.failures.length} of ${timings.tests} passed; failed: ${[...new Set(timings.failures)].join('; ')}`} | ${commit}, ${date} |`;
  const other = existingRow(file, SUITE_HEADING, kind === 'warm' ? 'cold' : 'warm');
  const rows = [row, other].filter((r): r is string => r !== undefined).sort();
  writeBenchmarksSection(
    file,
    SUITE_HEADING,
    [
      `The whole end-to-end suite, install included: \`npm run test:e2e -- --record\` on ${machine()}.`,
      'cold: code-server installed from scratch into an empty cache (its npm packages from the local npm cache; the Debian packages were already installed, which on a bare machine adds about 15 s for apt); warm: code-server cached in `.e2e-cache/`.',
      'Provide: code-server, Chromium and Debian packages; package: production build and the linux-x64 VSIX; install: `code-server --install-extension`; tests: every `test/e2e/*.e2e.ts`, in both themes.',
      '',
      '| Run | Provide | Package | Install | Tests | Total | Result | Commit, date |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |',
      ...rows,
    ].join('\n'),
  );

  const renders = measurements.filter((m) => m.name === 'lab-render-ms');
  if (renders.length > 0) {
    writeBenchmarksSection(
      file,
      RENDER_HEADING,
      [
        "The Lab's `data-render-ms`: time from the analysis result arriving in the webview to every view drawn, read by the e2e suite",
        `in code-server in headless Chromium (WebGL in software, SwiftShader) on ${machine()}; commit ${commit}, ${date}.`,
        '',
        '| Prompt | Theme | Render time |',
        '| --- | --- | ---: |',
        ...renders.map((m) => `| ${m.context} | ${m.theme} | ${m.value.toFixed(0)} ${m.unit} |`),
      ].join('\n'),
    );
  }
}
