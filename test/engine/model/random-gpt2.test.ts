import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../../../src/engine/errors.js';
import { tensor } from '../../../src/engine/tensor.js';
import { gpt2HfTensorSpecs, gpt2HfTensorsFromCanonical } from '../../../src/engine/model/hf-gpt2-layout.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { generateRandomGpt2 } from '../../../src/engine/model/random-gpt2.js';
import { bf16ToF32, f16ToF32, readSafetensors, readShardedIndex } from '../../../src/engine/model/safetensors.js';
import { f32ToBf16, f32ToF16, writeSafetensors } from '../../../src/engine/model/safetensors-writer.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { loadTokenizer } from '../../../src/engine/tokenizer/tokenizer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';

const tiny = generateRandomGpt2({ preset: 'tiny' }, 1234);
const byName = new Map(tiny.tensors.map((t) => [t.name, t]));

function get(name: string) {
  const t = byName.get(name);
  assert.ok(t, `missing tensor ${name}`);
  return t;
}

function withTempDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'random-gpt2-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function stats(data: Float32Array): { mean: number; std: number } {
  let sum = 0;
  let sumSq = 0;
  for (const v of data) {
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / data.length;
  return { mean, std: Math.sqrt(sumSq / data.length - mean * mean) };
}

test('the tiny preset has the tensor names and shapes of openai-community/gpt2', () => {
  const layerSuffixes: Array<[string, number[]]> = [
    ['ln_1.weight', [64]],
    ['ln_1.bias', [64]],
    ['attn.bias', [1, 1, 128, 128]],
    ['attn.c_attn.weight', [64, 192]],
    ['attn.c_attn.bias', [192]],
    ['attn.c_proj.weight', [64, 64]],
    ['attn.c_proj.bias', [64]],
    ['ln_2.weight', [64]],
    ['ln_2.bias', [64]],
    ['mlp.c_fc.weight', [64, 256]],
    ['mlp.c_fc.bias', [256]],
    ['mlp.c_proj.weight', [256, 64]],
    ['mlp.c_proj.bias', [64]],
  ];
  const expected = [
    ['wte.weight', [50257, 64]],
    ['wpe.weight', [128, 64]],
    ...[0, 1].flatMap((l) => layerSuffixes.map(([s, shape]) => [`h.${l}.${s}`, shape])),
    ['ln_f.weight', [64]],
    ['ln_f.bias', [64]],
  ];
  assert.deepEqual(
    tiny.tensors.map((t) => [t.name, t.shape]),
    expected,
  );
  assert.deepEqual(
    gpt2HfTensorSpecs(tiny.modelConfig).map((s) => [s.name, s.shape]),
    expected,
  );
  for (const t of tiny.tensors)
    assert.equal(
      t.data.length,
      t.shape.reduce((a, b) => a * b, 1),
      t.name,
    );
});

test('config.json is a GPT-2 config of the tiny shape', () => {
  assert.deepEqual(
    {
      model_type: tiny.config.model_type,
      n_layer: tiny.config.n_layer,
      n_head: tiny.config.n_head,
      n_embd: tiny.config.n_embd,
      n_positions: tiny.config.n_positions,
      n_ctx: tiny.config.n_ctx,
      vocab_size: tiny.config.vocab_size,
      layer_norm_epsilon: tiny.config.layer_norm_epsilon,
      activation_function: tiny.config.activation_function,
      bos_token_id: tiny.config.bos_token_id,
      eos_token_id: tiny.config.eos_token_id,
      architectures: tiny.config.architectures,
    },
    {
      model_type: 'gpt2',
      n_layer: 2,
      n_head: 4,
      n_embd: 64,
      n_positions: 128,
      n_ctx: 128,
      vocab_size: 50257,
      layer_norm_epsilon: 1e-5,
      activation_function: 'gelu_new',
      bos_token_id: 50256,
      eos_token_id: 50256,
      architectures: ['GPT2LMHeadModel'],
    },
  );
  assert.equal('n_inner' in tiny.config, false, 'd_mlp = 4 d_model is implied');
  const odd = generateRandomGpt2({ shape: { nLayers: 1, nHeads: 2, dModel: 8, dMlp: 12, nCtx: 4, dVocab: 10 } }, 1);
  assert.equal(odd.config.n_inner, 12);
  assert.equal(odd.config.bos_token_id, 9, 'a small vocabulary uses its last id as <|endoftext|>');
});

test('the same seed gives byte-identical checkpoints, another seed different ones', () => {
  const again = generateRandomGpt2({ preset: 'tiny' }, 1234);
  const other = generateRandomGpt2({ preset: 'tiny' }, 1235);
  const bytes = (tensors: typeof tiny.tensors) => writeSafetensors(tensors.map((t) => ({ ...t, dtype: 'F32' as const })));
  const a = bytes(tiny.tensors);
  assert.deepEqual(bytes(again.tensors), a);
  assert.notDeepEqual(bytes(other.tensors).subarray(-4096), a.subarray(-4096));
});

test('weights follow GPT-2 initialisation: N(0, 0.02), LayerNorm gains near 1, nonzero biases', () => {
  const wte = stats(get('wte.weight').data);
  assert.ok(Math.abs(wte.mean) < 1e-4, `wte mean ${wte.mean}`);
  assert.ok(Math.abs(wte.std - 0.02) < 0.0005, `wte std ${wte.std}`);
  // Normal, not just the right variance: 68.27% within one std, 95.45% within two.
  const within = (k: number) => get('wte.weight').data.filter((v) => Math.abs(v) < k * 0.02).length / get('wte.weight').data.length;
  assert.ok(Math.abs(within(1) - 0.6827) < 0.002, `within 1 std: ${within(1)}`);
  assert.ok(Math.abs(within(2) - 0.9545) < 0.002, `within 2 std: ${within(2)}`);
  const cFc = stats(get('h.0.mlp.c_fc.weight').data);
  assert.ok(Math.abs(cFc.std - 0.02) < 0.001, `c_fc std ${cFc.std}`);
  const ln = stats(get('h.1.ln_2.weight').data);
  assert.ok(Math.abs(ln.mean - 1) < 0.05 && Math.abs(ln.std - 0.1) < 0.03, `ln_2 gain ${ln.mean} ± ${ln.std}`);
  for (const name of ['h.0.attn.c_attn.bias', 'h.1.mlp.c_proj.bias', 'ln_f.bias']) {
    const s = stats(get(name).data);
    assert.ok(s.std > 0.01, `${name} is not ~0`);
  }
  // Different tensors draw different numbers.
  assert.notDeepEqual(get('h.0.ln_1.bias').data, get('h.0.ln_2.bias').data);
});

test('the HF layout holds the canonical weights: c_attn packs Q|K|V by head, Conv1D is [in, out]', () => {
  const { nHeads, dHead, dModel: d } = tiny.modelConfig;
  for (const l of [0, 1]) {
    const block = tiny.weights.blocks[l]!;
    const cAttn = get(`h.${l}.attn.c_attn.weight`).data; // [d, 3d]
    const cAttnBias = get(`h.${l}.attn.c_attn.bias`).data; // [3d]
    [block.W_Q, block.W_K, block.W_V].forEach((w, part) => {
      for (let h = 0; h < nHeads; h++) {
        for (let i = 0; i < d; i++) {
          for (let j = 0; j < dHead; j++) {
            const expected = w.data[(h * d + i) * dHead + j]; // W[h, i, j]
            assert.equal(cAttn[i * 3 * d + part * d + h * dHead + j], expected);
          }
        }
      }
    });
    [block.b_Q, block.b_K, block.b_V].forEach((b, part) => {
      for (let k = 0; k < d; k++) assert.equal(cAttnBias[part * d + k], b.data[k]);
    });
    // c_proj.weight[h * d_head + j, k] = W_O[h, j, k]: the same numbers in the same order.
    assert.deepEqual(get(`h.${l}.attn.c_proj.weight`).data, block.W_O.data);
    assert.equal(get(`h.${l}.mlp.c_fc.weight`).data, block.W_in.data);
    assert.equal(get(`h.${l}.mlp.c_proj.weight`).data, block.W_out.data);
    assert.equal(get(`h.${l}.ln_1.bias`).data, block.ln1.b.data);
  }
  assert.equal(get('wte.weight').data, tiny.weights.W_E.data);
  assert.equal(tiny.weights.W_U_T, tiny.weights.W_E, 'the unembedding is tied');
  const mask = get('h.0.attn.bias').data; // [1, 1, n_ctx, n_ctx]
  const nCtx = tiny.modelConfig.nCtx;
  for (let q = 0; q < nCtx; q++) {
    for (let k = 0; k < nCtx; k++) assert.equal(mask[q * nCtx + k], k <= q ? 1 : 0);
  }
});

test('changing the number of layers keeps the layers that remain', () => {
  const shape = { nHeads: 2, dModel: 8, dMlp: 32, nCtx: 16, dVocab: 50 };
  const one = generateRandomGpt2({ shape: { ...shape, nLayers: 1 } }, 99);
  const three = generateRandomGpt2({ shape: { ...shape, nLayers: 3 } }, 99);
  assert.deepEqual(three.weights.blocks[0]!.W_Q.data, one.weights.blocks[0]!.W_Q.data);
  assert.deepEqual(three.weights.W_E.data, one.weights.W_E.data);
  assert.equal(three.tensors.length, 2 + 13 * 3 + 2);
});

test(
  'writeHfFolder writes a folder that reads back exactly, the same bytes every time',
  withTempDir(async (dir) => {
    const content = { config: tiny.config, tensors: tiny.tensors, tokenizerJson: loadGpt2TokenizerJson() };
    const files = await writeHfFolder(join(dir, 'a'), content);
    assert.deepEqual(files, ['config.json', 'model.safetensors', 'tokenizer.json']);
    await writeHfFolder(join(dir, 'b'), content);
    for (const file of files) assert.ok(readFileSync(join(dir, 'a', file)).equals(readFileSync(join(dir, 'b', file))), `${file} differs`);

    const parsed = readSafetensors(readFileSync(join(dir, 'a', 'model.safetensors')), 'model.safetensors');
    assert.deepEqual(parsed.metadata, { format: 'pt' });
    assert.equal(parsed.tensors.size, tiny.tensors.length);
    for (const t of tiny.tensors) {
      const read = parsed.get(t.name);
      assert.equal(read.dtype, 'F32');
      assert.deepEqual(read.shape, t.shape);
      assert.deepEqual(read.float32(), t.data, t.name);
    }
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'a', 'config.json'), 'utf8')), tiny.config);
    const tokenizer = loadTokenizer(readFileSync(join(dir, 'a', 'tokenizer.json'), 'utf8'));
    assert.deepEqual(tokenizer.encode(' mat').ids, [2603]);
  }),
);

test(
  'F16 and BF16 checkpoints hold the weights rounded to that precision',
  withTempDir(async (dir) => {
    for (const dtype of ['F16', 'BF16'] as const) {
      await writeHfFolder(join(dir, dtype), { config: tiny.config, tensors: tiny.tensors }, { dtype });
      assert.deepEqual(readdirSync(join(dir, dtype)).sort(), ['config.json', 'model.safetensors']);
      const parsed = readSafetensors(readFileSync(join(dir, dtype, 'model.safetensors')), dtype);
      const relative = dtype === 'F16' ? 2 ** -11 : 2 ** -8;
      for (const t of tiny.tensors) {
        const read = parsed.get(t.name);
        assert.equal(read.dtype, dtype);
        const values = read.float32();
        const rounded = dtype === 'F16' ? f16ToF32(f32ToF16(t.data)) : bf16ToF32(f32ToBf16(t.data));
        assert.deepEqual(values, rounded, t.name);
        for (let i = 0; i < values.length; i += 97) {
          const v = t.data[i]!;
          // Weights here are far above the F16 subnormal range except for values near zero.
          assert.ok(Math.abs(values[i]! - v) <= Math.abs(v) * relative + 2 ** -24, `${t.name}[${i}]: ${v} -> ${values[i]}`);
        }
      }
    }
  }),
);

test(
  'sharded checkpoints have an index that maps every tensor to the shard holding it',
  withTempDir(async (dir) => {
    const files = await writeHfFolder(dir, { config: tiny.config, tensors: tiny.tensors }, { shards: 3 });
    const shardNames = ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors'];
    assert.deepEqual(files, ['config.json', ...shardNames, 'model.safetensors.index.json']);
    const index = readShardedIndex(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    assert.deepEqual(index.shardFiles, shardNames);
    assert.equal(
      index.metadata.total_size,
      tiny.tensors.reduce((s, t) => s + t.data.length * 4, 0),
    );
    assert.equal(index.weightMap.size, tiny.tensors.length);
    const shards = new Map(shardNames.map((name) => [name, readSafetensors(readFileSync(join(dir, name)), name)]));
    let held = 0;
    for (const shard of shards.values()) {
      assert.ok(shard.tensors.size > 0);
      held += shard.tensors.size;
    }
    assert.equal(held, tiny.tensors.length, 'every tensor is in exactly one shard');
    for (const t of tiny.tensors) {
      const shard = shards.get(index.weightMap.get(t.name)!);
      assert.ok(shard, `no shard for ${t.name}`);
      assert.deepEqual(shard.get(t.name).float32(), t.data);
    }
    await assert.rejects(writeHfFolder(join(dir, 'x'), { config: tiny.config, tensors: tiny.tensors }, { shards: 0 }), EngineError);
  }),
);

test('bad generator options and untied weights are refused with typed errors', () => {
  const code = (c: string) => (e: unknown) => e instanceof EngineError && e.code === c;
  assert.throws(() => generateRandomGpt2({ preset: 'huge' as 'tiny' }, 1), code('BAD_ARGUMENT'));
  assert.throws(() => generateRandomGpt2({ shape: { nLayers: 1, nHeads: 3, dModel: 8, dMlp: 32, nCtx: 4, dVocab: 10 } }, 1), code('BAD_ARGUMENT'));
  assert.throws(() => generateRandomGpt2({ shape: { nLayers: 0, nHeads: 1, dModel: 8, dMlp: 32, nCtx: 4, dVocab: 10 } }, 1), code('BAD_ARGUMENT'));
  const small = generateRandomGpt2({ shape: { nLayers: 1, nHeads: 2, dModel: 4, dMlp: 16, nCtx: 4, dVocab: 6 } }, 3);
  const untied = {
    ...small.weights,
    W_U_T: tensor(
      small.weights.W_E.data.map((v) => v + 1),
      [6, 4],
    ),
  };
  assert.throws(() => gpt2HfTensorsFromCanonical(untied, small.modelConfig), code('BAD_ARGUMENT'));
  const biased = { ...small.weights, b_U: tensor(new Float32Array(6).fill(0.5), [6]) };
  assert.throws(() => gpt2HfTensorsFromCanonical(biased, small.modelConfig), code('BAD_ARGUMENT'));
  const misshapen = { ...small.weights, W_pos: tensor(new Float32Array(20), [5, 4]) };
  assert.throws(() => gpt2HfTensorsFromCanonical(misshapen, small.modelConfig), code('WRONG_SHAPE'));
});

test(
  'the GPT-2 adapter runs c_attn as it is (W_QKV) and builds W_Q/W_K/W_V only when read',
  withTempDir(async (dir) => {
    await writeHfFolder(dir, { config: tiny.config, tensors: tiny.tensors, tokenizerJson: loadGpt2TokenizerJson() });
    const { model } = await loadModelFolder(dir);
    const block = model.weights.blocks[1]!;
    const canonical = tiny.weights.blocks[1]!;
    const cAttn = get('h.1.attn.c_attn.weight');
    assert.deepEqual(block.W_QKV?.data, cAttn.data, 'W_QKV is c_attn');
    assert.deepEqual(block.W_QKV?.shape, cAttn.shape);
    assert.deepEqual(block.W_Q.data, canonical.W_Q.data);
    assert.deepEqual(block.W_K.data, canonical.W_K.data);
    assert.deepEqual(block.W_V.data, canonical.W_V.data);
    assert.equal(block.W_Q, block.W_Q, 'built once');
    // A copy with other W_Q does not carry the fusion of the old ones.
    assert.equal({ ...block, W_Q: canonical.W_K }.W_QKV, undefined);
  }),
);
