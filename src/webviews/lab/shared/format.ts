/** Text formatting shared by the views (labels, numbers, token text). */

export function headName(layer: number, head: number): string {
  return `L${layer}H${head}`;
}

/**
 * A token as a one-line label: newlines and tabs become visible escapes, and a token made only
 * of spaces shows as '␣' (so that " " is not an invisible label). Leading spaces stay (" mat").
 */
export function tokenLabel(text: string): string {
  const escaped = text.replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
  return escaped.length > 0 && escaped.trim().length === 0 ? '␣'.repeat(escaped.length) : escaped;
}

/** A label no wider than `max` characters (ellipsis in the middle keeps both ends readable). */
export function truncateLabel(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 1) return '…';
  const head = Math.ceil((max - 1) / 2);
  return text.slice(0, head) + '…' + text.slice(text.length - (max - 1 - head));
}

/** A probability as a percentage: 44.6%, 0.12%, <0.01%. */
export function formatProb(p: number): string {
  if (!Number.isFinite(p)) return '–';
  const pct = p * 100;
  if (pct === 0) return '0%';
  if (pct < 0.01) return '<0.01%';
  if (pct < 1) return `${pct.toFixed(2)}%`;
  return `${pct.toFixed(1)}%`;
}

/** A signed value with three significant digits: +1.23, −0.0456. */
export function formatSigned(v: number): string {
  if (!Number.isFinite(v)) return '–';
  const abs = Math.abs(v);
  // Below 1e-4 (float noise next to contributions of order 1) show 0 rather than "2.57e-7".
  if (abs < 1e-4) return '0';
  const digits = abs >= 100 ? abs.toFixed(0) : abs.toPrecision(3);
  return (v < 0 ? '−' : '+') + digits;
}

/** A score in [0, 1] or null (undefined on this prompt). */
export function formatScore(v: number | null): string {
  return v === null ? 'n/a' : v.toFixed(3);
}
