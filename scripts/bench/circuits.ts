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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
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
import { GPT2_SMALL_SIZE, loadLlamaFolder, writeRandomLlamaFolder } from './llama.js';
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
  await benchLlamaGradients(report);
}

/** EAP, EAP-IG and AtP on the Llama shape at GPT-2 small's size (grouped-query attention, SwiGLU), in multiples of its own forward. */
async function benchLlamaGradients(report: BenchReport): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ct-bench-circuits-llama-'));
  try {
    await writeRandomLlamaFolder(dir, GPT2_SMALL_SIZE, 1234, 'F32');
    const model = loadLlamaFolder(dir, GPT2_SMALL_SIZE.nLayers + 1);
    const runner = await InstrumentedModel.create(model, { device: 'cpu' });
    const gradients = await GradientModel.create(model);
    try {
      const clean = Array.from({ length: TOKENS }, (_, i) => (i * 7919 + 13) % 50000);
      const corrupt = clean.map((id, i) => (i === 4 || i === 11 ? (id + 4099) % 50000 : id));
      const request = { cleanIds: clean, corruptIds: corrupt, targetId: clean[3]!, contrastId: clean[5]! };
      const forwardMs = await timeMedian(() => runner.forward(clean, { hooks: 'all' }), RUNS * 2);
      const rows: BenchRow[] = [{ experiment: 'one forward, every hook point (the unit)', 'median ms': Number(forwardMs.toFixed(1)), '× one forward': 1 }];
      const add = async (experiment: string, fn: () => Promise<unknown>): Promise<void> => {
        const ms = await timeMedian(fn, RUNS, 1);
        rows.push({ experiment, 'median ms': Math.round(ms), '× one forward': Number((ms / forwardMs).toFixed(1)) });
      };
      await add('EAP, every edge', () => runAttribution(gradients, { ...request, method: 'eap', kind: 'edges' }));
      await add('EAP-IG, every edge, 5 steps', () => runAttribution(gradients, { ...request, method: 'eap-ig', kind: 'edges', steps: 5 }));
      await add('AtP, heads × positions and neurons (one forward and backward)', () =>
        runNodeAttributions(gradients, { ...request, method: 'atp', perPosition: true }, ['heads', 'neurons']),
      );
      report("Circuits, Llama shape at GPT-2 small's size (12 layers, 12 query / 4 key-value heads, SwiGLU 2048), 16 tokens", rows);
    } finally {
      await gradients.dispose();
      await runner.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (basename(process.argv[1] ?? '') === 'circuits.ts') {
  void benchCircuits((title, rows) => console.log(`\n## ${title}\n${markdownTable(rows)}`));
}
