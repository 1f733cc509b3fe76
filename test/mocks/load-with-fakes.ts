/**
 * Loads extension modules in plain Node against the shared fakes: `vscode` resolves to
 * ./vscode.ts and, when asked, the engine client to ./engine-client.ts. The resolver is installed
 * before any extension module loads and is the one place tests route module names to fakes.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MOCKS = dirname(fileURLToPath(import.meta.url));
/** The repository root, for source paths (`source('src/extension/extension.ts')`). */
export const ROOT = join(MOCKS, '..', '..');
const require = createRequire(import.meta.url);

type Resolve = (request: string, ...rest: unknown[]) => string;
const Module = require('node:module') as { _resolveFilename: Resolve };
const originalResolve = Module._resolveFilename;
let fakeEngineClient = false;

Module._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
  if (request === 'vscode') return join(MOCKS, 'vscode.ts');
  if (fakeEngineClient && /engine\/worker\/engine-client(\.js)?$/.test(request)) return join(MOCKS, 'engine-client.ts');
  return originalResolve.call(this, request, ...rest);
};

/** Routes the extension's engine client to the in-memory fake (./engine-client.ts) from now on. */
export function useFakeEngineClient(): void {
  fakeEngineClient = true;
}

/** The fake `vscode` module, the same instance the extension's modules see. */
export function fakeVscode(): typeof import('./vscode.js') {
  return require(join(MOCKS, 'vscode.ts')) as typeof import('./vscode.js');
}

/** The fake engine client, the same instance the extension's modules see. */
export function fakeEngine(): typeof import('./engine-client.js') {
  return require(join(MOCKS, 'engine-client.ts')) as typeof import('./engine-client.js');
}

/** A module of the repository by its path from the root, loaded through the fakes. */
export function source<T>(pathFromRoot: string): T {
  return require(join(ROOT, pathFromRoot)) as T;
}
