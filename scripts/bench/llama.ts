/**
 * Llama-family benchmark (called by scripts/bench.ts): on seeded random checkpoints written in the
 * Hugging Face layout and loaded through the Llama adapter,
 *  - the forward with every hook point at 64 tokens of a Llama-shaped model of GPT-2 small's size
 *    (d_model 768, 12 layers, 12 query and 4 key-value heads, SwiGLU width 2048, vocabulary 50 257,
 *    tied embeddings), next to GPT-2 small's forward measured in the same run, interleaved;
 *  - the same forward of Llama-3.2-1B's shape (d_model 2048, 16 layers, 32 query and 8 key-value heads
 *    of 64, SwiGLU width 8192, vocabulary 128 256, tied, rope_theta 500 000 with llama3 scaling), in ms
 *    and GFLOP/s against this machine's SGEMM rate, measured here with one ONNX MatMul of a like shape;
 *  - that model's 512-head packed patching sweep (hook_z of every head at the last position, 16-token
 *    prompts) against the naive sweep (a full corrupted re-run per patch).
 * The small checkpoint is written one shard per layer, the 1B-shaped one by llama-memory.ts (bf16
 * shards, as Hugging Face ships Llama-3.2-1B), so generating either holds a few layers' arrays at a time.
 *
 * Standalone: `node --expose-gc --import tsx scripts/bench/llama.ts` (BENCH_RUNS sets the forward runs;
 * BENCH_LLAMA_1B=0 skips the 1B-shaped model).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { PatchSweepResult } from '../../src/protocol/analysis.js';
import type { PatchRequest } from '../../src/protocol/engine.js';
import { adapterFor } from '../../src/engine/model/adapters/index.js';
import { SAFETENSORS_INDEX_FILE, shardFileName } from '../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder, tensorSource } from '../../src/engine/model/load-folder.js';
import { generateRandomGpt2, seededNormalTensor } from '../../src/engine/model/random-gpt2.js';
import { openSafetensors } from '../../src/engine/model/safetensors.js';
import { writeSafetensorsFile, type WritableDtype } from '../../src/engine/model/safetensors-writer.js';
import type { CanonicalModel } from '../../src/engine/model/weights.js';
import { GraphBuilder } from '../../src/engine/onnx/graph-builder.js';
import { runNaivePatchSweep, runPatchSweep } from '../../src/engine/patching/index.js';
import { InstrumentedModel } from '../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { loadTokenizer } from '../../src/engine/tokenizer/tokenizer.js';
import { writeLlama1bCheckpoint } from './llama-memory.js';
import { markdownTable, median, type BenchReport } from './stats.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 15);
const WITH_1B = process.env['BENCH_LLAMA_1B'] !== '0';

interface LlamaShape {
  nLayers: number;
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  dHead: number;
  dMlp: number;
  dVocab: number;
  /** config.json keys beyond the shape (rope, eps, ...). */
  extra: Record<string, unknown>;
}

/** Llama-shaped, GPT-2 small's size. */
export const GPT2_SMALL_SIZE: LlamaShape = {
  nLayers: 12,
  dModel: 768,
  nHeads: 12,
  nKvHeads: 4,
  dHead: 64,
  dMlp: 2048,
  dVocab: 50257,
  extra: { rope_theta: 10000, rms_norm_eps: 1e-5, max_position_embeddings: 1024, rope_scaling: null },
};

/** meta-llama/Llama-3.2-1B's config.json shape. */
const LLAMA_32_1B: LlamaShape = {
  nLayers: 16,
  dModel: 2048,
  nHeads: 32,
  nKvHeads: 8,
  dHead: 64,
  dMlp: 8192,
  dVocab: 128256,
  extra: {
    rope_theta: 500000,
    rms_norm_eps: 1e-5,
    max_position_embeddings: 131072,
    rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  },
};

/** Parameters of a tied Llama of `shape`. */
function parameters(s: LlamaShape): number {
  const block = 2 * s.dModel + s.dModel * s.dHead * (2 * s.nHeads + 2 * s.nKvHeads) + 3 * s.dModel * s.dMlp;
  return s.nLayers * block + s.dModel + s.dVocab * s.dModel;
}

/**
 * Matrix-product FLOP of a forward at `n` tokens with logits at every position: per block the
 * q/k/v/o projections, scores and pattern x values (causal: about half of n x n), and the gated MLP.
 */
function forwardFlop(s: LlamaShape, n: number): number {
  const proj = 2 * n * s.dModel * s.dHead * (2 * s.nHeads + 2 * s.nKvHeads);
  const attention = 2 * 2 * s.nHeads * s.dHead * n * n;
  const mlp = 2 * n * 3 * s.dModel * s.dMlp;
  return s.nLayers * (proj + attention + mlp) + 2 * n * s.dModel * s.dVocab;
}

/**
 * Writes a seeded random Llama of `shape` to `dir` in the Hugging Face layout, one shard per layer
 * (plus one for the embedding and the final norm), each shard's tensors generated just before it is
 * written, so that one layer's arrays are alive at a time.
 */
export async function writeRandomLlamaFolder(dir: string, s: LlamaShape, seed: number, dtype: WritableDtype): Promise<void> {
  const { nLayers, dModel: D, nHeads: H, nKvHeads: Hkv, dHead: Dh, dMlp: M, dVocab: V } = s;
  const config = {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0,
    bos_token_id: 0,
    eos_token_id: 1,
    head_dim: Dh,
    hidden_act: 'silu',
    hidden_size: D,
    initializer_range: 0.02,
    intermediate_size: M,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: H,
    num_hidden_layers: nLayers,
    num_key_value_heads: Hkv,
    pretraining_tp: 1,
    tie_word_embeddings: true,
    torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float32',
    vocab_size: V,
    ...s.extra,
  };
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const outStd = 1 / Math.sqrt(2 * nLayers);
  const shards: Array<Array<{ name: string; shape: number[]; mean: number; std: number }>> = [
    [
      { name: 'model.embed_tokens.weight', shape: [V, D], mean: 0, std: 1 },
      { name: 'model.norm.weight', shape: [D], mean: 1, std: 0.1 },
    ],
  ];
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}.`;
    shards.push([
      { name: `${p}input_layernorm.weight`, shape: [D], mean: 1, std: 0.1 },
      { name: `${p}self_attn.q_proj.weight`, shape: [H * Dh, D], mean: 0, std: 1 / Math.sqrt(D) },
      { name: `${p}self_attn.k_proj.weight`, shape: [Hkv * Dh, D], mean: 0, std: 1 / Math.sqrt(D) },
      { name: `${p}self_attn.v_proj.weight`, shape: [Hkv * Dh, D], mean: 0, std: 1 / Math.sqrt(D) },
      { name: `${p}self_attn.o_proj.weight`, shape: [D, H * Dh], mean: 0, std: outStd / Math.sqrt(H * Dh) },
      { name: `${p}post_attention_layernorm.weight`, shape: [D], mean: 1, std: 0.1 },
      { name: `${p}mlp.gate_proj.weight`, shape: [M, D], mean: 0, std: 1 / Math.sqrt(D) },
      { name: `${p}mlp.up_proj.weight`, shape: [M, D], mean: 0, std: 1 / Math.sqrt(D) },
      { name: `${p}mlp.down_proj.weight`, shape: [D, M], mean: 0, std: outStd / Math.sqrt(M) },
    ]);
  }
  const weightMap: Record<string, string> = {};
  let totalBytes = 0;
  for (const [i, shard] of shards.entries()) {
    const file = shardFileName(i, shards.length);
    const tensors = shard.map((t) => ({ name: t.name, dtype, shape: t.shape, data: seededNormalTensor(seed, t.name, t.shape, t.mean, t.std).data }));
    totalBytes += await writeSafetensorsFile(join(dir, file), tensors, { format: 'pt' });
    for (const t of shard) weightMap[t.name] = file;
  }
  writeFileSync(join(dir, SAFETENSORS_INDEX_FILE), `${JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2)}\n`);
}

/** The folder's model through the Llama adapter (the loader's path less its tokenizer, which a random 128k vocabulary has none of). */
export function loadLlamaFolder(dir: string, shards: number): CanonicalModel {
  const files = Array.from({ length: shards }, (_, i) => openSafetensors(join(dir, shardFileName(i, shards))));
  const rawConfig = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  return adapterFor('llama').adapt(rawConfig, tensorSource(files));
}

/** Medians of `fns`, timed interleaved (one run of each per round, after `warmup` rounds), so a slow spell of a shared machine falls on all alike. */
async function timeInterleaved(fns: ReadonlyArray<() => Promise<unknown>>, runs: number, warmup = 2): Promise<number[]> {
  for (let i = 0; i < warmup; i++) for (const fn of fns) await fn();
  const times: number[][] = fns.map(() => []);
  for (let round = 0; round < runs; round++) {
    for (const [k, fn] of fns.entries()) {
      const t0 = performance.now();
      await fn();
      times[k]!.push(performance.now() - t0);
    }
  }
  return times.map(median);
}

/** GFLOP/s of one ONNX MatMul [m, k] x [k, n] (the weight an initializer, as the engine's are), median of `runs`. */
async function sgemmRate(m: number, k: number, n: number, runs: number): Promise<number> {
  const g = new GraphBuilder('sgemm');
  const w = seededNormalTensor(7, 'sgemm', [k, n], 0, 1 / Math.sqrt(k)).data;
  g.op1('MatMul', [g.input('x', 'float', [m, k]), g.weight('w', w, [k, n])], {}, 'y');
  g.output('y', 'float', [m, n]);
  const built = g.build();
  const session = await ort.InferenceSession.create(built.model, {
    graphOptimizationLevel: 'all',
    externalData: built.externalData.map((e) => ({ path: e.path, data: e.data })),
  });
  try {
    const x = new ort.Tensor('float32', seededNormalTensor(8, 'x', [m, k], 0, 1).data, [m, k]);
    const [ms] = await timeInterleaved([() => session.run({ x })], runs, 3);
    return (2 * m * k * n) / (ms! * 1e6);
  } finally {
    await session.release();
  }
}

const ids = (n: number, vocab: number): number[] => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);

export async function benchLlama(report: BenchReport): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ct-bench-llama-'));
  try {
    await benchSmall(dir, report);
    if (WITH_1B) await bench1b(dir, report);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The Llama shape at GPT-2 small's size against GPT-2 small, interleaved in the same run. A function
 * of its own so that both models and the generator's arrays are garbage before the 1B shape loads.
 */
async function benchSmall(dir: string, report: BenchReport): Promise<void> {
  // --- Llama-shaped at GPT-2 small's size against GPT-2 small, same run ---------------------
  await writeRandomLlamaFolder(dir, GPT2_SMALL_SIZE, 1234, 'F32');
  const llama = await InstrumentedModel.create(loadLlamaFolder(dir, GPT2_SMALL_SIZE.nLayers + 1), { device: 'cpu' });
  const random = generateRandomGpt2({ preset: 'small' }, 1234);
  const gpt2 = await InstrumentedModel.create({ config: random.modelConfig, weights: random.weights }, { device: 'cpu' });
  const loadBefore = loadavg()[0]!;
  const prompt = ids(64, 50000);
  const [gpt2Ms, llamaMs] = await timeInterleaved([() => gpt2.forward(prompt, { hooks: 'all' }), () => llama.forward(prompt, { hooks: 'all' })], RUNS);
  await Promise.all([gpt2.dispose(), llama.dispose()]);
  report(
    `Llama-family forward, 64 tokens, every hook point and logits (medians of ${RUNS}, interleaved; 1-minute load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after)`,
    [
      { model: 'GPT-2 small shape (random, 124M)', 'median ms': gpt2Ms!, 'vs GPT-2 small': '1×' },
      {
        model: `Llama shape at GPT-2 small's size (d_model 768, 12 layers, 12 q / 4 kv heads, SwiGLU 2048, ${(parameters(GPT2_SMALL_SIZE) / 1e6).toFixed(0)}M)`,
        'median ms': llamaMs!,
        'vs GPT-2 small': `${(llamaMs! / gpt2Ms!).toFixed(2)}×`,
      },
    ],
  );
  for (const name of readdirSync(dir)) rmSync(join(dir, name));
}

/** The Llama-3.2-1B-shaped model: forward with every hook at 64 tokens, against SGEMM; the 512-head packed sweep against the naive one. */
async function bench1b(dir: string, report: BenchReport): Promise<void> {
  const s = LLAMA_32_1B;
  const t0 = performance.now();
  // The checkpoint of the memory benchmark (llama-memory.ts): BF16 shards, config.json and a tokenizer spanning the vocabulary.
  await writeLlama1bCheckpoint(dir, 4321);
  const writeMs = performance.now() - t0;
  const t1 = performance.now();
  const model = await InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' });
  const loadMs = performance.now() - t1;
  rmSync(dir, { recursive: true, force: true });
  try {
    const loadBefore = loadavg()[0]!;
    const prompt = ids(64, s.dVocab);
    const runs = Math.max(3, Math.min(RUNS, 7));
    const [forwardMs] = await timeInterleaved([() => model.forward(prompt, { hooks: 'all' })], runs, 1);
    // The MLP's up projection of the same 64 rows: an ONNX MatMul with an initializer, as the graphs run theirs.
    const sgemm = await sgemmRate(64, s.dModel, s.dMlp, runs * 3);
    const flop = forwardFlop(s, 64);
    const gflops = flop / (forwardMs! * 1e6);
    report(
      `Llama-3.2-1B shape (random, ${(parameters(s) / 1e9).toFixed(2)}B parameters, bf16 checkpoint run in fp32), forward of 64 tokens with every hook point and logits (median of ${runs}; 1-minute load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after)`,
      [
        { what: 'write the random checkpoint (bf16 shards)', value: `${(writeMs / 1000).toFixed(1)} s` },
        { what: 'load (read, convert to fp32, adapt, build sessions)', value: `${(loadMs / 1000).toFixed(1)} s` },
        { what: 'forward, every hook point, 64 tokens', value: `${forwardMs!.toFixed(0)} ms` },
        { what: 'matrix-product work of that forward', value: `${(flop / 1e9).toFixed(1)} GFLOP (${gflops.toFixed(0)} GFLOP/s)` },
        { what: `this machine's SGEMM, ONNX MatMul [64, ${s.dModel}] x [${s.dModel}, ${s.dMlp}]`, value: `${sgemm.toFixed(0)} GFLOP/s` },
        { what: 'forward rate against that SGEMM rate', value: `${((100 * gflops) / sgemm).toFixed(0)}%` },
      ],
    );
    await benchSweep1b(model, report);
  } finally {
    await model.dispose();
  }
}

/** hook_z of all 16 x 32 heads at the last position, 16-token prompts: the packed sweep and the naive one (BENCH_LLAMA_NAIVE=0 skips it). */
async function benchSweep1b(model: InstrumentedModel, report: BenchReport): Promise<void> {
  const tokenizer = loadTokenizer(loadGpt2TokenizerJson());
  const clean = ids(16, 50000);
  const corrupt = Array.from({ length: 16 }, (_, i) => (i * 104729 + 71) % 50000);
  const request: PatchRequest = { cleanIds: clean, corruptIds: corrupt, target: { id: 11 }, contrast: { id: 13 }, kind: 'heads-last' };
  let packedRuns = 0;
  const counting = new Proxy(model, {
    get(target, key, receiver) {
      if (key === 'runPacked') packedRuns++;
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const loadBefore = loadavg()[0]!;
  const runs = Math.max(1, Math.min(RUNS, 3));
  let packed: PatchSweepResult | undefined;
  const [packedMs] = await timeInterleaved(
    [
      async () => {
        packed = await runPatchSweep(counting, tokenizer, request);
      },
    ],
    runs,
    1,
  );
  const rows: Array<Record<string, string | number>> = [
    {
      method:
        packedRuns > 0 ? 'packed: prompts and patches as rows of one sequence per block call' : 'cached + incremental + batched (the packed run did not fit)',
      sites: packed!.entries.length,
      'median ms': Math.round(packedMs!),
      'vs naive': '',
    },
  ];
  if (process.env['BENCH_LLAMA_NAIVE'] !== '0') {
    const t0 = performance.now();
    const naive = await runNaivePatchSweep(model, tokenizer, request);
    const naiveMs = performance.now() - t0;
    let diff = 0;
    packed!.entries.forEach((e, i) => (diff = Math.max(diff, Math.abs(e.logitDiff - naive.entries[i]!.logitDiff), Math.abs(e.prob - naive.entries[i]!.prob))));
    rows[0]!['vs naive'] = `${(naiveMs / packedMs!).toFixed(1)}× faster (max |Δ| ${diff.toExponential(1)})`;
    rows.push({ method: 'naive: full corrupted re-run per patch (one run)', sites: naive.entries.length, 'median ms': Math.round(naiveMs), 'vs naive': '1×' });
  }
  report(
    `Activation patching, Llama-3.2-1B shape, 512 heads (hook_z) at the last position, 16-token prompts (whole experiment, median of ${runs}; 1-minute load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after)`,
    rows,
  );
}

// Run as a script of its own (not when bundled into the whole benchmark, whose import.meta.url this shares).
if (basename(process.argv[1] ?? '') === 'llama.ts') {
  benchLlama((section, rows) => console.log(`\n## ${section}\n${markdownTable(rows)}`)).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
