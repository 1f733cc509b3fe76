/**
 * How tokens, probabilities and head names are written in every UI string (CodeLens, hover,
 * diagnostics, tree items): tokens as JSON strings so a leading space is visible (" Mary").
 * Pure: no vscode import.
 */

/** A token as a JSON string literal: `" Mary"`, `"\n"`. */
export function quoteToken(text: string): string {
  return JSON.stringify(text);
}

/** A probability as a percentage with one decimal: 0.4461 -> "44.6%". Tiny values keep a significant digit. */
export function formatPercent(prob: number): string {
  if (!Number.isFinite(prob)) return '—';
  const pct = prob * 100;
  if (pct !== 0 && Math.abs(pct) < 0.1) return `${pct.toPrecision(1)}%`;
  return `${pct.toFixed(1)}%`;
}

/** A signed number with fixed decimals: +1.23 / −0.45 (true minus sign). */
export function formatSigned(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return '—';
  const s = Math.abs(value).toFixed(digits);
  return value < 0 ? `−${s}` : `+${s}`;
}

/** Markdown inline code that survives backticks inside the text. */
export function markdownCode(text: string): string {
  const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** Plain text inside Markdown: see markdown-text.ts, the one escaping helper for tooltips and hovers. */
export { escapeMarkdown } from './markdown-text.js';

/** A byte count for people: 548.1 MB. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}
