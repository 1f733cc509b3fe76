// Runs every test suite that needs no browser with node's own test runner.
// Usage: node scripts/run-tests.mjs [folder ...]   (default: every *.test.ts under test/ except test/e2e)
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

// test/ mirrors src/ (plus test/helpers and test/scripts); the e2e suite needs a browser and runs apart.
const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['test'];
const SKIP = new Set(['test/e2e']);

/** Every `*.test.ts` / `*.test.tsx` under the given folder. */
function collect(dir) {
  if (!existsSync(dir) || SKIP.has(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return /\.test\.tsx?$/.test(name) ? [path] : [];
  });
}

const files = roots.flatMap(collect).sort();
if (files.length === 0) {
  console.error('No test files found under', roots.join(', '));
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  env: { ...process.env, NODE_OPTIONS: [process.env.NODE_OPTIONS, '--max-old-space-size=8192'].filter(Boolean).join(' ') },
});
process.exit(result.status ?? 1);
