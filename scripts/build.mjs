// Builds every bundle with esbuild:
//  - Node/CommonJS bundles: the extension host entry, the engine worker, its relay process and the CLI
//    (`vscode` and `onnxruntime-node` stay external: the first is provided by VS Code,
//    the second carries native binaries that are shipped beside the bundle).
//  - Browser/ESM bundles for the webviews (minified in production, source maps in development).
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, copyFileSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** Node entry points: [source, output file name]. Entries whose source is missing are skipped. */
const nodeEntries = [
  ['src/extension/extension.ts', 'extension'],
  ['src/engine/worker/worker-main.ts', 'engine-worker'],
  // The process the engine's worker thread runs in, so a native crash spares the extension host;
  // found beside engine-worker.js (src/engine/worker/relay-process.ts).
  ['src/engine/worker/relay-main.ts', 'engine-relay'],
  ['src/engine/cli/main.ts', 'cli'],
].filter(([src]) => existsSync(src));

/** Webview apps: one ES module bundle each. */
const webviewEntries = [['src/webviews/lab/main.tsx', 'lab']].filter(([src]) => existsSync(src));

const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'info',
  define: { 'process.env.NODE_ENV': JSON.stringify(production ? 'production' : 'development') },
};

const contexts = [];
if (nodeEntries.length > 0) {
  contexts.push(
    await esbuild.context({
      ...common,
      entryPoints: Object.fromEntries(nodeEntries.map(([src, out]) => [out, src])),
      outdir: 'dist',
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['vscode', 'onnxruntime-node'],
      // The CLI is executable; the banner is harmless for the other entries.
      banner: { js: '#!/usr/bin/env node' },
      // import.meta.url is used by ESM-only dependencies; give them the CommonJS equivalent.
      define: { ...common.define, 'import.meta.url': 'importMetaUrl' },
      inject: ['scripts/import-meta-url.js'],
    }),
  );
}
if (webviewEntries.length > 0) {
  contexts.push(
    await esbuild.context({
      ...common,
      entryPoints: Object.fromEntries(webviewEntries.map(([src, out]) => [out, src])),
      outdir: 'dist/webviews',
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      jsx: 'automatic',
      jsxImportSource: 'preact',
      loader: { '.css': 'css', '.ttf': 'file' },
    }),
  );
}

if (watch) {
  await Promise.all(contexts.map((c) => c.watch()));
} else {
  await Promise.all(contexts.map((c) => c.rebuild()));
  await Promise.all(contexts.map((c) => c.dispose()));
  // Codicons are served to webviews from dist (localResourceRoots covers dist and media only).
  if (existsSync('node_modules/@vscode/codicons/dist/codicon.css')) {
    mkdirSync('dist/codicons', { recursive: true });
    copyFileSync('node_modules/@vscode/codicons/dist/codicon.css', 'dist/codicons/codicon.css');
    copyFileSync('node_modules/@vscode/codicons/dist/codicon.ttf', 'dist/codicons/codicon.ttf');
  }
}
