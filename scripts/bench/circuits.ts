/**
 * Circuits benchmark (called by scripts/bench.ts): on the GPT-2-small-shaped random model with
 * 16-token prompts, each experiment of measured circuits next to one forward with every hook point
 * in the same run (the ratio is what issue 17 asks about): EAP over every edge (32 491), EAP-IG with 5
 * steps, AtP over every head at every position and over every MLP neuron (apart, and from one
 * forward and backward), path patching of all 144
 * senders to the logits, and circuit discovery with exact faithfulness at 10 circuit sizes. The
 * gradient and edge-patching graphs' build time is reported apart (once per model).
 *
 * Standalone: `node --import tsx scripts/bench/circuits.ts` (BENCH_RUNS sets the runs).
 */
import { basename } from 'node:path';
import { runAttribution, runNodeAttributions } from '../../src/engine/attribution/run-attribution.js';
import type { AttributionRequest } from '../../src/engine/attribution/attribution-types.js';
import { discoverCircuit } from '../../src/engine/circuits/discover-circuit.js';
import { EdgePatcher } from '../../src/engine/circuits/edge-patcher.js';
import { curveSizes, measureFaithfulness } from '../../src/engine/circuits/faithfulness.js';
import { generateRandomGpt2 } from '../../src/engine/model/random-gpt2.js';
import { runPathPatching } from '../../src/engine/patching/path-patching.js';
import { GradientModel } from '../../src/engine/runtime/gradient-model.js';
import { InstrumentedModel } from '../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { loadTokenizer } from '../../src/engine/tokenizer/tokenizer.js';
import { markdownTable, timeMedian, type BenchReport, type BenchRow } from './stats.js';

const TOKENS = 16;
const RUNS = Math.max(3, Math.min(7, Number(process.env['BENCH_RUNS'] ?? 5)));

export async function benchCircuits(report: BenchReport): Promise<void> {
  const random = generateRandomGpt2({ preset: 'small' }, 1234);
  const canonical = { config: random.modelConfig, weights: random.weights };
  const runner = await InstrumentedModel.create(canonical, { device: 'cpu' });
  let t = performance.now();
  const gradients = await GradientModel.create(canonical);
  const gradientBuildMs = performance.now() - t;
  t = performance.now();
  const patcher = await EdgePatcher.create(canonical, runner);
  const patcherBuildMs = performance.now() - t;
  const tokenizer = loadTokenizer(loadGpt2TokenizerJson());
  try {
    const clean = Array.from({ length: TOKENS }, (_, i) => (i * 7919 + 13) % 50000);
    const corrupt = clean.map((id, i) => (i === 4 || i === 11 ? (id + 4099) % 50000 : id));
    const [targetId, contrastId] = [clean[3]!, clean[5]!];
    const attribution =
      (method: AttributionRequest['method'], kind: AttributionRequest['kind'], extra: Partial<AttributionRequest> = {}) =>
      () =>
        runAttribution(gradients, { cleanIds: clean, corruptIds: corrupt, targetId, contrastId, method, kind, ...extra });
    const forwardMs = await timeMedian(() => runner.forward(clean, { hooks: 'all' }), RUNS * 2);
    const rows: BenchRow[] = [];
    const add = async (experiment: string, fn: () => Promise<unknown>, runs = RUNS): Promise<number> => {
      const ms = await timeMedian(fn, runs, 1);
      rows.push({ experiment, 'median ms': Math.round(ms), '× one forward': Number((ms / forwardMs).toFixed(1)) });
      return ms;
    };
    rows.push({ experiment: 'one forward, every hook point (the unit)', 'median ms': Number(forwardMs.toFixed(1)), '× one forward': 1 });
    t = performance.now();
    await attribution('eap', 'edges')();
    const firstEapMs = performance.now() - t;
    await add('EAP, every edge (32 491)', attribution('eap', 'edges'));
    await add('EAP-IG, every edge, 5 steps', attribution('eap-ig', 'edges', { steps: 5 }));
    const atpHeads = await add('AtP, 144 heads × 16 positions', attribution('atp', 'heads', { perPosition: true }));
    const atpNeurons = await add('AtP, 36 864 MLP neurons', attribution('atp', 'neurons'));
    rows.push({
      experiment: 'AtP, heads × positions and neurons (two calls)',
      'median ms': Math.round(atpHeads + atpNeurons),
      '× one forward': Number(((atpHeads + atpNeurons) / forwardMs).toFixed(1)),
    });
    await add('AtP, heads × positions and neurons (one forward and backward)', () =>
      runNodeAttributions(gradients, { cleanIds: clean, corruptIds: corrupt, targetId, contrastId, method: 'atp', perPosition: true }, ['heads', 'neurons']),
    );
    await add('path patching, 144 senders → logits', () =>
      runPathPatching(runner, tokenizer, { cleanIds: clean, corruptIds: corrupt, target: { id: targetId }, contrast: { id: contrastId }, receivers: 'logits' }),
    );
    const metric = { name: 'logit_diff', targetId, contrastId } as const;
    const edgeScores = async (): Promise<Float64Array> => Float64Array.from((await attribution('eap-ig', 'edges', { steps: 5 })()).entries, (e) => e.score);
    const scores = await edgeScores();
    const sizes = curveSizes(patcher.graph.edges.length, 10).map((edges) => ({ edges }));
    await add('exact faithfulness of 10 circuit sizes (edge patching)', () => measureFaithfulness(patcher, { clean, corrupt, metric, scores, sizes }));
    await add('circuit discovery: EAP-IG (5 steps) + exact faithfulness at 10 sizes', () =>
      discoverCircuit(patcher, edgeScores, {
        clean,
        corrupt,
        metric,
        method: 'eap-ig',
        size: { edges: 100 },
        curve: 10,
      }),
    );
    rows.push({ experiment: 'build the gradient graphs (once per model)', 'median ms': Math.round(gradientBuildMs), '× one forward': '' });
    rows.push({ experiment: 'first EAP call (builds the edge attribution graphs, once per model)', 'median ms': Math.round(firstEapMs), '× one forward': '' });
    rows.push({ experiment: 'build the edge-patching graphs (once per model)', 'median ms': Math.round(patcherBuildMs), '× one forward': '' });
    report('Circuits, GPT-2-small-shaped model, 16 tokens', rows);
  } finally {
    await patcher.dispose();
    await gradients.dispose();
    await runner.dispose();
  }
}

if (basename(process.argv[1] ?? '') === 'circuits.ts') {
  void benchCircuits((title, rows) => console.log(`\n## ${title}\n${markdownTable(rows)}`));
}
