/**
 * The value of a `@metric` directive: `greater-than YY`, the start year as two digits (the "32" of
 * "1732"), optionally followed by a // comment. Scanned by hand in one pass (see line-scan.ts), like
 * every other part of a directive line. Pure.
 */
import type { MetricRequest } from '../../protocol/engine.js';
import { isAsciiDigits, skipNonWhitespace, skipWhitespace } from './line-scan.js';

/** The metric kinds a `.prompt` file may name (the engine's MetricRequest kinds). */
export const METRIC_KINDS: readonly MetricRequest['kind'][] = ['greater-than'];

export const METRIC_EXAMPLE = '@metric greater-than 32';

export type MetricValueResult =
  | { ok: true; metric: MetricRequest; end: number }
  | { ok: false; code: 'unknown-metric' | 'bad-metric-value' | 'malformed-directive'; message: string; start: number; end: number };

/** Reads the metric from `valueStart` (the first non-blank character after `@metric`) to the end of the line. */
export function readMetricValue(line: string, valueStart: number): MetricValueResult {
  if (line.startsWith('//', valueStart)) {
    return { ok: false, code: 'malformed-directive', message: `@metric needs a value, e.g. ${METRIC_EXAMPLE}.`, start: valueStart, end: line.length };
  }
  const kindEnd = skipNonWhitespace(line, valueStart);
  const kind = line.slice(valueStart, kindEnd);
  if (!(METRIC_KINDS as readonly string[]).includes(kind)) {
    return {
      ok: false,
      code: 'unknown-metric',
      message: `Unknown metric "${kind}". Known metrics: ${METRIC_KINDS.join(', ')} (e.g. ${METRIC_EXAMPLE}).`,
      start: valueStart,
      end: kindEnd,
    };
  }
  const yearStart = skipWhitespace(line, kindEnd);
  const yearEnd = skipNonWhitespace(line, yearStart);
  const year = line.slice(yearStart, yearEnd);
  if (year.length !== 2 || !isAsciiDigits(year)) {
    const missing = year === '' || year.startsWith('//');
    return {
      ok: false,
      code: 'bad-metric-value',
      message: `@metric ${kind} ${missing ? 'needs the start year' : `has "${year}" as the start year; write it`} as two digits (the "32" of "1732"), e.g. ${METRIC_EXAMPLE}.`,
      start: missing ? valueStart : yearStart,
      end: missing ? kindEnd : yearEnd,
    };
  }
  const after = skipWhitespace(line, yearEnd);
  if (after < line.length && !line.startsWith('//', after)) {
    return {
      ok: false,
      code: 'malformed-directive',
      message: 'Unexpected text after the value of @metric; only a // comment may follow it.',
      start: yearEnd,
      end: line.length,
    };
  }
  return { ok: true, metric: { kind: 'greater-than', startYear: Number(year) }, end: yearEnd };
}
