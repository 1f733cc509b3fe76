/**
 * Model folders whose weights are PyTorch checkpoints (pytorch_model.bin, or sharded with
 * pytorch_model.bin.index.json), written by test/helpers/torch-bin-writer.ts in torch.save's
 * layout, load and run exactly as the same weights written as safetensors: every hook point is
 * identical, bit for bit, for a random GPT-Neo (as TinyStories' .bin holds it: lm_head sharing
 * wte's storage, the bool attention-mask buffers, some weights stored transposed or at an offset)
 * random Llama-family models (BF16 in three shards, F16 in an OrderedDict with deflated records),
 * GPT-2 (with the mask buffers old checkpoints carry), GPT-NeoX and Gemma 2. The safetensors path
 * they are compared with is held to each architecture's float64 reference in its own tests. Also: safetensors win when a folder has
 * both, and a shard the index names but the folder lacks is reported by name.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEngineError } from '../../../src/engine/errors.js';
import type { HfTensor } from '../../../src/engine/model/hf-gpt2-layout.js';
import { writeHfFolder, type HfFolderOptions } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGemma } from '../../../src/engine/model/random-gemma.js';
import { generateRandomGpt2 } from '../../../src/engine/model/random-gpt2.js';
import { generateRandomGptNeo } from '../../../src/engine/model/random-gpt-neo.js';
import { generateRandomGptNeox } from '../../../src/engine/model/random-gpt-neox.js';
import { generateRandomLlama } from '../../../src/engine/model/random-llama.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { writeTorchBinFolder, type StateDictLayout, type TorchArchiveOptions } from '../../helpers/torch-bin-writer.js';

const IDS = Array.from({ length: 12 }, (_, i) => (i * 7919 + 13) % 50257);

function tempDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `ct-torch-${tag}-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every hook point of a forward over IDS. */
async function hooksOf(folder: string): Promise<Map<string, Float32Array>> {
  const model = await InstrumentedModel.create((await loadModelFolder(folder)).model, { device: 'cpu' });
  try {
    const { cache } = await model.forward(IDS, { hooks: 'all' });
    return new Map([...cache].map(([name, t]) => [name, t.data]));
  } finally {
    await model.dispose();
  }
}

async function assertSameHooks(safetensorsDir: string, binDir: string): Promise<void> {
  const [expected, actual] = [await hooksOf(safetensorsDir), await hooksOf(binDir)];
  assert.ok(expected.size > 10, `${expected.size} hooks`);
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [name, data] of expected) assert.deepEqual(actual.get(name), data, name);
}

async function compareFormats(
  tag: string,
  content: { config: object; tensors: readonly HfTensor[] },
  safetensorsOptions: HfFolderOptions,
  binTensors: readonly HfTensor[],
  binOptions: StateDictLayout & TorchArchiveOptions & { shards?: number },
): Promise<string[]> {
  const tokenizerJson = loadGpt2TokenizerJson();
  const safetensorsDir = tempDir(`${tag}-st`);
  await writeHfFolder(safetensorsDir, { ...content, tokenizerJson }, safetensorsOptions);
  const binDir = tempDir(`${tag}-bin`);
  const written = await writeTorchBinFolder(binDir, { config: content.config, tensors: binTensors, tokenizerJson }, binOptions);
  await assertSameHooks(safetensorsDir, binDir);
  return written;
}

describe('pytorch_model.bin checkpoints load as their safetensors twins do', () => {
  test('GPT-Neo as TinyStories stores it: lm_head sharing wte, mask buffers, transposed and offset storages; every hook identical', async () => {
    const random = generateRandomGptNeo({ preset: 'tiny' }, 21);
    const wte = random.tensors.find((t) => t.name === 'transformer.wte.weight')!;
    assert.ok(!random.tensors.some((t) => t.name === 'lm_head.weight'));
    // Untied in config.json, so the adapter reads lm_head.weight: from its own tensor in safetensors, from wte's storage in the .bin.
    const config = { ...random.config, tie_word_embeddings: false };
    const withHead = [...random.tensors, { name: 'lm_head.weight', shape: wte.shape, data: wte.data }];
    const nCtx = 128;
    const mask = new Uint8Array(nCtx * nCtx).map((_, k) => (k % nCtx <= Math.floor(k / nCtx) ? 1 : 0));
    const extras = [0, 1].flatMap((l) => [
      { name: `transformer.h.${l}.attn.attention.bias`, dtype: 'BOOL' as const, shape: [1, 1, nCtx, nCtx], data: mask },
      { name: `transformer.h.${l}.attn.attention.masked_bias`, dtype: 'F32' as const, shape: [], data: new Uint8Array(Float32Array.from([-1e9]).buffer) },
    ]);
    const written = await compareFormats('gpt-neo', { config, tensors: withHead }, {}, withHead, {
      tiedTo: { 'lm_head.weight': 'transformer.wte.weight' },
      transposed: new Set(['transformer.h.0.attn.attention.q_proj.weight', 'transformer.h.1.mlp.c_fc.weight', 'transformer.wpe.weight']),
      offsetInto: new Set(['transformer.h.0.ln_1.weight', 'transformer.h.1.attn.attention.out_proj.weight']),
      extras,
    });
    assert.ok(written.includes('pytorch_model.bin'));
  });

  test('GPT-Neo with tied embeddings (no lm_head tensor used), saved as an OrderedDict with _metadata: every hook identical', async () => {
    const random = generateRandomGptNeo({ preset: 'tiny' }, 22);
    await compareFormats('gpt-neo-tied', random, {}, random.tensors, { ordered: true, transposed: new Set(['transformer.h.1.attn.attention.v_proj.weight']) });
  });

  test('Llama, BF16, three shards with pytorch_model.bin.index.json and transposed projections: every hook identical', async () => {
    const random = generateRandomLlama('llama', 'tiny', 23);
    const written = await compareFormats('llama', random, { dtype: 'BF16' }, random.tensors, {
      dtype: 'BF16',
      shards: 3,
      transposed: new Set(['model.layers.0.self_attn.q_proj.weight', 'model.layers.1.mlp.gate_proj.weight', 'model.layers.1.self_attn.o_proj.weight']),
    });
    assert.ok(written.includes('pytorch_model.bin.index.json'));
    assert.equal(written.filter((f) => /^pytorch_model-0000\d-of-00003\.bin$/.test(f)).length, 3);
  });

  test('Qwen2, F16, an OrderedDict with deflated records: every hook identical', async () => {
    const random = generateRandomLlama('qwen2', 'tiny', 24);
    await compareFormats('qwen2', random, { dtype: 'F16' }, random.tensors, { dtype: 'F16', ordered: true, deflate: true });
  });

  test('GPT-2 with the uint8 attention-mask buffers older transformers saved, and a transposed c_attn: every hook identical', async () => {
    const random = generateRandomGpt2({ preset: 'tiny' }, 26);
    const prefix = random.tensors.some((t) => t.name.startsWith('transformer.')) ? 'transformer.' : '';
    const nCtx = 128;
    const extras = [0, 1].flatMap((l) => [
      { name: `${prefix}h.${l}.attn.bias`, dtype: 'U8' as const, shape: [1, 1, nCtx, nCtx], data: new Uint8Array(nCtx * nCtx).fill(1) },
      { name: `${prefix}h.${l}.attn.masked_bias`, dtype: 'F32' as const, shape: [], data: new Uint8Array(Float32Array.from([-1e4]).buffer) },
    ]);
    await compareFormats('gpt2', random, {}, random.tensors, {
      extras,
      transposed: new Set([`${prefix}h.1.attn.c_attn.weight`, `${prefix}h.0.mlp.c_proj.weight`]),
    });
  });

  test('GPT-NeoX (Pythia), an OrderedDict in two shards: every hook identical', async () => {
    const random = generateRandomGptNeox('tiny', 27);
    await compareFormats('gpt-neox', random, {}, random.tensors, { ordered: true, shards: 2 });
  });

  test('Gemma 2, BF16 with a transposed MLP projection: every hook identical', async () => {
    const random = generateRandomGemma('gemma2', 'tiny', 28);
    await compareFormats('gemma2', random, { dtype: 'BF16' }, random.tensors, { dtype: 'BF16', transposed: new Set(['model.layers.1.mlp.down_proj.weight']) });
  });

  test('a folder with model.safetensors and pytorch_model.bin reads the safetensors; a missing .bin shard is named', async () => {
    const random = generateRandomGptNeo({ preset: 'tiny' }, 25);
    const both = tempDir('both');
    await writeHfFolder(both, { ...random, tokenizerJson: loadGpt2TokenizerJson() });
    writeFileSync(join(both, 'pytorch_model.bin'), 'not a checkpoint at all');
    assert.equal((await loadModelFolder(both)).model.config.nLayers, 2);

    const sharded = tempDir('missing-shard');
    await writeTorchBinFolder(sharded, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() }, { shards: 2 });
    rmSync(join(sharded, 'pytorch_model-00002-of-00002.bin'));
    await assert.rejects(
      loadModelFolder(sharded),
      (e: unknown) => isEngineError(e) && e.code === 'MODEL_FILE_MISSING' && e.message.includes('pytorch_model-00002-of-00002.bin'),
    );
  });
});
