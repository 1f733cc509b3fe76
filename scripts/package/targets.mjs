// The platform VSIX targets and which onnxruntime-node binaries each one carries.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

/** @typedef {{ target: string, platform: NodeJS.Platform, arch: string }} PackageTarget */

/** vsce target name → Node's process.platform / process.arch, the folder names onnxruntime-node uses. */
export const PACKAGE_TARGETS = /** @type {const} */ ({
  'linux-x64': { platform: 'linux', arch: 'x64' },
  'linux-arm64': { platform: 'linux', arch: 'arm64' },
  'darwin-arm64': { platform: 'darwin', arch: 'arm64' },
  'win32-x64': { platform: 'win32', arch: 'x64' },
  'win32-arm64': { platform: 'win32', arch: 'arm64' },
});

/** Built by `npm run package` unless --target says otherwise. */
export const DEFAULT_TARGETS = ['linux-x64', 'darwin-arm64', 'win32-x64'];

/** @param {string} target @returns {PackageTarget} */
export function packageTarget(target) {
  const known = /** @type {Record<string, { platform: NodeJS.Platform, arch: string }>} */ (PACKAGE_TARGETS)[target];
  if (!known) {
    throw new Error(`Unknown target "${target}". Choose from: ${Object.keys(PACKAGE_TARGETS).join(', ')}.`);
  }
  return { target, ...known };
}

/** The folder, relative to the onnxruntime-node package, holding one platform's native files. */
export function ortBinaryFolder(/** @type {PackageTarget} */ { platform, arch }) {
  return `bin/napi-v6/${platform}/${arch}`;
}

/**
 * The native files a target needs, by name, inside ortBinaryFolder.
 * On macOS the npm package holds the runtime twice, as libonnxruntime.<version>.dylib and
 * libonnxruntime.1.dylib (byte-identical, each ~44 MB); the binding loads only what its
 * Mach-O load commands name through @rpath, so only those names ship. Elsewhere every file
 * in the folder is needed (Windows' DirectML and DXC DLLs are imported by onnxruntime.dll).
 * @param {string} ortRoot onnxruntime-node package folder @param {PackageTarget} target @returns {string[]}
 */
export function ortBinaryFiles(ortRoot, target) {
  const folder = join(ortRoot, ortBinaryFolder(target));
  if (!existsSync(folder)) {
    throw new Error(
      `onnxruntime-node has no binaries for ${target.target} (${folder} is missing). ` +
        'Reinstall it so that its npm package ships every platform (ONNXRUNTIME_NODE_INSTALL=skip keeps them all).',
    );
  }
  const files = readdirSync(folder).sort();
  if (!files.includes('onnxruntime_binding.node')) {
    throw new Error(`${folder} lacks onnxruntime_binding.node`);
  }
  if (target.platform !== 'darwin') return files;
  const binding = readFileSync(join(folder, 'onnxruntime_binding.node')).toString('latin1');
  const linked = [...binding.matchAll(/@rpath\/([\w.+-]+\.dylib)/g)].map((m) => m[1] ?? '');
  const missing = linked.filter((name) => !files.includes(name));
  if (linked.length === 0 || missing.length > 0) {
    throw new Error(`Cannot tell which dylibs the macOS binding loads (linked: ${linked.join(', ') || 'none'}; missing: ${missing.join(', ') || 'none'}).`);
  }
  return ['onnxruntime_binding.node', ...new Set(linked)].sort();
}
