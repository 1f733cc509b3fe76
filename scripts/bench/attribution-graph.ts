/**
 * Attribution-graph benchmark (called by scripts/bench.ts; issue 18's speed case): an attribution
 * graph of the GPT-2-small-shaped random model with per-layer random transcoders of 24 576
 * features (circuit-tracer's layout, float16 files, decoders read lazily; about 98 features fire
 * per position and layer), a 16-token prompt, at most 7 500 features visited. Reports the total,
 * its split (forward and feature activations, backward batches, re-ranking, pruning) and the
 * process's peak resident memory; the dictionary is written by a child process first so that its
 * generation does not count.
 *
 * Standalone: `node --expose-gc --import tsx scripts/bench/attribution-graph.ts`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { buildAttributionGraph } from '../../src/engine/features/attribution-graph/attribution-graph.js';
import { loadDictionary } from '../../src/engine/features/load-dictionary.js';
import { generateRandomDictionary } from '../../src/engine/features/random-dictionary.js';
import { writeRandomDictionary } from '../../src/engine/features/random-dictionary-writer.js';
import { generateRandomGpt2 } from '../../src/engine/model/random-gpt2.js';
import { InstrumentedModel } from '../../src/engine/runtime/instrumented-model.js';
import { markdownTable, type BenchReport } from './stats.js';

const TOKENS = 16;
const WIDTH = 24576;
const MAX_FEATURES = 7500;
/** About 98 of 24 576 features fire per position: a realistic L0 for GPT-2 small's transcoders. */
const FIRING_RATE = 0.004;
const MODEL_SEED = 1234;

/** Writes the random transcoder set into `dir` (run in a child process: generation holds the whole dictionary in float32). */
async function writeDictionary(dir: string): Promise<void> {
  const random = generateRandomGpt2({ preset: 'small' }, MODEL_SEED);
  const { nLayers, dModel } = random.modelConfig;
  const dictionary = generateRandomDictionary(
    { format: 'transcoder', layers: Array.from({ length: nLayers }, (_, l) => l), width: WIDTH, activation: 'relu', seed: 7, firingRate: FIRING_RATE },
    { nLayers, dModel },
  );
  await writeRandomDictionary(dir, dictionary, { inputHook: 'ln2.hook_normalized', outputHook: 'mlp.hook_out', dtype: 'F16', modelName: 'gpt2-small-random' });
}

export async function benchAttributionGraph(report: BenchReport): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ct-bench-transcoders-'));
  try {
    const t0 = performance.now();
    // Run from the sources (also under the bundled `npm run bench`), as the memory probe is.
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bench/attribution-graph.ts', '--write-dictionary', dir], { stdio: 'inherit' });
    if (child.status !== 0) throw new Error(`writing the random transcoders failed (${child.status})`);
    const writeMs = performance.now() - t0;
    const random = generateRandomGpt2({ preset: 'small' }, MODEL_SEED);
    const runner = await InstrumentedModel.create({ config: random.modelConfig, weights: random.weights }, { device: 'cpu' });
    const dictionary = await loadDictionary(dir, runner.config);
    try {
      const ids = Array.from({ length: TOKENS }, (_, i) => (i === 0 ? 50256 : (i * 7919 + 13) % 50000));
      (globalThis as { gc?: () => void }).gc?.();
      const rssBefore = process.memoryUsage().rss;
      const cpuBefore = process.cpuUsage();
      const run = await buildAttributionGraph(runner, dictionary, ids, (id) => String(id), { maxFeatureNodes: MAX_FEATURES });
      const peak = process.resourceUsage().maxRSS * 1024;
      const cpu = process.cpuUsage(cpuBefore);
      const { timings, counts } = run.result;
      const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
      report('Attribution graph, GPT-2-small-shaped model, 24 576-feature transcoders, 16 tokens', [
        { what: 'total (forward, encodings, backward, re-ranking, pruning)', value: s(timings.totalMs) },
        {
          what: 'CPU time of the process during the graph (user + system; on a quiet 2-core machine the wall time is at least half of it)',
          value: s((cpu.user + cpu.system) / 1000),
        },
        { what: 'forward and feature activations (12 layers × 24 576 features)', value: s(timings.activationMs) },
        {
          what: `backward batches (${counts.visitedFeatures} features visited of ${counts.activeFeatures} active, 512 rows a batch)`,
          value: s(timings.backwardMs),
        },
        { what: 're-ranking by influence (every 4 batches)', value: s(timings.rankingMs) },
        { what: `pruning and scores (${counts.nodes} nodes → ${counts.keptNodes} kept, ${counts.keptLinks} links)`, value: s(timings.pruningMs) },
        { what: 'peak resident memory of the process (model, encoders, edge matrix, adjacency)', value: `${(peak / 2 ** 30).toFixed(2)} GB` },
        { what: 'resident memory before the graph (model and dictionary loaded)', value: `${(rssBefore / 2 ** 30).toFixed(2)} GB` },
        { what: 'replacement / completeness score', value: `${run.result.replacementScore.toFixed(3)} / ${run.result.completenessScore.toFixed(3)}` },
        { what: 'writing the random transcoders (float16, not part of the graph)', value: s(writeMs) },
      ]);
    } finally {
      dictionary.dispose();
      await runner.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (basename(process.argv[1] ?? '') === 'attribution-graph.ts') {
  const at = process.argv.indexOf('--write-dictionary');
  if (at >= 0) void writeDictionary(process.argv[at + 1]!);
  else void benchAttributionGraph((title, rows) => console.log(`\n## ${title}\n${markdownTable(rows)}`));
}
