/**
 * Llama-family models (llama, mistral, qwen2, qwen3) on the ONNX engine against the independent
 * float64 reference (test/helpers/reference-llama.ts): every hook point within 1e-4, patterns within
 * 1e-5, on seeded random checkpoints whose settings exercise each type's features (llama3 rope
 * scaling past original_max_position_embeddings and GQA; Mistral's sliding window shorter than the
 * prompt; Qwen2's q/k/v biases and tied embeddings; Qwen3's head_dim != hidden / heads and q/k norms).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allHookNames } from '../../../src/engine/hooks.js';
import { LLAMA_FAMILY_TYPES } from '../../../src/engine/model/adapters/llama-config.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomLlama, type RandomLlama } from '../../../src/engine/model/random-llama.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { withinTolerance } from '../../helpers/model-fixtures.js';
import { referenceLlamaForward } from '../../helpers/reference-llama.js';

/** 40 tokens: past the random llama's original_max_position_embeddings (32) and Mistral's window (4). */
const IDS = Array.from({ length: 40 }, (_, i) => (i * 7919 + 13) % 50257);

for (const arch of LLAMA_FAMILY_TYPES) {
  describe(`tiny random ${arch}`, () => {
    let random: RandomLlama;
    let model: InstrumentedModel;
    before(async () => {
      random = generateRandomLlama(arch, 'tiny', 11);
      const dir = mkdtempSync(join(tmpdir(), `ct-${arch}-`));
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      model = await InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' });
    });
    after(() => model.dispose());

    test('every hook point matches the float64 reference', async () => {
      const { cache } = await model.forward(IDS, { hooks: 'all' });
      const ref = referenceLlamaForward(new Map(random.tensors.map((t) => [t.name, t])), random.config, IDS);
      const names = allHookNames(2, 'llama');
      assert.deepEqual([...cache.keys()].sort(), [...names].sort());
      assert.deepEqual([...ref.keys()].sort(), [...names].sort(), 'the reference computes every hook point');
      for (const name of names) {
        const a = cache.get(name)!,
          e = ref.get(name)!;
        assert.deepEqual(a.shape, e.shape, `${name} shape`);
        const tol = name.endsWith('hook_pattern') ? 1e-5 : 1e-4;
        const { ok, diff } = withinTolerance(a.data, e.data, tol);
        assert.ok(ok, `${name}: max difference ${diff.toExponential(3)} exceeds ${tol}`);
      }
    });

    test('GPT-2-only hooks are refused by name', async () => {
      await assert.rejects(model.forward([1, 2], { hooks: ['hook_pos_embed'] }), /hook_pos_embed" is not a hook point of this model/);
    });
  });
}

test('the features the random models are meant to exercise are present', () => {
  const llama = generateRandomLlama('llama', 'tiny', 1).config;
  assert.equal((llama['rope_scaling'] as { rope_type: string }).rope_type, 'llama3');
  assert.ok((llama['rope_scaling'] as { original_max_position_embeddings: number }).original_max_position_embeddings < IDS.length);
  assert.ok((llama['num_key_value_heads'] as number) < (llama['num_attention_heads'] as number));
  assert.ok((generateRandomLlama('mistral', 'tiny', 1).config['sliding_window'] as number) < IDS.length);
  assert.ok(generateRandomLlama('qwen2', 'tiny', 1).tensors.some((t) => t.name === 'model.layers.0.self_attn.q_proj.bias'));
  const qwen3 = generateRandomLlama('qwen3', 'tiny', 1);
  assert.notEqual((qwen3.config['head_dim'] as number) * (qwen3.config['num_attention_heads'] as number), qwen3.config['hidden_size']);
  assert.ok(qwen3.tensors.some((t) => t.name === 'model.layers.1.self_attn.k_norm.weight'));
});
