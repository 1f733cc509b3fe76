/**
 * Activation patching benchmark (called by scripts/bench.ts): on the GPT-2-small-shaped random
 * model with 16-token prompts, the 144-head sweep at the last position, at all positions, and the
 * layer × position residual sweep, each timed as the whole experiment (clean and corrupted runs
 * included, model load excluded), next to the naive method (a full corrupted re-run per patch) in
 * the same process. Both methods' entries are compared, so a speedup is only reported for equal
 * results.
 *
 * The prompts differ from the first token on, so the shared-prefix shortcut has nothing to skip;
 * an extra row shows the residual sweep on prompts that differ in one token only.
 *
 * Standalone: `node --import tsx scripts/bench/patching.ts` (BENCH_RUNS sets the fast method's runs).
 */
import { loadavg } from 'node:os';
import { basename } from 'node:path';
import type { PatchKind, PatchSweepResult } from '../../src/protocol/analysis.js';
import type { PatchRequest } from '../../src/protocol/engine.js';
import { generateRandomGpt2 } from '../../src/engine/model/random-gpt2.js';
import { runNaivePatchSweep, runPatchSweep, type PatchSweepOptions } from '../../src/engine/patching/index.js';
import { InstrumentedModel } from '../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { loadTokenizer } from '../../src/engine/tokenizer/tokenizer.js';
import { markdownTable, median, type BenchReport } from './stats.js';

const TOKENS = 16;
const FAST_RUNS = Number(process.env['BENCH_RUNS'] ?? 7);
/** The naive method takes seconds per sweep; a few runs suffice for its median. */
const NAIVE_RUNS = Math.max(1, Math.min(3, FAST_RUNS));

interface Timed {
  ms: number;
  result: PatchSweepResult;
}

/**
 * Times several methods of one experiment interleaved: after each method's warm-up runs, their
 * timed runs are spread over the same rounds, so that a slower spell of this shared machine falls
 * on all of them alike and their ratio is not an accident of which ran when. Medians per method.
 */
async function timeInterleaved(methods: ReadonlyArray<{ fn: () => Promise<PatchSweepResult>; runs: number; warmup: number }>): Promise<Timed[]> {
  const results: Array<PatchSweepResult | undefined> = methods.map(() => undefined);
  const times: number[][] = methods.map(() => []);
  for (const [m, { fn, warmup }] of methods.entries()) for (let i = 0; i < warmup; i++) results[m] = await fn();
  const rounds = Math.max(...methods.map((m) => m.runs));
  for (let round = 0; round < rounds; round++) {
    for (const [m, { fn, runs }] of methods.entries()) {
      // Method m runs in the rounds where floor(round · runs / rounds) steps up: `runs` of them, evenly spread.
      if (Math.floor(((round + 1) * runs) / rounds) === Math.floor((round * runs) / rounds)) continue;
      const t0 = performance.now();
      results[m] = await fn();
      times[m]!.push(performance.now() - t0);
    }
  }
  return methods.map((_, m) => ({ ms: median(times[m]!), result: results[m]! }));
}

/** Largest difference of the logit differences and probabilities of two sweeps' entries. */
function maxDifference(a: PatchSweepResult, b: PatchSweepResult): number {
  if (a.entries.length !== b.entries.length) return Infinity;
  let diff = 0;
  a.entries.forEach((e, i) => {
    const n = b.entries[i]!;
    diff = Math.max(diff, Math.abs(e.logitDiff - n.logitDiff), Math.abs(e.prob - n.prob));
  });
  return diff;
}

/** The seeded GPT-2-small-shaped model, loaded; the generator's arrays are garbage once it returns. */
async function randomSmallModel(): Promise<InstrumentedModel> {
  const random = generateRandomGpt2({ preset: 'small' }, 1234);
  return InstrumentedModel.create({ config: random.modelConfig, weights: random.weights }, { device: 'cpu' });
}

export async function benchPatching(report: BenchReport): Promise<void> {
  const model = await randomSmallModel();
  const tokenizer = loadTokenizer(loadGpt2TokenizerJson());
  try {
    const clean = Array.from({ length: TOKENS }, (_, i) => (i * 7919 + 13) % 50000);
    const corrupt = Array.from({ length: TOKENS }, (_, i) => (i * 104729 + 71) % 50000);
    const oneTokenDifferent = clean.map((id, i) => (i === TOKENS / 2 ? (id + 1) % 50000 : id));
    const request = (kind: PatchKind, corruptIds = corrupt): PatchRequest => ({ cleanIds: clean, corruptIds, target: { id: 11 }, contrast: { id: 13 }, kind });

    const rows: Array<Record<string, string | number>> = [];
    const loadBefore = loadavg()[0]!;
    const INCREMENTAL = 'cached + incremental + batched';
    const PACKED = 'packed: prompts and patches as rows of one sequence per block call';
    // What runPatchSweep does by default: head sweeps packed when they fit (the all-position one,
    // 2 336 rows here, does not), everything else incremental; the unpacked head sweep for comparison.
    const cases: Array<{ label: string; request: PatchRequest; naive: boolean; methods: Array<{ method: string; options: PatchSweepOptions }> }> = [
      {
        label: '144 heads, last position',
        request: request('heads-last'),
        naive: true,
        methods: [
          { method: PACKED, options: {} },
          { method: INCREMENTAL, options: { packed: false } },
        ],
      },
      { label: '144 heads, all positions', request: request('heads-all'), naive: true, methods: [{ method: INCREMENTAL, options: {} }] },
      { label: `resid_pre, 12 layers × ${TOKENS} positions`, request: request('resid'), naive: true, methods: [{ method: INCREMENTAL, options: {} }] },
      {
        label: `resid_pre, 12 layers × ${TOKENS} positions, prompts differing in one token`,
        request: request('resid', oneTokenDifferent),
        naive: false,
        methods: [{ method: INCREMENTAL, options: {} }],
      },
    ];
    for (const c of cases) {
      const timed = await timeInterleaved([
        ...c.methods.map(({ options }) => ({ fn: () => runPatchSweep(model, tokenizer, c.request, options), runs: FAST_RUNS, warmup: 3 })),
        ...(c.naive ? [{ fn: () => runNaivePatchSweep(model, tokenizer, c.request), runs: NAIVE_RUNS, warmup: 0 }] : []),
      ]);
      const fast = c.methods.map(({ method }, i) => ({ method, ...timed[i]! }));
      const sites = fast[0]!.result.entries.length;
      const naive = c.naive ? timed[c.methods.length]! : null;
      if (naive)
        rows.push({
          experiment: c.label,
          method: 'naive: full corrupted re-run per patch',
          sites,
          'median ms': Math.round(naive.ms),
          speedup: '1×',
          'max |Δ| vs naive': '',
        });
      for (const f of fast) {
        rows.push({
          experiment: c.label,
          method: f.method,
          sites,
          'median ms': Math.round(f.ms),
          speedup: naive ? `${(naive.ms / f.ms).toFixed(1)}×` : '',
          'max |Δ| vs naive': naive ? maxDifference(f.result, naive.result).toExponential(1) : '',
        });
      }
    }
    report(
      `Activation patching, GPT-2-small-shaped model, ${TOKENS}-token prompts (whole experiment: clean and corrupted runs included; fast methods median of ${FAST_RUNS}, naive median of ${NAIVE_RUNS}, interleaved; 1-minute load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after)`,
      rows,
    );
  } finally {
    await model.dispose();
  }
}

// Run as a script of its own (not when bundled into the whole benchmark, whose import.meta.url this shares).
if (basename(process.argv[1] ?? '') === 'patching.ts') {
  benchPatching((section, rows) => console.log(`\n## ${section}\n${markdownTable(rows)}`)).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
