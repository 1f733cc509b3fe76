/**
 * `circuit-trace prompts FILE [--json]`: lists the prompts of a `.prompt` file with their
 * directives, and its problems as FILE:LINE:COLUMN lines, parsed exactly as the editor parses it.
 * Exit code 1 when the file has errors, 0 otherwise (2 for bad usage, as every command). Needs no
 * model: the tokenizer rules (single-token targets, corrupted prompt length) run in the editor.
 */
import { EngineError } from '../errors.js';
import { parsePromptFile } from '../prompt-file/parser.js';
import { promptFileReport, type ReportPrompt, type ReportToken } from '../prompt-file/prompt-file-report.js';
import { readPromptFileText } from '../prompt-file/read-prompt-file.js';
import type { CliCommand } from './command.js';

/** Control characters would drive the terminal (escape sequences); they are shown escaped. */
function printable(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    out += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\u${code.toString(16).padStart(4, '0')}` : ch;
  }
  return out;
}

/** A value as a JSON string, so leading spaces and newlines are visible (and control characters escaped). */
function quoted(text: string): string {
  return JSON.stringify(text);
}

function tokenText(token: ReportToken): string {
  return 'id' in token ? `id ${token.id}` : quoted(token.text);
}

function promptLines(prompt: ReportPrompt): string[] {
  const lines = [
    `## ${printable(prompt.name)} (line ${prompt.line})${prompt.problems > 0 ? ` · ${prompt.problems} problem${prompt.problems === 1 ? '' : 's'}, not analysed` : ''}`,
  ];
  lines.push(`  text      ${quoted(prompt.text)}`);
  if (prompt.target) lines.push(`  @target   ${tokenText(prompt.target)}`);
  if (prompt.contrast) lines.push(`  @contrast ${tokenText(prompt.contrast)}`);
  if (prompt.corrupt !== null) lines.push(`  @corrupt  ${quoted(prompt.corrupt)}`);
  if (prompt.metric) lines.push(`  @metric   ${prompt.metric.kind} ${String(prompt.metric.startYear).padStart(2, '0')}`);
  return lines;
}

export const promptsCommand: CliCommand = {
  name: 'prompts',
  usage: 'prompts FILE [--json]      list the prompts of a .prompt file with their directives and problems (exit 1 on errors)',
  positional: 'file',
  async run(flags, io) {
    for (const name of flags.keys()) {
      if (name !== 'file' && name !== 'json')
        throw new EngineError('BAD_ARGUMENT', `prompts has no --${name} flag.`, 'Usage: circuit-trace prompts FILE [--json].');
    }
    if (flags.has('json') && flags.get('json') !== true)
      throw new EngineError('BAD_ARGUMENT', '--json takes no value.', 'Put FILE first: circuit-trace prompts FILE --json.');
    const path = flags.get('file');
    if (typeof path !== 'string' || path === '') throw new EngineError('BAD_ARGUMENT', 'prompts needs a FILE.', 'Usage: circuit-trace prompts FILE [--json].');

    const report = promptFileReport(parsePromptFile(await readPromptFileText(path)));
    if (flags.has('json')) {
      io.stdout(`${JSON.stringify({ file: path, ...report }, null, 2)}\n`);
    } else {
      const n = report.prompts.length;
      const problems = report.diagnostics.length;
      io.stdout(
        `${printable(path)}: ${n} prompt${n === 1 ? '' : 's'}, ${problems === 0 ? 'no problems' : `${problems} problem${problems === 1 ? '' : 's'}`}\n`,
      );
      for (const prompt of report.prompts) io.stdout(`${promptLines(prompt).join('\n')}\n`);
      for (const d of report.diagnostics) io.stdout(`${printable(path)}:${d.line}:${d.column}: ${d.severity}: ${printable(d.message)} (${d.code})\n`);
    }
    return report.errors > 0 ? 1 : 0;
  },
};
