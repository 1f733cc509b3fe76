// Replaces one "## " section of docs/benchmarks.md, leaving every other section as it is
// (several scripts record their measurements in the same file).
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * @param {string} file path of the markdown file
 * @param {string} heading the section's title, without "## "
 * @param {string} body the section's text below its heading
 */
export function writeBenchmarksSection(file, heading, body) {
  const title = `## ${heading}`;
  const section = `${title}\n\n${body.trim()}\n`;
  const text = existsSync(file)
    ? readFileSync(file, 'utf8')
    : '# Benchmarks\n\nMeasured on the machines named in each section; rerun the command given there to update it.\n';
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === title);
  let next;
  if (start < 0) {
    next = `${text.trimEnd()}\n\n${section}`;
  } else {
    const end = lines.findIndex((line, i) => i > start && /^## /.test(line));
    const before = lines.slice(0, start).join('\n').trimEnd();
    const after = end < 0 ? '' : lines.slice(end).join('\n');
    next = `${before}\n\n${section}${after ? `\n${after}` : ''}`;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, next.endsWith('\n') ? next : `${next}\n`);
}
