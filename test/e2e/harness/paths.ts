/** Where the e2e suite finds its inputs and writes its outputs. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** code-server's version: VS Code 1.100.3, the oldest VS Code the manifest accepts. */
export const CODE_SERVER_VERSION = '4.100.3';

/** Cached code-server installs (gitignored); CIRCUIT_TRACE_E2E_CACHE moves it. */
export const E2E_CACHE = process.env['CIRCUIT_TRACE_E2E_CACHE'] ?? join(REPO_ROOT, '.e2e-cache');

/** Screenshots, logs, timings (gitignored). */
export const E2E_OUTPUT = process.env['CIRCUIT_TRACE_E2E_OUTPUT'] ?? join(REPO_ROOT, 'test-output', 'e2e');

/** The sample workspace; every session works on a copy of it. */
export const SAMPLE_WORKSPACE = join(REPO_ROOT, 'test', 'e2e', 'workspace');

/** The linux-x64 VSIX that `npm run package` writes for the current version. */
export function linuxVsixPath(): string {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string; publisher: string };
  return join(REPO_ROOT, 'out', 'vsix', `${manifest.name}-linux-x64-${manifest.version}.vsix`);
}

/** The extension's id as VS Code knows it: publisher.name. */
export function extensionId(): string {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; publisher: string };
  return `${manifest.publisher}.${manifest.name}`;
}
