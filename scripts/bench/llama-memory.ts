/**
 * Load time and memory of a Llama-3.2-1B-shaped model (1.24B parameters: d_model 2048, 16 layers,
 * 32 query / 8 key-value heads of 64, MLP 8192, vocabulary 128 256, tied embeddings) stored as BF16
 * in a sharded checkpoint with model.safetensors.index.json, as the Hub's larger checkpoints are.
 * The random checkpoint is written shard by shard (its fp32 tensors exist only while their shard is
 * written), loaded in a fresh process by memory-probe.ts, and deleted.
 *
 * Part of `npm run bench`; alone: `node --expose-gc --import tsx scripts/bench/llama-memory.ts`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SAFETENSORS_INDEX_FILE, shardFileName } from '../../src/engine/model/hf-folder-writer.js';
import { seededNormalTensor } from '../../src/engine/model/random-gpt2.js';
import { safetensorsDataBytes, writeSafetensorsFile, type TensorToWrite } from '../../src/engine/model/safetensors-writer.js';
import { loadGpt2TokenizerJson } from '../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { markdownTable, type BenchReport } from './stats.js';

/** Llama-3.2-1B's shape (meta-llama/Llama-3.2-1B config.json). */
const SHAPE = { nLayers: 16, dModel: 2048, nHeads: 32, nKvHeads: 8, dHead: 64, dMlp: 8192, vocab: 128256 } as const;
/** Layers per shard: each shard's fp32 tensors are in memory while it is written (4 layers: about 1 GB). */
const LAYERS_PER_SHARD = 4;
/** Llama 3's special tokens: <|begin_of_text|> is the first of 256 after its 128 000 BPE tokens. */
const FIRST_SPECIAL_ID = 128000;

/** The checkpoint's fp32 size and the probe's figures, in bytes and milliseconds. */
export interface LlamaMemoryFigures {
  fp32Bytes: number;
  weightBytes: number;
  baseline: number;
  afterLoad: number;
  peak: number;
  loadMs: number;
}

/** config.json as meta-llama/Llama-3.2-1B has it (float32 weights are not implied: torch_dtype says what the file holds). */
function llama1bConfig(): Record<string, unknown> {
  const { nLayers, dModel, nHeads, nKvHeads, dHead, dMlp, vocab } = SHAPE;
  return {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0,
    bos_token_id: FIRST_SPECIAL_ID,
    eos_token_id: FIRST_SPECIAL_ID + 1,
    head_dim: dHead,
    hidden_act: 'silu',
    hidden_size: dModel,
    initializer_range: 0.02,
    intermediate_size: dMlp,
    max_position_embeddings: 131072,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: nHeads,
    num_hidden_layers: nLayers,
    num_key_value_heads: nKvHeads,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    rope_theta: 500000,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    use_cache: true,
    vocab_size: vocab,
  };
}

/** GPT-2's BPE with Llama 3's 256 special tokens at 128 000 .. 128 255, so the tokenizer spans the 128 256 embedding rows. */
function llama1bTokenizerJson(): object {
  const gpt2 = loadGpt2TokenizerJson() as unknown as { added_tokens?: unknown[] };
  const specials = Array.from({ length: SHAPE.vocab - FIRST_SPECIAL_ID }, (_, i) => ({
    id: FIRST_SPECIAL_ID + i,
    content: i === 0 ? '<|begin_of_text|>' : i === 1 ? '<|end_of_text|>' : `<|reserved_special_token_${i}|>`,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  return { ...gpt2, added_tokens: [...(gpt2.added_tokens ?? []), ...specials] };
}

/** The tensors of layers [from, to) (and the embedding and final norm with the first and last shard), in HF names and shapes. */
function shardTensors(from: number, to: number, seed: number): TensorToWrite[] {
  const { nLayers, dModel: D, nHeads: H, nKvHeads: Hkv, dHead: Dh, dMlp: M, vocab: V } = SHAPE;
  const out: TensorToWrite[] = [];
  const add = (name: string, shape: number[], mean: number, std: number): void => {
    out.push({ name, dtype: 'BF16', shape, data: seededNormalTensor(seed, name, shape, mean, std).data });
  };
  if (from === 0) add('model.embed_tokens.weight', [V, D], 0, 0.02);
  for (let l = from; l < to; l++) {
    const p = `model.layers.${l}.`;
    add(`${p}input_layernorm.weight`, [D], 1, 0.1);
    add(`${p}self_attn.q_proj.weight`, [H * Dh, D], 0, 1 / Math.sqrt(D));
    add(`${p}self_attn.k_proj.weight`, [Hkv * Dh, D], 0, 1 / Math.sqrt(D));
    add(`${p}self_attn.v_proj.weight`, [Hkv * Dh, D], 0, 1 / Math.sqrt(D));
    add(`${p}self_attn.o_proj.weight`, [D, H * Dh], 0, 1 / Math.sqrt(2 * nLayers * H * Dh));
    add(`${p}post_attention_layernorm.weight`, [D], 1, 0.1);
    add(`${p}mlp.gate_proj.weight`, [M, D], 0, 1 / Math.sqrt(D));
    add(`${p}mlp.up_proj.weight`, [M, D], 0, 1 / Math.sqrt(D));
    add(`${p}mlp.down_proj.weight`, [D, M], 0, 1 / Math.sqrt(2 * nLayers * M));
  }
  if (to === nLayers) add('model.norm.weight', [D], 1, 0.1);
  return out;
}

/**
 * Writes the sharded BF16 checkpoint, config.json and tokenizer.json into `dir`, one shard at a
 * time; returns the parameters' fp32 size.
 */
export async function writeLlama1bCheckpoint(dir: string, seed = 1234): Promise<number> {
  const shards = Math.ceil(SHAPE.nLayers / LAYERS_PER_SHARD);
  const weightMap: Record<string, string> = {};
  let params = 0,
    dataBytes = 0;
  for (let s = 0; s < shards; s++) {
    const tensors = shardTensors(s * LAYERS_PER_SHARD, Math.min(SHAPE.nLayers, (s + 1) * LAYERS_PER_SHARD), seed);
    const file = shardFileName(s, shards);
    await writeSafetensorsFile(join(dir, file), tensors, { format: 'pt' });
    for (const t of tensors) weightMap[t.name] = file;
    params += tensors.reduce((n, t) => n + t.data.length, 0);
    dataBytes += safetensorsDataBytes(tensors);
  }
  const sortedMap = Object.fromEntries(
    Object.keys(weightMap)
      .sort()
      .map((name) => [name, weightMap[name]]),
  );
  writeFileSync(join(dir, SAFETENSORS_INDEX_FILE), `${JSON.stringify({ metadata: { total_size: dataBytes }, weight_map: sortedMap }, null, 2)}\n`);
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(llama1bConfig(), null, 2)}\n`);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(llama1bTokenizerJson()));
  return 4 * params;
}

/** Loads `dir` in a fresh process (memory-probe.ts: bundled under `npm run bench`, else its source under tsx). */
function probe(dir: string): Omit<LlamaMemoryFigures, 'fp32Bytes'> {
  const script = process.env['BENCH_MEMORY_PROBE'] ? [process.env['BENCH_MEMORY_PROBE']] : ['--import', 'tsx', 'scripts/bench/memory-probe.ts'];
  const run = spawnSync(process.execPath, ['--expose-gc', ...script, dir], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (run.status !== 0) throw new Error(`memory probe failed (${run.status ?? run.signal}): ${run.stderr}`);
  return JSON.parse(run.stdout) as Omit<LlamaMemoryFigures, 'fp32Bytes'>;
}

export async function measureLlama1bMemory(): Promise<LlamaMemoryFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'ct-llama1b-'));
  try {
    const fp32Bytes = await writeLlama1bCheckpoint(dir);
    return { fp32Bytes, ...probe(dir) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchLlamaMemory(report: BenchReport): Promise<void> {
  const m = await measureLlama1bMemory();
  const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(2)} GB`;
  const times = (bytes: number): string => `${(bytes / m.fp32Bytes).toFixed(2)}× the fp32 parameters`;
  report('Model load and memory, Llama-3.2-1B-shaped model (BF16, 4 shards with model.safetensors.index.json)', [
    { what: 'load from local folder (read, convert to fp32, adapt, build sessions), fresh process', value: `${(m.loadMs / 1000).toFixed(1)} s` },
    { what: 'fp32 parameters (BF16 shards on disk)', value: `${gb(m.fp32Bytes)} (${gb(m.weightBytes)})` },
    { what: 'resident memory once loaded', value: `${gb(m.afterLoad)} (${times(m.afterLoad)})` },
    { what: 'peak resident memory during load', value: `${gb(m.peak)} (${times(m.peak)})` },
    { what: 'Node baseline before loading', value: gb(m.baseline) },
  ]);
}

if (/llama-memory\.[cm]?[jt]s$/.test(process.argv[1] ?? '')) {
  benchLlamaMemory((title, rows) => console.log(`\n## ${title}\n${markdownTable(rows)}`)).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
