/** Bad model folders and bad inputs give typed errors whose message says what to do. */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../../../src/engine/errors.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGpt2 } from '../../../src/engine/model/random-gpt2.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { randomModelFolder, type RandomModelFixture } from '../../helpers/model-fixtures.js';

function copyFixture(fixture: RandomModelFixture): string {
  const dir = mkdtempSync(join(tmpdir(), 'ct-bad-'));
  cpSync(fixture.dir, dir, { recursive: true });
  return dir;
}

async function rejectsWith(promise: Promise<unknown>, code: string, messagePart?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof EngineError, `expected EngineError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (messagePart) assert.match(error.message, messagePart);
    return true;
  });
}

describe('model folder errors', () => {
  let fixture: RandomModelFixture;
  before(async () => {
    fixture = await randomModelFolder('tiny', 11);
  });

  test('a folder that does not exist', async () => {
    await rejectsWith(loadModelFolder('/nonexistent/model'), 'MODEL_NOT_FOUND', /config\.json/);
  });

  for (const file of ['config.json', 'tokenizer.json', 'model.safetensors']) {
    test(`a folder without ${file}`, async () => {
      const dir = copyFixture(fixture);
      rmSync(join(dir, file));
      await rejectsWith(loadModelFolder(dir), 'MODEL_FILE_MISSING', new RegExp(file.replace('.', '\\.')));
    });
  }

  test('an unknown architecture names the supported ones', async () => {
    const dir = copyFixture(fixture);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'mamba' }));
    await rejectsWith(loadModelFolder(dir), 'UNKNOWN_ARCHITECTURE', /mamba.*Supported model types: gpt2.*llama, mistral, qwen2, qwen3/s);
  });

  test('a truncated safetensors file', async () => {
    const dir = copyFixture(fixture);
    const path = join(dir, 'model.safetensors');
    truncateSync(path, Math.floor(statSync(path).size / 2));
    await rejectsWith(loadModelFolder(dir), 'CORRUPT_WEIGHTS', /truncated|past the end|beyond/i);
  });

  test('config.json that disagrees with the weights', async () => {
    const dir = copyFixture(fixture);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, n_embd: 128, n_head: 4 }));
    await rejectsWith(loadModelFolder(dir), 'WRONG_SHAPE', /expected/);
  });

  test('a sharded checkpoint whose index puts the shards in a subfolder loads; an index pointing outside the folder is refused', async () => {
    const sharded = await randomModelFolder('tiny', 11, { shards: 2 });
    const dir = copyFixture(sharded);
    const indexPath = join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map: Record<string, string> };
    mkdirSync(join(dir, 'shards'));
    for (const shard of new Set(Object.values(index.weight_map))) renameSync(join(dir, shard), join(dir, 'shards', shard));
    const moved = Object.fromEntries(Object.entries(index.weight_map).map(([name, shard]) => [name, `shards/${shard}`]));
    writeFileSync(indexPath, JSON.stringify({ ...index, weight_map: moved }));
    const { model } = await loadModelFolder(dir);
    assert.deepEqual(model.weights.W_E.data, sharded.model.weights.W_E.data);

    const escaping = Object.fromEntries(Object.keys(index.weight_map).map((name) => [name, '../model.safetensors']));
    writeFileSync(indexPath, JSON.stringify({ ...index, weight_map: escaping }));
    await rejectsWith(loadModelFolder(dir), 'CORRUPT_WEIGHTS', /not a file inside the model folder/);
  });

  test('a config.json that is not JSON', async () => {
    const dir = copyFixture(fixture);
    writeFileSync(join(dir, 'config.json'), '{ not json');
    await rejectsWith(loadModelFolder(dir), 'BAD_CONFIG');
  });
});

describe('tokenizer and weights that do not belong together', () => {
  const dims = { nLayers: 1, nHeads: 2, dModel: 8, dMlp: 16, nCtx: 8 };
  /** A folder with a random GPT-2 of `dVocab` embedding rows and the given tokenizer and extra config keys. */
  async function folderWith(dVocab: number, tokenizerJson: object, extraConfig: Record<string, unknown> = {}): Promise<string> {
    const model = generateRandomGpt2({ shape: { ...dims, dVocab } }, 5);
    const dir = mkdtempSync(join(tmpdir(), 'ct-vocab-'));
    await writeHfFolder(dir, { config: { ...model.config, ...extraConfig }, tensors: model.tensors, tokenizerJson });
    return dir;
  }
  /** GPT-2's tokenizer cut down to its first `size` ids (the byte alphabet and then some), without merges. */
  function truncatedGpt2Tokenizer(size: number): object {
    const json = loadGpt2TokenizerJson();
    const vocab = Object.fromEntries(Object.entries(json.model.vocab).filter(([, id]) => id < size));
    return { ...json, model: { ...json.model, vocab, merges: [] }, added_tokens: [] };
  }

  test('a tokenizer with ids beyond the embedding is refused at load with VOCAB_MISMATCH', async () => {
    const dir = await folderWith(1000, loadGpt2TokenizerJson());
    await rejectsWith(loadModelFolder(dir), 'VOCAB_MISMATCH', /50257.*1000/s);
  });

  test('an embedding padded past the tokenizer (as nanoGPT pads 50257 to 50304) loads', async () => {
    const dir = await folderWith(50304, loadGpt2TokenizerJson());
    const { model, tokenizer } = await loadModelFolder(dir);
    assert.equal(model.config.dVocab, 50304);
    assert.equal(tokenizer.vocabSize, 50257);
  });

  test('a tokenizer much smaller than the embedding is refused unless config.json declares the padding', async () => {
    const small = truncatedGpt2Tokenizer(1000);
    await rejectsWith(loadModelFolder(await folderWith(2048, small)), 'VOCAB_MISMATCH', /1000.*2048/s);
    const { model } = await loadModelFolder(await folderWith(1024, small));
    assert.equal(model.config.dVocab, 1024, 'padding to the next multiple of 128 needs no declaration');
    const declared = await loadModelFolder(await folderWith(2048, small, { pad_vocab_size_multiple: 2048 }));
    assert.equal(declared.model.config.dVocab, 2048);
  });
});

describe('non-finite weights', () => {
  /** A random checkpoint with `value` planted at `index` of tensor `name`. */
  async function plantedFolder(name: string, index: number, value: number, options: { dtype?: 'F32' | 'F16' } = {}): Promise<string> {
    const model = generateRandomGpt2({ shape: { nLayers: 2, nHeads: 2, dModel: 8, dMlp: 16, nCtx: 8, dVocab: 50257 } }, 9);
    const target = model.tensors.find((t) => t.name === name);
    assert.ok(target, name);
    target.data[index] = value;
    const dir = mkdtempSync(join(tmpdir(), 'ct-nonfinite-'));
    await writeHfFolder(dir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() }, options);
    return dir;
  }

  test('a NaN in the weights is refused at load with NON_FINITE naming the tensor and the index', async () => {
    await rejectsWith(
      loadModelFolder(await plantedFolder('h.1.mlp.c_fc.weight', 37, NaN)),
      'NON_FINITE',
      /"h\.1\.mlp\.c_fc\.weight".*NaN.*index 37 \(\[2, 5\] of \[8, 16\]\)/s,
    );
  });

  test('an infinity is refused too, also where an F16 checkpoint overflowed', async () => {
    await rejectsWith(loadModelFolder(await plantedFolder('wpe.weight', 63, -Infinity)), 'NON_FINITE', /"wpe\.weight".*-Infinity.*index 63/s);
    await rejectsWith(
      loadModelFolder(await plantedFolder('h.0.ln_1.weight', 0, 1e6, { dtype: 'F16' })),
      'NON_FINITE',
      /"h\.0\.ln_1\.weight".*Infinity.*index 0/s,
    );
  });
});

describe('prompt errors in the forward pass', () => {
  let model: InstrumentedModel;
  before(async () => {
    const fixture = await randomModelFolder('tiny', 11);
    model = await InstrumentedModel.create((await loadModelFolder(fixture.dir)).model, { device: 'cpu' });
  });

  test('an empty prompt', async () => {
    await rejectsWith(model.forward([]), 'EMPTY_PROMPT');
  });
  test('a prompt longer than the context', async () => {
    await rejectsWith(model.forward(Array.from({ length: 129 }, () => 1)), 'PROMPT_TOO_LONG', /128/);
  });
  test('a token id outside the vocabulary', async () => {
    await rejectsWith(model.forward([1, 50257]), 'BAD_ARGUMENT', /50257/);
  });
  test('an unknown hook name', async () => {
    await rejectsWith(model.forward([1, 2], { hooks: ['blocks.7.attn.hook_z'] }), 'BAD_ARGUMENT', /hook point/);
  });
  test('a cancelled run', async () => {
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(model.forward([1, 2], { signal: controller.signal }), 'CANCELLED');
  });
  test('a device that is not available falls back to the CPU and says why', async () => {
    const fixture = await randomModelFolder('tiny', 11);
    const m = await InstrumentedModel.create((await loadModelFolder(fixture.dir)).model, { device: 'cuda' });
    assert.equal(m.provider, 'cpu');
    assert.match(m.deviceNote ?? '', /CUDA/);
    const { provider } = await m.forward([1, 2]);
    assert.equal(provider, 'cpu');
    await m.dispose();
  });
});
