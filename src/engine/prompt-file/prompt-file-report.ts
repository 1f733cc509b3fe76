/**
 * What `circuit-trace prompts` reports about a parsed `.prompt` file: each prompt with its
 * directives, and each problem with a one-based line and column (as compilers print them; columns
 * count UTF-16 code units, as editors do). Only the rules that need no model apply here; the
 * tokenizer rules (single-token targets, corrupted prompt length) run in the editor.
 * Pure: the JSON form is `circuit-trace prompts FILE --json`.
 */
import type { MetricRequest } from '../../protocol/engine.js';
import { circuitNodeName } from './circuit-directive.js';
import type { ParseErrorCode, ParseWarningCode, PromptEntry, PromptFile, SourceRange, TokenValue } from './parser.js';

export type ReportSeverity = 'error' | 'warning';

export interface ReportDiagnostic {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  severity: ReportSeverity;
  code: ParseErrorCode | ParseWarningCode;
  message: string;
}

/** A `@circuit` hypothesis: its nodes by name (`L9H6`, `mlp3`), its threshold as a fraction 0..1, its one-based line. */
export interface ReportCircuit {
  nodes: string[];
  threshold: number;
  line: number;
}

/** A target or contrast: as text, or as a token id. */
export type ReportToken = { text: string } | { id: number };

export interface ReportPrompt {
  name: string;
  /** One-based line of the `## name` header. */
  line: number;
  text: string;
  target: ReportToken | null;
  contrast: ReportToken | null;
  corrupt: string | null;
  /** The `@metric` directive's metric; null: the default one. */
  metric: MetricRequest | null;
  circuits: ReportCircuit[];
  /** Problems inside this prompt's block; a prompt with problems is not analysed. */
  problems: number;
}

export interface PromptFileReport {
  prompts: ReportPrompt[];
  diagnostics: ReportDiagnostic[];
  errors: number;
}

function reportToken(value: TokenValue | null): ReportToken | null {
  if (!value) return null;
  return value.kind === 'id' ? { id: value.id } : { text: value.text };
}

function reportPrompt(prompt: PromptEntry): ReportPrompt {
  return {
    name: prompt.name,
    line: prompt.headerRange.start.line + 1,
    text: prompt.text,
    target: reportToken(prompt.target),
    contrast: reportToken(prompt.contrast),
    corrupt: prompt.corrupt?.text ?? null,
    metric: prompt.metric ? { kind: prompt.metric.kind, startYear: prompt.metric.startYear } : null,
    circuits: prompt.circuits.map((c) => ({ nodes: c.nodes.map(circuitNodeName), threshold: c.threshold, line: c.range.start.line + 1 })),
    problems: prompt.errorCount,
  };
}

function reportDiagnostic(
  problem: { code: ParseErrorCode | ParseWarningCode; message: string; range: SourceRange },
  severity: ReportSeverity,
): ReportDiagnostic {
  const { start, end } = problem.range;
  return {
    line: start.line + 1,
    column: start.character + 1,
    endLine: end.line + 1,
    endColumn: end.character + 1,
    severity,
    code: problem.code,
    message: problem.message,
  };
}

export function promptFileReport(file: PromptFile): PromptFileReport {
  // Every parse error keeps its prompt from being analysed; a warning does not.
  const diagnostics = [...file.errors.map((e) => reportDiagnostic(e, 'error')), ...file.warnings.map((w) => reportDiagnostic(w, 'warning'))].sort(
    (a, b) => a.line - b.line || a.column - b.column,
  );
  return {
    prompts: file.prompts.map(reportPrompt),
    diagnostics,
    errors: diagnostics.filter((d) => d.severity === 'error').length,
  };
}
