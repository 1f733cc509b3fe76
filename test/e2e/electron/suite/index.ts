/**
 * The extension host's test entry (extensionTestsPath): runs every compiled *.spec.js beside
 * this file with mocha's TDD interface.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'tdd', color: true, timeout: 120_000 });
  for (const name of readdirSync(__dirname)
    .filter((file) => file.endsWith('.spec.js'))
    .sort()) {
    mocha.addFile(join(__dirname, name));
  }
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} test(s) failed`)) : resolve()));
  });
}
