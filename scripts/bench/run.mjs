// `npm run bench`: bundles the benchmark with esbuild, as the extension, the engine worker and the
// CLI are bundled for the VSIX (minified), and runs the bundle. So the figures are those of the code
// users run: under tsx the engine runs from per-module transpiled sources, whose loader state (a few
// megabytes of heap that every garbage collection marks) costs a 64-token forward some 3-4 ms here.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';

const outdir = '.bench';
await esbuild.build({
  entryPoints: { bench: 'scripts/bench.ts', 'memory-probe': 'scripts/bench/memory-probe.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['onnxruntime-node'],
  // Minified, as the VSIX's bundles are (the production build). V8 keeps a script's source in the
  // heap, and a source with one character beyond Latin-1 (the unminified bundle has three, in
  // comments, one of them a dependency's) is held as a two-byte string: 1.3 MB of this bundle's
  // heap instead of the minified ASCII's 0.3 MB. That extra megabyte took the heap past the size
  // where V8 starts a major collection in nearly every 64-token forward, not every third one.
  minify: true,
  // Bundled CommonJS dependencies call require(); ES modules have none of their own.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
});
const result = spawnSync(process.execPath, ['--expose-gc', `${outdir}/bench.mjs`], {
  stdio: 'inherit',
  env: { ...process.env, BENCH_MEMORY_PROBE: `${outdir}/memory-probe.mjs` },
});
process.exit(result.status ?? 1);
