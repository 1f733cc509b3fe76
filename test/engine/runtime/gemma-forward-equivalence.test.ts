/**
 * Gemma models (gemma2, gemma3_text) on the ONNX engine against the independent float64 reference
 * (test/helpers/reference-gemma.ts): every hook point within 1e-4, patterns within 1e-5, on seeded
 * random checkpoints whose settings exercise each feature (a sliding window shorter than the prompt
 * on alternate layers, head_dim * heads != hidden_size, query_pre_attn_scalar != head_dim, GQA;
 * Gemma 2's attention and final soft-caps; Gemma 3's q/k norms, local and global RoPE bases and
 * linear rope scaling).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allHookNames } from '../../../src/engine/hooks.js';
import { GEMMA_TYPES } from '../../../src/engine/model/adapters/gemma-config.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGemma, type RandomGemma } from '../../../src/engine/model/random-gemma.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { withinTolerance } from '../../helpers/model-fixtures.js';
import { referenceGemmaForward } from '../../helpers/reference-gemma.js';

/** 24 tokens: past the random models' sliding window (4). */
const IDS = Array.from({ length: 24 }, (_, i) => (i * 7919 + 13) % 50257);

for (const arch of GEMMA_TYPES) {
  describe(`tiny random ${arch}`, () => {
    let random: RandomGemma;
    let model: InstrumentedModel;
    before(async () => {
      random = generateRandomGemma(arch, 'tiny', 11);
      const dir = mkdtempSync(join(tmpdir(), `ct-${arch}-`));
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      model = await InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' });
    });
    after(() => model.dispose());

    test('every hook point matches the float64 reference', async () => {
      const { cache } = await model.forward(IDS, { hooks: 'all' });
      const { hooks: ref } = referenceGemmaForward(new Map(random.tensors.map((t) => [t.name, t])), random.config, IDS);
      const names = allHookNames(2, 'gemma');
      assert.ok(names.includes('blocks.1.ln1_post.hook_scale') && names.includes('blocks.0.ln2_post.hook_scale'));
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

describe('a multimodal gemma3 checkpoint: its language model, in either tensor layout, as the float64 reference of the text model', () => {
  const random = generateRandomGemma('gemma3_text', 'tiny', 12);
  const ids = IDS.slice(0, 12);
  const reference = referenceGemmaForward(new Map(random.tensors.map((t) => [t.name, t])), random.config, ids).hooks;
  const config = {
    architectures: ['Gemma3ForConditionalGeneration'],
    model_type: 'gemma3',
    text_config: { ...random.config, architectures: undefined },
    vision_config: { model_type: 'siglip_vision_model', hidden_size: 8 },
    mm_tokens_per_image: 256,
  };
  const vision = [
    { name: 'vision_tower.vision_model.post_layernorm.weight', shape: [8], data: new Float32Array(8).fill(1) },
    { name: 'multi_modal_projector.mm_input_projection_weight', shape: [8, 64], data: new Float32Array(8 * 64) },
  ];
  for (const [layout, rename] of [
    ['language_model.model.*', (name: string) => `language_model.${name}`],
    ['model.language_model.*', (name: string) => name.replace(/^model\./, 'model.language_model.')],
  ] as const) {
    test(layout, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ct-gemma3-mm-'));
      const tensors = [...random.tensors.map((t) => ({ ...t, name: rename(t.name) })), ...vision];
      await writeHfFolder(dir, { config, tensors, tokenizerJson: loadGpt2TokenizerJson() });
      const loaded = (await loadModelFolder(dir)).model;
      assert.equal(loaded.config.modelType, 'gemma3');
      const model = await InstrumentedModel.create(loaded, { device: 'cpu' });
      try {
        const { cache } = await model.forward(ids, { hooks: 'all' });
        for (const name of allHookNames(2, 'gemma')) {
          const tol = name.endsWith('hook_pattern') ? 1e-5 : 1e-4;
          const { ok, diff } = withinTolerance(cache.get(name)!.data, reference.get(name)!.data, tol);
          assert.ok(ok, `${name}: max difference ${diff.toExponential(3)} exceeds ${tol}`);
        }
      } finally {
        await model.dispose();
      }
    });
  }
});

test('the features the random models are meant to exercise are present and change the numbers', () => {
  for (const arch of GEMMA_TYPES) {
    const { config } = generateRandomGemma(arch, 'tiny', 1);
    const [Dh, H, Hkv, D] = [config['head_dim'], config['num_attention_heads'], config['num_key_value_heads'], config['hidden_size']] as number[];
    assert.ok((config['sliding_window'] as number) < IDS.length);
    assert.notEqual(Dh! * H!, D);
    assert.notEqual(config['query_pre_attn_scalar'], Dh);
    assert.ok(Hkv! < H!);
  }
  // Gemma 2's soft-caps: the reference with and without them differs in patterns and logits.
  const g2 = generateRandomGemma('gemma2', 'tiny', 1);
  const weights = new Map(g2.tensors.map((t) => [t.name, t]));
  const ids = IDS.slice(0, 8);
  const capped = referenceGemmaForward(weights, g2.config, ids);
  const uncapped = referenceGemmaForward(weights, { ...g2.config, attn_logit_softcapping: null, final_logit_softcapping: null }, ids);
  const maxDiff = (a: Float64Array, b: Float64Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
  assert.ok(maxDiff(capped.hooks.get('blocks.0.attn.hook_pattern')!.data, uncapped.hooks.get('blocks.0.attn.hook_pattern')!.data) > 1e-2);
  assert.ok(maxDiff(capped.hooks.get('logits')!.data, capped.preSoftcapLogits) > 0.5);
  // Gemma 3: layer 0 slides (local RoPE base), layer 1 is global (rope_theta with linear scaling), q/k norms present.
  const g3 = generateRandomGemma('gemma3_text', 'tiny', 1);
  assert.equal(g3.config['sliding_window_pattern'], 2);
  assert.equal((g3.config['rope_scaling'] as { rope_type: string }).rope_type, 'linear');
  assert.ok(g3.tensors.some((t) => t.name === 'model.layers.1.self_attn.k_norm.weight'));
});
