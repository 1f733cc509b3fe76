/**
 * `npm run test:e2e`: the packaged extension in a real VS Code (code-server 4.100.3), driven
 * in headless Chromium as a user would.
 *
 *  1. provides code-server and Chromium (scripts/e2e/provide-code-server.sh; cached),
 *  2. packages the linux-x64 VSIX (scripts/package.mjs), unless --reuse-vsix finds one,
 *  3. installs it with code-server's --install-extension into a throwaway extensions folder,
 *  4. runs test/e2e/*.e2e.ts with node's test runner (each test file starts its own
 *     code-server sessions, one per theme, on copies of test/e2e/workspace),
 *  5. removes every folder and stops every process it started, also on failure or Ctrl+C.
 *
 * Usage: node --import tsx scripts/e2e/run-e2e.ts [--reuse-vsix] [--record] [test files...]
 *   --record   writes the suite's timings and the Lab's render time to docs/benchmarks.md
 *   CIRCUIT_TRACE_E2E_THEMES=dark   runs one theme only
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { environmentVariables, prepareEnvironment } from '../../test/e2e/harness/environment.js';
import { CODE_SERVER_VERSION, E2E_CACHE, E2E_OUTPUT, REPO_ROOT } from '../../test/e2e/harness/paths.js';
import { readMeasurements } from '../../test/e2e/harness/measurements.js';
import { startProcessGroup } from '../../test/e2e/harness/process-group.js';
import { recordSuiteBenchmarks, type SuiteTimings } from './record-benchmarks.js';

function parseArguments(argv: string[]): { reuseVsix: boolean; record: boolean; files: string[] } {
  const files: string[] = [];
  let reuseVsix = false;
  let record = false;
  for (const arg of argv) {
    if (arg === '--reuse-vsix') reuseVsix = true;
    else if (arg === '--record') record = true;
    else if (arg.startsWith('--')) throw new Error(`Unknown option ${arg}. Usage: run-e2e.ts [--reuse-vsix] [--record] [test files...]`);
    else files.push(arg);
  }
  return { reuseVsix, record, files };
}

/** Test counts and the titles of failed tests, from the TAP reporter's file. */
function tapSummary(file: string): { tests: number; failures: string[] } {
  if (!existsSync(file)) return { tests: 0, failures: [] };
  const tap = readFileSync(file, 'utf8');
  const tests = Number(/^# tests (\d+)$/m.exec(tap)?.[1] ?? 0);
  // Tests sit inside one describe per file and theme: their lines are indented once.
  const failures = [...tap.matchAll(/^ {4}not ok \d+ - (.*)$/gm)].map((m) => m[1] ?? '');
  return { tests, failures };
}

function defaultTestFiles(): string[] {
  const dir = join(REPO_ROOT, 'test', 'e2e');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.e2e.ts'))
    .sort()
    .map((name) => join(dir, name));
}

async function main(): Promise<number> {
  const { reuseVsix, record, files } = parseArguments(process.argv.slice(2));
  const testFiles = files.length > 0 ? files : defaultTestFiles();
  if (testFiles.length === 0) throw new Error('no test/e2e/*.e2e.ts files');
  const started = performance.now();
  const codeServerWasCached = existsSync(join(E2E_CACHE, `code-server-${CODE_SERVER_VERSION}`, '.provided'));

  // Each run's screenshots, logs and measurements replace the previous run's.
  rmSync(E2E_OUTPUT, { recursive: true, force: true });
  mkdirSync(E2E_OUTPUT, { recursive: true });
  const runDir = mkdtempSync(join(tmpdir(), 'circuit-trace-e2e-'));
  try {
    const env = await prepareEnvironment(runDir, { reuseVsix });
    console.log(
      `e2e: code-server ${env.timings.provideSeconds.toFixed(1)} s (${codeServerWasCached ? 'cached' : 'installed'}), ` +
        `VSIX ${env.timings.packageSeconds.toFixed(1)} s (${relative(REPO_ROOT, env.vsix)}), install ${env.timings.installSeconds.toFixed(1)} s`,
    );

    const testsStarted = performance.now();
    const tests = startProcessGroup(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        '--test-concurrency=1',
        // spec for the reader, TAP to a file for the summary recorded in docs/benchmarks.md.
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${join(E2E_OUTPUT, 'results.tap')}`,
        ...testFiles,
      ],
      { cwd: REPO_ROOT, env: { ...process.env, ...environmentVariables(env) }, stdio: 'inherit' },
    );
    const code = await tests.exited;
    await tests.stop(0);
    const testsSeconds = (performance.now() - testsStarted) / 1000;

    const timings: SuiteTimings = {
      codeServerCached: codeServerWasCached,
      ...env.timings,
      testsSeconds,
      totalSeconds: (performance.now() - started) / 1000,
      passed: code === 0,
      ...tapSummary(join(E2E_OUTPUT, 'results.tap')),
    };
    writeFileSync(join(E2E_OUTPUT, 'timings.json'), `${JSON.stringify({ ...timings, measurements: readMeasurements() }, null, 2)}\n`);
    console.log(
      `e2e: tests ${testsSeconds.toFixed(1)} s, whole suite ${timings.totalSeconds.toFixed(1)} s; screenshots in ${relative(REPO_ROOT, E2E_OUTPUT)}/`,
    );
    if (record) {
      const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.trim();
      recordSuiteBenchmarks(join(REPO_ROOT, 'docs', 'benchmarks.md'), timings, readMeasurements(), commit);
      console.log('e2e: recorded timings in docs/benchmarks.md');
    }
    return code ?? 1;
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`npm run test:e2e failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
