/**
 * Gemma config.json reading: which layers slide (layer_types, Gemma 2's even layers, Gemma 3's
 * sliding_window_pattern), the RoPE of each layer kind (rope_local_base_freq, linear rope_scaling
 * on global layers only, transformers 5's rope_parameters per layer type), the soft-caps' HF
 * defaults, and refusals by name. Expected values are HF's configuration classes' rules, written out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gemmaConfig } from '../../../src/engine/model/adapters/gemma-config.js';
import { ropeInverseFrequencies } from '../../../src/engine/model/rope.js';

const base = {
  hidden_size: 64,
  num_hidden_layers: 8,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  intermediate_size: 128,
  vocab_size: 100,
  max_position_embeddings: 256,
  sliding_window: 4,
};

test('Gemma 2: even layers slide unless layer_types says otherwise; soft-caps default to 50 and 30', () => {
  const c = gemmaConfig({ ...base, model_type: 'gemma2' });
  assert.deepEqual(c.attentionWindow, [4, null, 4, null, 4, null, 4, null]);
  assert.equal(c.attnSoftcap, 50);
  assert.equal(c.finalSoftcap, 30);
  assert.equal(c.queryPreAttnScalar, 256);
  assert.equal(c.rotary!.theta, 10000);
  assert.equal(c.localRotary, undefined);
  const types = [
    'full_attention',
    'sliding_attention',
    'full_attention',
    'full_attention',
    'sliding_attention',
    'full_attention',
    'full_attention',
    'full_attention',
  ];
  assert.deepEqual(gemmaConfig({ ...base, model_type: 'gemma2', layer_types: types }).attentionWindow, [null, 4, null, null, 4, null, null, null]);
  const uncapped = gemmaConfig({ ...base, model_type: 'gemma2', attn_logit_softcapping: null, final_logit_softcapping: null });
  assert.equal(uncapped.attnSoftcap, null);
  assert.equal(uncapped.finalSoftcap, null);
});

test('Gemma 3: layer i is global when (i + 1) % sliding_window_pattern == 0 (default 6); local RoPE base; linear scaling on global layers only', () => {
  const c = gemmaConfig({ ...base, model_type: 'gemma3_text', rope_scaling: { rope_type: 'linear', factor: 8 } });
  assert.deepEqual(c.attentionWindow, [4, 4, 4, 4, 4, null, 4, 4]);
  assert.equal(c.attnSoftcap, null);
  assert.equal(c.finalSoftcap, null);
  assert.equal(c.qkNorm, true);
  assert.deepEqual(c.rotary, { theta: 1_000_000, llama3: null, linearFactor: 8 });
  assert.deepEqual(c.localRotary, { theta: 10000, llama3: null });
  const inv = ropeInverseFrequencies(c.rotary!, 16);
  for (let j = 0; j < 8; j++) assert.ok(Math.abs(inv[j]! - 1e6 ** (-(2 * j) / 16) / 8) < 1e-15);
  assert.deepEqual(gemmaConfig({ ...base, model_type: 'gemma3_text', sliding_window_pattern: 3 }).attentionWindow, [4, 4, null, 4, 4, null, 4, 4]);
  // transformers 5 writes the two RoPE settings per layer type.
  const v5 = gemmaConfig({
    ...base,
    model_type: 'gemma3_text',
    rope_parameters: { full_attention: { rope_type: 'linear', factor: 4, rope_theta: 500000 }, sliding_attention: { rope_type: 'default', rope_theta: 20000 } },
  });
  assert.deepEqual(v5.rotary, { theta: 500000, llama3: null, linearFactor: 4 });
  assert.deepEqual(v5.localRotary, { theta: 20000, llama3: null });
});

test("a multimodal Gemma 3 is read through its text_config, absent keys taking Gemma3TextConfig defaults (the Hub's gemma-3-4b-it layout)", () => {
  const c = gemmaConfig({
    architectures: ['Gemma3ForConditionalGeneration'],
    model_type: 'gemma3',
    text_config: {
      hidden_size: 2560,
      intermediate_size: 10240,
      model_type: 'gemma3_text',
      num_hidden_layers: 34,
      rope_scaling: { factor: 8.0, rope_type: 'linear' },
      sliding_window: 1024,
    },
    vision_config: { model_type: 'siglip_vision_model' },
  });
  assert.equal(c.modelType, 'gemma3');
  assert.deepEqual([c.nHeads, c.nKvHeads, c.dHead, c.dVocab, c.nCtx, c.queryPreAttnScalar], [8, 4, 256, 262208, 131072, 256]);
  assert.deepEqual(c.rotary, { theta: 1_000_000, llama3: null, linearFactor: 8 });
  assert.deepEqual(
    c.attentionWindow,
    Array.from({ length: 34 }, (_, i) => ((i + 1) % 6 === 0 ? null : 1024)),
  );
  assert.throws(
    () => gemmaConfig({ model_type: 'gemma3', text_config: { model_type: 'llama' } }),
    (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /"text_config.model_type"/.test(e.message),
  );
});

test('refusals name the field', () => {
  const refuses = (raw: Record<string, unknown>, pattern: RegExp): void =>
    assert.throws(
      () => gemmaConfig({ ...base, ...raw }),
      (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && pattern.test(e.message),
    );
  refuses({ model_type: 'gemma3_text', rope_scaling: { rope_type: 'dynamic', factor: 2 } }, /rope type "dynamic"/);
  refuses({ model_type: 'gemma2', layer_types: ['full_attention'] }, /"layer_types" has 1 entries for 8 layers/);
  refuses({ model_type: 'gemma2', num_key_value_heads: 3 }, /"num_key_value_heads"/);
  refuses({ model_type: 'gemma2', final_logit_softcapping: 'big' }, /"final_logit_softcapping"/);
});
