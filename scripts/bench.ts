/**
 * `npm run bench`: speed and memory of the engine, the analyses and patching on a
 * GPT-2-small-shaped model with seeded random weights (generated into a temp folder, never
 * committed), written to docs/benchmarks.md between the `bench:engine` markers with the machine and
 * date. Figures are medians over repeated runs on whatever machine runs this.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../src/engine/analysis/analyze.js';
import { HeadCensusCache } from '../src/engine/analysis/head-census.js';
import { allHookNames } from '../src/engine/hooks.js';
import { writeHfFolder } from '../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../src/engine/model/load-folder.js';
import { generateRandomGpt2 } from '../src/engine/model/random-gpt2.js';
import { InstrumentedModel } from '../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { benchOrganism } from './bench/organism.js';
import { benchPatching } from './bench/patching.js';
import { markdownTable, median, timeMedian, type BenchRow } from './bench/stats.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 15);
const sections: Array<{ title: string; rows: BenchRow[] }> = [];
const report = (title: string, rows: BenchRow[]): void => {
  sections.push({ title, rows });
  console.log(`\n## ${title}\n${markdownTable(rows)}`);
};
const mb = (bytes: number): number => Math.round(bytes / 1e6);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ct-bench-'));
  try {
    const random = generateRandomGpt2({ preset: 'small' }, 1234);
    await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });

    // Load from the local folder: read + parse + adapt + build the ONNX sessions.
    const loadTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const loaded = await loadModelFolder(dir);
      const m = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
      loadTimes.push(performance.now() - t0);
      await m.dispose();
    }

    // Memory, in a fresh process so the figures are the engine's own.
    const probe = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'scripts/bench/memory-probe.ts', dir], { encoding: 'utf8' });
    if (probe.status !== 0) throw new Error(`memory probe failed: ${probe.stderr}`);
    const mem = JSON.parse(probe.stdout) as { baseline: number; afterLoad: number; peak: number; weightBytes: number };

    const loaded = await loadModelFolder(dir);
    const model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
    const forwardRows: BenchRow[] = [];
    for (const n of [16, 64]) {
      const ids = Array.from({ length: n }, (_, i) => (i * 7919 + 13) % 50000);
      const all = await timeMedian(() => model.forward(ids, { hooks: 'all' }), RUNS);
      const logits = await timeMedian(() => model.forward(ids, { hooks: ['logits'] }), RUNS);
      const lastLogits = await timeMedian(() => model.forward(ids, { hooks: ['logits'], logitPositions: [n - 1] }), RUNS);
      forwardRows.push({ tokens: n, 'all hooks + logits (ms)': all, 'logits only (ms)': logits, 'last-position logits only (ms)': lastLogits });
    }
    report('Forward pass, GPT-2-small-shaped model (124M parameters, fp32, CPU)', [
      ...forwardRows,
    ]);
    report('Model load and memory, GPT-2-small-shaped model', [
      { what: 'load from local folder (read, adapt, build sessions), median of 3', value: `${median(loadTimes).toFixed(0)} ms` },
      { what: 'fp32 weights on disk', value: `${mb(mem.weightBytes)} MB` },
      { what: 'resident memory once loaded (fresh process)', value: `${mb(mem.afterLoad)} MB (${(mem.afterLoad / mem.weightBytes).toFixed(2)}× weights)` },
      { what: 'peak resident memory during load', value: `${mb(mem.peak)} MB (${(mem.peak / mem.weightBytes).toFixed(2)}× weights)` },
      { what: 'Node baseline before loading', value: `${mb(mem.baseline)} MB` },
    ]);

    // Full analysis of a 64-token prompt, forward included; census once per model.
    const modelInfo = { id: 'bench', displayName: 'random small', nLayers: 12, nHeads: 12, dModel: 768, dHead: 64, dVocab: 50257, nCtx: 1024 };
    const ids64 = Array.from({ length: 64 }, (_, i) => (i * 7919 + 13) % 50000);
    const analyzeMs = await timeMedian(() => analyze(model, loaded.tokenizer, { ids: ids64 }, { modelInfo, maxTokens: 64 }), Math.min(RUNS, 10));
    const censusCache = new HeadCensusCache();
    const t0 = performance.now();
    await analyze(model, loaded.tokenizer, { ids: ids64.slice(0, 8), census: true }, { modelInfo, censusCache, maxTokens: 64 });
    const censusFirst = performance.now() - t0;
    const t1 = performance.now();
    await analyze(model, loaded.tokenizer, { ids: ids64.slice(0, 8), census: true }, { modelInfo, censusCache, maxTokens: 64 });
    const censusCached = performance.now() - t1;
    report('Analyses, GPT-2-small-shaped model', [
      { what: 'full analyze() of a 64-token prompt, forward included (median)', value: `${analyzeMs.toFixed(0)} ms` },
      { what: 'analyze() of 8 tokens with the head census, first time (census computed)', value: `${censusFirst.toFixed(0)} ms` },
      { what: 'the same again (census cached per model)', value: `${censusCached.toFixed(0)} ms` },
    ]);
    void allHookNames;
    await model.dispose();

    await benchOrganism(report);
    await benchPatching(report);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  writeReport();
}

function writeReport(): void {
  const path = 'docs/benchmarks.md';
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const header = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, onnxruntime-node CPU provider; medians of ${RUNS} runs after warm-up unless noted. Regenerate with \`npm run bench\`.`,
  ].join('\n');
  const body = [header, ...sections.map((s) => `### ${s.title}\n\n${markdownTable(s.rows)}`)].join('\n\n');
  const start = '<!-- bench:engine:start -->', end = '<!-- bench:engine:end -->';
  let doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const block = `${start}\n${body}\n${end}`;
  if (doc.includes(start) && doc.includes(end)) doc = doc.slice(0, doc.indexOf(start)) + block + doc.slice(doc.indexOf(end) + end.length);
  else doc = `${doc.trimEnd()}\n\n## Engine, analyses and patching (\`npm run bench\`)\n\n${block}\n`;
  writeFileSync(path, doc);
  console.log(`\nwrote ${path}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
