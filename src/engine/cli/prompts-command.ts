/**
 * `circuit-trace prompts FILE [--json]`: lists the prompts of a `.prompt` file with their
 * directives, and its problems as FILE:LINE:COLUMN lines, parsed exactly as the editor parses it.
 * Exit code 1 when the file has errors, 0 otherwise (2 for bad usage, as every command). Needs no
 * model: the tokenizer rules (single-token targets, corrupted prompt length) run in the editor.
 *
 * `circuit-trace prompts FILE --check --model M`: checks every `@circuit` hypothesis of the file on
 * the model (exact edge-level patching, circuits/circuit-check.ts), one line each, for CI: exit 1
 * when the file has errors or any hypothesis does not hold, 0 when all hold.
 */
import { checkCircuit } from '../circuits/circuit-check.js';
import { loadCircuitModel } from '../circuits/circuit-model.js';
import { checkFileCircuits, formatFaithfulness, formatThreshold, type HypothesisVerdict } from '../circuits/prompt-circuits.js';
import { EngineError } from '../errors.js';
import { parsePromptFile, type PromptFile } from '../prompt-file/parser.js';
import { promptFileReport, type PromptFileReport, type ReportPrompt, type ReportToken } from '../prompt-file/prompt-file-report.js';
import { readPromptFileText } from '../prompt-file/read-prompt-file.js';
import type { CliCommand, CliFlags, CliIo } from './command.js';
import { loadOptionsFromFlags, resolveModelArg } from './model-arg.js';
import { prependBosFlag } from './prepend-bos-flag.js';

/** Flags that only `--check` reads: the model and how to load and run it. */
const CHECK_FLAGS = ['model', 'device', 'max-tokens', 'offline', 'cache-dir', 'prepend-bos', 'no-prepend-bos'] as const;
const USAGE = 'Usage: circuit-trace prompts FILE [--json], or circuit-trace prompts FILE --check --model M [--json].';

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
  for (const c of prompt.circuits) lines.push(`  @circuit  ${c.nodes.join(' ')} ≥ ${formatThreshold(c.threshold)}`);
  return lines;
}

/** `✓ IOI (line 5): L9H6 L9H9 L10H0 carry 84.2% (≥ 80%), 312 of 32 491 edges` */
function verdictLine(v: HypothesisVerdict): string {
  const head = `${v.passed ? '✓' : '✗'} ${printable(v.prompt)} (line ${v.line}): ${v.nodes.join(' ')}`;
  if (!v.result) return `${head}: not checked (≥ ${formatThreshold(v.threshold)}): ${printable(v.error ?? '')}`;
  const { faithfulness, edges, totalEdges } = v.result;
  return `${head} carry ${formatFaithfulness(faithfulness)} (≥ ${formatThreshold(v.threshold)}), ${edges} of ${totalEdges} edges`;
}

function printProblems(io: CliIo, path: string, report: PromptFileReport): void {
  for (const d of report.diagnostics) io.stdout(`${printable(path)}:${d.line}:${d.column}: ${d.severity}: ${printable(d.message)} (${d.code})\n`);
}

/** `--check`: every hypothesis of an error-free file on the model, exit 1 unless all hold. */
async function runCheck(flags: CliFlags, io: CliIo, path: string, file: PromptFile, report: PromptFileReport): Promise<number> {
  const spec = resolveModelArg(flags.get('model'));
  const options = loadOptionsFromFlags(flags);
  const prependBos = prependBosFlag(flags);
  const json = flags.has('json');
  if (report.errors > 0) {
    // A prompt with problems is not run, so its hypotheses cannot hold.
    if (json) io.stdout(`${JSON.stringify({ file: path, passed: false, hypotheses: [], diagnostics: report.diagnostics }, null, 2)}\n`);
    else {
      io.stdout(`${printable(path)}: ${report.errors} error${report.errors === 1 ? '' : 's'}; fix them to check its circuits\n`);
      printProblems(io, path, report);
    }
    return 1;
  }
  const count = file.prompts.reduce((n, p) => n + p.circuits.length, 0);
  if (count === 0) {
    io.stdout(json ? `${JSON.stringify({ file: path, passed: true, hypotheses: [] }, null, 2)}\n` : `${printable(path)}: no @circuit hypotheses to check\n`);
    return 0;
  }
  const model = await loadCircuitModel(spec, options);
  try {
    const verdicts = await checkFileCircuits(
      file,
      (request) => checkCircuit(model.runner, model.tokenizer, model.patcher, request, { maxTokens: options.maxTokens }),
      prependBos,
    );
    const held = verdicts.filter((v) => v.passed).length;
    if (json) {
      // NaN (clean and corrupted runs agree on the metric) is null in JSON.
      const hypotheses = verdicts.map((v) => ({
        ...v,
        result: v.result && { ...v.result, faithfulness: Number.isFinite(v.result.faithfulness) ? v.result.faithfulness : null },
      }));
      io.stdout(`${JSON.stringify({ file: path, model: model.displayName, passed: held === verdicts.length, hypotheses }, null, 2)}\n`);
    } else {
      io.stdout(
        `${printable(path)} on ${printable(model.displayName)}: ${held} of ${verdicts.length} circuit hypothes${verdicts.length === 1 ? 'is holds' : 'es hold'}\n`,
      );
      for (const v of verdicts) io.stdout(`${verdictLine(v)}\n`);
    }
    return held === verdicts.length ? 0 : 1;
  } finally {
    await model.dispose();
  }
}

export const promptsCommand: CliCommand = {
  name: 'prompts',
  usage:
    'prompts FILE [--json]      list the prompts of a .prompt file with their directives and problems (exit 1 on errors); ' +
    'with --check --model M [--device D] [--prepend-bos | --no-prepend-bos], check its @circuit hypotheses (exit 1 unless all hold)',
  positional: 'file',
  async run(flags, io) {
    const check = flags.has('check');
    for (const name of flags.keys()) {
      if (name === 'file' || name === 'json' || name === 'check') continue;
      if (!(CHECK_FLAGS as readonly string[]).includes(name)) throw new EngineError('BAD_ARGUMENT', `prompts has no --${name} flag.`, USAGE);
      if (!check) throw new EngineError('BAD_ARGUMENT', `--${name} applies only with --check.`, USAGE);
    }
    for (const name of ['json', 'check']) {
      if (flags.has(name) && flags.get(name) !== true)
        throw new EngineError('BAD_ARGUMENT', `--${name} takes no value.`, `Put FILE first: circuit-trace prompts FILE --${name}.`);
    }
    const path = flags.get('file');
    if (typeof path !== 'string' || path === '') throw new EngineError('BAD_ARGUMENT', 'prompts needs a FILE.', USAGE);
    if (check && !flags.has('model'))
      throw new EngineError('BAD_ARGUMENT', '--check needs --model.', 'Name the model the hypotheses are checked on, e.g. --model organism.');

    const file = parsePromptFile(await readPromptFileText(path));
    const report = promptFileReport(file);
    if (check) return runCheck(flags, io, path, file, report);
    if (flags.has('json')) {
      io.stdout(`${JSON.stringify({ file: path, ...report }, null, 2)}\n`);
    } else {
      const n = report.prompts.length;
      const problems = report.diagnostics.length;
      io.stdout(
        `${printable(path)}: ${n} prompt${n === 1 ? '' : 's'}, ${problems === 0 ? 'no problems' : `${problems} problem${problems === 1 ? '' : 's'}`}\n`,
      );
      for (const prompt of report.prompts) io.stdout(`${promptLines(prompt).join('\n')}\n`);
      printProblems(io, path, report);
    }
    return report.errors > 0 ? 1 : 0;
  },
};
