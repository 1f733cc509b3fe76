/** Small helpers shared by the benchmark scripts. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/**
 * Runs `fn` `warmup` times unmeasured, then `runs` times, and returns the median milliseconds.
 * `before`, if given, runs untimed before each measured run.
 */
export async function timeMedian(fn: () => Promise<unknown>, runs: number, warmup = 2, before?: () => void): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    before?.();
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

export type BenchRow = Record<string, string | number>;
export type BenchReport = (section: string, rows: BenchRow[]) => void;

export function markdownTable(rows: readonly BenchRow[]): string {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]!);
  const fmt = (v: string | number | undefined): string => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : (v ?? ''));
  return [`| ${cols.join(' | ')} |`, `| ${cols.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${cols.map((c) => fmt(r[c])).join(' | ')} |`)].join(
    '\n',
  );
}
