// `npm run package`: production build, then one VSIX per platform target, each carrying only
// its own platform's onnxruntime-node binaries. Writes out/vsix/circuit-trace-<target>-<version>.vsix,
// checks every VSIX's contents, smoke-tests the one built for this machine, and (when building
// the default targets) records their sizes in docs/benchmarks.md.
//
// Usage: node scripts/package.mjs [--target linux-x64[,darwin-arm64,...]] [--skip-build]
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVSIX } from '@vscode/vsce';
import { DEFAULT_TARGETS, packageTarget } from './package/targets.mjs';
import { SHIPPED_NAMES, checkBundleExternals, stageTarget } from './package/stage.mjs';
import { checkVsixContents, smokeTestVsix } from './package/verify-vsix.mjs';
import { writeBenchmarksSection } from './package/benchmarks-section.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The linux-x64 VSIX is the one most users install; the budget keeps its download small. */
const LINUX_X64_BUDGET_BYTES = 30 * 1024 * 1024;

function parseArguments(argv) {
  const targets = [];
  let skipBuild = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--skip-build') skipBuild = true;
    else if (arg === '--target') targets.push(...String(argv[++i] ?? '').split(','));
    else if (arg?.startsWith('--target=')) targets.push(...arg.slice('--target='.length).split(','));
    else throw new Error(`Unknown argument ${arg}. Usage: node scripts/package.mjs [--target linux-x64,...] [--skip-build]`);
  }
  const chosen = targets.filter(Boolean);
  return { targets: (chosen.length > 0 ? chosen : DEFAULT_TARGETS).map(packageTarget), skipBuild, defaultTargets: chosen.length === 0 };
}

/** @param {number} bytes */
const megabytes = (bytes) => (bytes / 1024 / 1024).toFixed(1);

async function main() {
  const { targets, skipBuild, defaultTargets } = parseArguments(process.argv.slice(2));
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const started = performance.now();

  if (!skipBuild) {
    const build = spawnSync(process.execPath, ['scripts/build.mjs', '--production'], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('the production build failed');
  }
  checkBundleExternals(root);

  const outDir = join(root, 'out', 'vsix');
  mkdirSync(outDir, { recursive: true });
  const results = [];
  for (const target of targets) {
    const stagingDir = join(root, 'out', 'vsix-staging', target.target);
    const packagePath = join(outDir, `${manifest.name}-${target.target}-${manifest.version}.vsix`);
    const t0 = performance.now();
    stageTarget({ root, stagingDir, target });
    rmSync(packagePath, { force: true });
    await createVSIX({
      cwd: stagingDir,
      packagePath,
      target: target.target,
      dependencies: true, // npm list in the staging folder: exactly the trimmed node_modules
      useYarn: false,
      // The manifest names no repository yet; the README's links are relative to the repository.
      allowMissingRepository: true,
      rewriteRelativeLinks: false,
    });
    const contents = checkVsixContents(packagePath, target, [...SHIPPED_NAMES]);
    if (target.target === 'linux-x64' && contents.bytes > LINUX_X64_BUDGET_BYTES) {
      throw new Error(`${packagePath} is ${megabytes(contents.bytes)} MB, over the ${megabytes(LINUX_X64_BUDGET_BYTES)} MB budget for linux-x64.`);
    }
    let smoke = 'not run (built for another platform)';
    if (target.platform === process.platform && target.arch === process.arch) smoke = smokeTestVsix(packagePath);
    rmSync(stagingDir, { recursive: true, force: true });
    const seconds = (performance.now() - t0) / 1000;
    results.push({ target: target.target, path: relative(root, packagePath), ...contents, seconds });
    console.log(
      `${relative(root, packagePath)}: ${megabytes(contents.bytes)} MB, ${contents.files} files ` +
        `(onnxruntime binaries ${megabytes(contents.ortBinaryBytes)} MB unpacked), ${seconds.toFixed(1)} s; smoke test: ${smoke}`,
    );
  }
  rmSync(join(root, 'out', 'vsix-staging'), { recursive: true, force: true });

  if (defaultTargets) {
    const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim() || 'unknown';
    const rows = results.map((r) => `| ${r.target} | ${megabytes(r.bytes)} MB | ${r.files} | ${megabytes(r.ortBinaryBytes)} MB |`);
    writeBenchmarksSection(
      join(root, 'docs', 'benchmarks.md'),
      'VSIX sizes',
      [
        `\`npm run package\` (production build, then one VSIX per target), version ${manifest.version}, commit ${commit}, ${new Date().toISOString().slice(0, 10)}.`,
        "The onnxruntime column is the unpacked size of the native files that target carries; every other platform's are left out.",
        `The linux-x64 VSIX must stay under ${megabytes(LINUX_X64_BUDGET_BYTES)} MB (the script fails otherwise).`,
        '',
        '| Target | VSIX size | Files | onnxruntime binaries (unpacked) |',
        '| --- | ---: | ---: | ---: |',
        ...rows,
      ].join('\n'),
    );
    console.log('Recorded the sizes in docs/benchmarks.md under "VSIX sizes".');
  }
  console.log(`Packaged ${results.length} VSIX file(s) in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
}

main().catch((error) => {
  console.error(`npm run package failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
