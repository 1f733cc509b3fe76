/**
 * SAELens cfg.json in its several generations (the first releases' hook_point and
 * hook_point_layer, SAELens 6's metadata object and top-level k, boolean normalize_activations),
 * a training JumpReLU's log_threshold, and SAELens's transcoders (hook_name_out, d_out, a skip
 * transcoder's W_skip [d_out, d_in]) load with their tensors as written.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DictionaryModelConfig } from '../../../src/engine/features/dictionary-hooks.js';
import { loadDictionary } from '../../../src/engine/features/load-dictionary.js';
import { writeSafetensorsFile, type TensorToWrite } from '../../../src/engine/model/safetensors-writer.js';

const MODEL: DictionaryModelConfig = { nLayers: 3, dModel: 6 };
const D = 6;
const N = 5;
const root = mkdtempSync(join(tmpdir(), 'ct-load-saelens-'));
after(() => rmSync(root, { recursive: true, force: true }));

const values = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed * 7.1 + i * 1.3)));
const tensor = (name: string, shape: number[], seed: number): TensorToWrite => ({
  name,
  dtype: 'F32',
  shape,
  data: values(
    shape.reduce((a, b) => a * b, 1),
    seed,
  ),
});

async function folder(cfg: Record<string, unknown>, tensors: TensorToWrite[]): Promise<string> {
  const dir = mkdtempSync(join(root, 'sae-'));
  writeFileSync(join(dir, 'cfg.json'), JSON.stringify(cfg));
  await writeSafetensorsFile(join(dir, 'sae_weights.safetensors'), tensors);
  return dir;
}

const saeTensors = (): TensorToWrite[] => [tensor('W_enc', [D, N], 1), tensor('W_dec', [N, D], 2), tensor('b_enc', [N], 3), tensor('b_dec', [D], 4)];

describe('SAELens configs', () => {
  it("the model's TransformerLens processing: TransformerLens's defaults, model_from_pretrained_kwargs (top level or in metadata), none for AutoModelForCausalLM", async () => {
    const cases: Array<[Record<string, unknown>, { centerWritingWeights: boolean; foldLn: boolean }]> = [
      [{}, { centerWritingWeights: true, foldLn: true }],
      [{ model_from_pretrained_kwargs: {} }, { centerWritingWeights: true, foldLn: true }],
      [{ model_from_pretrained_kwargs: { center_writing_weights: false } }, { centerWritingWeights: false, foldLn: true }],
      [
        { metadata: { model_from_pretrained_kwargs: { fold_ln: false, center_writing_weights: false, center_unembed: false } } },
        { centerWritingWeights: false, foldLn: false },
      ],
      [
        { model_class_name: 'HookedTransformer', model_from_pretrained_kwargs: { fold_ln: false } },
        { centerWritingWeights: true, foldLn: false },
      ],
      [{ model_class_name: 'AutoModelForCausalLM' }, { centerWritingWeights: false, foldLn: false }],
    ];
    for (const [extra, processing] of cases) {
      const loaded = await loadDictionary(await folder({ d_in: D, d_sae: N, hook_name: 'blocks.0.hook_resid_pre', ...extra }, saeTensors()), MODEL);
      try {
        assert.deepEqual(loaded.layers[0]!.processing, processing, JSON.stringify(extra));
      } finally {
        loaded.dispose();
      }
    }
    for (const bad of [{ model_from_pretrained_kwargs: 'fold_ln' }, { model_from_pretrained_kwargs: { center_writing_weights: 'no' } }])
      await assert.rejects(
        loadDictionary(await folder({ d_in: D, d_sae: N, hook_name: 'blocks.0.hook_resid_pre', ...bad }, saeTensors()), MODEL),
        (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /model_from_pretrained_kwargs/.test(e.message),
        JSON.stringify(bad),
      );
  });

  it("the first releases' hook_point and hook_point_layer, boolean normalize_activations false", async () => {
    const dir = await folder(
      { d_in: D, d_sae: N, hook_point: 'blocks.2.hook_resid_pre', hook_point_layer: 2, normalize_activations: false, model_name: 'gpt2-small' },
      saeTensors(),
    );
    const loaded = await loadDictionary(dir, MODEL);
    try {
      const layer = loaded.layers[0]!;
      assert.equal(loaded.modelName, 'gpt2-small');
      assert.equal(layer.inputHook, 'blocks.2.hook_resid_pre');
      assert.deepEqual(layer.activation, { kind: 'relu' });
      assert.equal(layer.applyBDecToInput, true, "SAELens's default");
      assert.deepEqual(layer.normalization, { kind: 'none' });
      assert.deepEqual(Array.from(layer.W_enc), Array.from(values(D * N, 1)));
      assert.deepEqual(Array.from(layer.decoder(0).all()), Array.from(values(N * D, 2)));
    } finally {
      loaded.dispose();
    }
  });

  it("SAELens 6: hook_name and model_name under metadata, a topk SAE's k at the top level, constant_norm_rescale", async () => {
    const cfg = {
      architecture: 'topk',
      d_in: D,
      d_sae: N,
      k: 2,
      apply_b_dec_to_input: false,
      normalize_activations: 'constant_norm_rescale',
      metadata: { model_name: 'meta-llama/Llama-3.2-1B', hook_name: 'blocks.1.hook_resid_post', sae_lens_version: '6.5.0' },
    };
    const loaded = await loadDictionary(await folder(cfg, saeTensors()), MODEL);
    try {
      assert.equal(loaded.modelName, 'meta-llama/Llama-3.2-1B');
      assert.equal(loaded.layers[0]!.inputHook, 'blocks.1.hook_resid_post');
      assert.deepEqual(loaded.layers[0]!.activation, { kind: 'topk', k: 2 });
      assert.equal(loaded.layers[0]!.applyBDecToInput, false);
      assert.deepEqual(loaded.layers[0]!.normalization, { kind: 'constant_norm_rescale' });
    } finally {
      loaded.dispose();
    }
  });

  it('a JumpReLU SAE saved with log_threshold: the threshold is its exp', async () => {
    const loaded = await loadDictionary(
      await folder({ architecture: 'jumprelu', d_in: D, d_sae: N, hook_name: 'blocks.0.hook_mlp_out' }, [...saeTensors(), tensor('log_threshold', [N], 5)]),
      MODEL,
    );
    try {
      const activation = loaded.layers[0]!.activation;
      assert.equal(activation.kind, 'jumprelu');
      if (activation.kind === 'jumprelu')
        assert.deepEqual(
          Array.from(activation.threshold),
          Array.from(values(N, 5), (x) => Math.fround(Math.exp(x))),
        );
    } finally {
      loaded.dispose();
    }
  });

  it('a SAELens skip transcoder: the encoder on hook_name, the decoder and W_skip to hook_name_out', async () => {
    const cfg = {
      architecture: 'skip_transcoder',
      d_in: D,
      d_sae: N,
      d_out: D,
      hook_name: 'blocks.1.ln2.hook_normalized',
      hook_name_out: 'blocks.1.hook_mlp_out',
      apply_b_dec_to_input: true,
    };
    const skip = tensor('W_skip', [D, D], 6);
    const loaded = await loadDictionary(await folder(cfg, [...saeTensors(), skip]), MODEL);
    try {
      const layer = loaded.layers[0]!;
      assert.equal(loaded.kind, 'transcoder');
      assert.equal(layer.inputHook, 'blocks.1.ln2.hook_normalized');
      assert.deepEqual(layer.outputHooks, ['blocks.1.hook_mlp_out']);
      assert.equal(layer.applyBDecToInput, false, 'a transcoder encodes its raw input');
      // Ours is [d_in, d_out]: the transpose of the stored [d_out, d_in].
      const expected = Array.from({ length: D * D }, (_, i) => skip.data[(i % D) * D + Math.floor(i / D)]!);
      assert.deepEqual(Array.from(layer.W_skip!), expected);
    } finally {
      loaded.dispose();
    }
    await assert.rejects(
      loadDictionary(await folder({ ...cfg, hook_name_out: undefined }, [...saeTensors(), skip]), MODEL),
      (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /hook_name_out/.test(e.message),
    );
    await assert.rejects(
      loadDictionary(await folder({ ...cfg, d_out: 12 }, [...saeTensors(), skip]), MODEL),
      (e: Error & { code?: string }) => e.code === 'WRONG_SHAPE' && /d_out is 12/.test(e.message),
    );
  });
});
