// Finds the packages a shipped CommonJS file loads at run time, so that packaging can prove
// every one of them is either built into Node, provided by VS Code, or shipped in the VSIX.
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';

const BUILTINS = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));

/** The package name a bare specifier refers to: "a/b" → "a", "@s/a/b" → "@s/a". @param {string} specifier */
function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/**
 * Package names required (or dynamically imported) by string literal in the given files,
 * excluding relative paths and Node builtins. Requires built from non-literal expressions
 * (onnxruntime-node's per-platform binding path) are relative and not counted.
 * @param {string[]} files @returns {Set<string>}
 */
export function bareRuntimeRequires(files) {
  const found = new Set();
  for (const file of files) {
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/\b(?:require(?:\.resolve)?|import)\(\s*(["'`])([^"'`$]+)\1\s*\)/g)) {
      const specifier = match[2] ?? '';
      if (specifier.startsWith('.') || specifier.startsWith('/') || BUILTINS.has(specifier)) continue;
      found.add(packageName(specifier));
    }
  }
  return found;
}
