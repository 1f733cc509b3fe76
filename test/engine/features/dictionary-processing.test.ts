/**
 * SAELens SAEs read their hooks as the TransformerLens model they were trained on holds them
 * (DictionaryLayer.processing, src/engine/features/dictionary-input.ts), against float64 reference
 * forwards of tiny random models (test/helpers/reference-*.ts):
 *
 * - GPT-2 (LayerNorm) under TransformerLens's default processing (no model_from_pretrained_kwargs):
 *   the encoder reads the residual stream minus its mean over d_model, and the reconstruction error
 *   is measured against the same centred stream;
 * - with model_from_pretrained_kwargs {center_writing_weights: false}: the raw stream;
 * - Llama (RMSNorm) is never centred, whatever the flags;
 * - ln2.hook_normalized with fold_ln off is after LayerNorm's weight and bias.
 *
 * circuit-tracer's transcoders load with no processing, as its ReplacementModel loads its model.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dictionary } from '../../../src/engine/features/dictionary.js';
import { dictionaryHookSources, dictionaryInput } from '../../../src/engine/features/dictionary-input.js';
import { encoderInput } from '../../../src/engine/features/encode.js';
import { featureActivations } from '../../../src/engine/features/feature-activations.js';
import { loadDictionary } from '../../../src/engine/features/load-dictionary.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomLlama } from '../../../src/engine/model/random-llama.js';
import { writeSafetensorsFile } from '../../../src/engine/model/safetensors-writer.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { MatmulSessions } from '../../../src/engine/runtime/matmul-session.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { randomModelFolder, withinTolerance } from '../../helpers/model-fixtures.js';
import { referenceDecode, referenceEncode, referenceMlpInput, type ReferenceDictionaryLayer } from '../../helpers/reference-features.js';
import { referenceGpt2Forward, type ReferenceTensor } from '../../helpers/reference-gpt2.js';
import { referenceLlamaForward } from '../../helpers/reference-llama.js';

const IDS = [464, 3797, 3332, 319, 262, 2603, 13, 383];
const P = IDS.length;
const D = 64;
const F = 48;

const root = mkdtempSync(join(tmpdir(), 'ct-dict-processing-'));
after(() => rmSync(root, { recursive: true, force: true }));

const values = (n: number, seed: number, scale: number, offset = 0): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => Math.fround(offset + scale * Math.sin(seed * 7.1 + i * 1.3 + Math.sin(i * 0.37))));

/** A SAELens SAE folder (ReLU, apply_b_dec_to_input) reading `hook`, with cfg.json fields `extra`. */
async function saelensFolder(hook: string, extra: Record<string, unknown>): Promise<string> {
  const dir = mkdtempSync(join(root, 'sae-'));
  const cfg = { architecture: 'standard', d_in: D, d_sae: F, hook_name: hook, apply_b_dec_to_input: true, model_name: 'test', ...extra };
  writeFileSync(join(dir, 'cfg.json'), JSON.stringify(cfg));
  await writeSafetensorsFile(join(dir, 'sae_weights.safetensors'), [
    { name: 'W_enc', dtype: 'F32', shape: [D, F], data: values(D * F, 1, 3 / Math.sqrt(D)) },
    { name: 'W_dec', dtype: 'F32', shape: [F, D], data: values(F * D, 2, 0.05) },
    { name: 'b_enc', dtype: 'F32', shape: [F], data: values(F, 3, 0.02) },
    { name: 'b_dec', dtype: 'F32', shape: [D], data: values(D, 4, 0.01) },
  ]);
  return dir;
}

/** Each [d] row of `x` minus its mean, in float64: TransformerLens's center_writing_weights stream. */
function centredRows(x: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let start = 0; start < x.length; start += d) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[start + i]!;
    mean /= d;
    for (let i = 0; i < d; i++) out[start + i] = x[start + i]! - mean;
  }
  return out;
}

/** x − b_dec per row: what W_enc multiplies with apply_b_dec_to_input. */
function minusBias(x: ArrayLike<number>, bias: Float32Array): Float64Array {
  return Float64Array.from({ length: x.length }, (_, k) => x[k]! - bias[k % D]!);
}

function referenceLayer(dictionary: Dictionary): ReferenceDictionaryLayer {
  const layer = dictionary.layers[0]!;
  return { ...layer, decoders: [layer.decoder(0).all()] };
}

/** The loaded SAE's encoder input on `model`, [pos, d_in]. */
async function encoderInputOn(model: InstrumentedModel, dictionary: Dictionary): Promise<Float32Array> {
  const layer = dictionary.layers[0]!;
  const { cache } = await model.forward(IDS, { hooks: dictionaryHookSources(layer.inputHook, model.config) });
  return encoderInput(layer, dictionaryInput(layer.inputHook, cache, model.config, model.weights, layer.processing)).input;
}

describe('SAELens SAEs on a tiny random GPT-2 (LayerNorm)', () => {
  let model: InstrumentedModel;
  let matmul: MatmulSessions;
  let ref: Map<string, ReferenceTensor>;
  let tensors: Awaited<ReturnType<typeof randomModelFolder>>['tensors'];
  before(async () => {
    const fixture = await randomModelFolder('tiny', 7);
    tensors = fixture.tensors;
    model = await InstrumentedModel.create((await loadModelFolder(fixture.dir)).model, { device: 'cpu' });
    matmul = await MatmulSessions.create(1);
    ref = referenceGpt2Forward(fixture.tensors, { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 }, IDS);
  });
  after(async () => {
    await model.dispose();
    await matmul.dispose();
  });

  /** The SAE's features and reconstruction error on the prompt against the reference reading hook value `x`. */
  async function assertFeaturesOf(dictionary: Dictionary, x: Float64Array): Promise<void> {
    const { layers } = await featureActivations(model, matmul, dictionary, IDS, { topK: 4 });
    const view = layers[0]!;
    const layer = referenceLayer(dictionary);
    const expected = referenceEncode(layer, x, P);
    const dense = new Float64Array(P * F);
    view.active.positions.forEach((p, i) => (dense[p * F + view.active.features[i]!] = view.active.activations[i]!));
    for (let j = 0; j < dense.length; j++)
      if (Math.abs(expected.pre[j]!) > 1e-4) assert.ok(Math.abs(dense[j]! - expected.acts[j]!) <= 1e-4, `activation ${j}: ${dense[j]} vs ${expected.acts[j]}`);
    const active = expected.acts.filter((a) => a > 0).length;
    assert.ok(active > P && active < P * F, `${active} active`);
    // The reconstruction error is measured against the same value of the hook the SAE was trained on.
    const recon = referenceDecode(layer, expected, x, P);
    for (let p = 0; p < P; p++) {
      let e = 0,
        n = 0;
      for (let i = 0; i < D; i++) {
        e += (x[p * D + i]! - recon[p * D + i]!) ** 2;
        n += x[p * D + i]! ** 2;
      }
      assert.ok(Math.abs(view.reconstructionError[p]! - Math.sqrt(e)) <= 1e-4, `error at ${p}: ${view.reconstructionError[p]} vs ${Math.sqrt(e)}`);
      assert.ok(Math.abs(view.hookNorm[p]! - Math.sqrt(n)) <= 1e-4, `norm at ${p}: ${view.hookNorm[p]} vs ${Math.sqrt(n)}`);
    }
  }

  test('without model_from_pretrained_kwargs (TransformerLens defaults) the encoder reads the residual stream minus its mean', async () => {
    const dictionary = await loadDictionary(await saelensFolder('blocks.1.hook_resid_pre', {}), model.config);
    try {
      const layer = dictionary.layers[0]!;
      assert.deepEqual(layer.processing, { centerWritingWeights: true, foldLn: true });
      const raw = ref.get('blocks.1.hook_resid_pre')!.data;
      const centred = centredRows(raw, D);
      const input = await encoderInputOn(model, dictionary);
      const { ok, diff } = withinTolerance(input, minusBias(centred, layer.b_dec[0]!), 1e-4);
      assert.ok(ok, `max difference ${diff.toExponential(3)}`);
      // The stream's mean is above the tolerance: the raw stream would not match.
      assert.ok(!withinTolerance(input, minusBias(raw, layer.b_dec[0]!), 1e-4).ok);
      await assertFeaturesOf(dictionary, centred);
    } finally {
      dictionary.dispose();
    }
  });

  test('with model_from_pretrained_kwargs {center_writing_weights: false} the encoder reads the raw residual stream', async () => {
    const dictionary = await loadDictionary(
      await saelensFolder('blocks.1.hook_resid_pre', { metadata: { model_from_pretrained_kwargs: { center_writing_weights: false } } }),
      model.config,
    );
    try {
      const layer = dictionary.layers[0]!;
      assert.deepEqual(layer.processing, { centerWritingWeights: false, foldLn: true });
      const raw = Float64Array.from(ref.get('blocks.1.hook_resid_pre')!.data);
      const input = await encoderInputOn(model, dictionary);
      const { ok, diff } = withinTolerance(input, minusBias(raw, layer.b_dec[0]!), 1e-4);
      assert.ok(ok, `max difference ${diff.toExponential(3)}`);
      await assertFeaturesOf(dictionary, raw);
    } finally {
      dictionary.dispose();
    }
  });

  for (const foldLn of [true, false]) {
    test(`ln2.hook_normalized with fold_ln ${foldLn ? 'on is before' : 'off is after'} LayerNorm's weight and bias`, async () => {
      const dictionary = await loadDictionary(
        await saelensFolder('blocks.0.ln2.hook_normalized', { model_from_pretrained_kwargs: { fold_ln: foldLn } }),
        model.config,
      );
      try {
        const layer = dictionary.layers[0]!;
        assert.deepEqual(layer.processing, { centerWritingWeights: true, foldLn });
        const expected = referenceMlpInput('gpt2', tensors, ref, 0, 1e-5, !foldLn);
        const other = referenceMlpInput('gpt2', tensors, ref, 0, 1e-5, foldLn);
        const input = await encoderInputOn(model, dictionary);
        const { ok, diff } = withinTolerance(input, minusBias(expected, layer.b_dec[0]!), 1e-4);
        assert.ok(ok, `max difference ${diff.toExponential(3)}`);
        assert.ok(!withinTolerance(input, minusBias(other, layer.b_dec[0]!), 1e-2).ok, 'the weights matter');
      } finally {
        dictionary.dispose();
      }
    });
  }
});

describe('SAELens SAEs on a tiny random Llama (RMSNorm)', () => {
  let model: InstrumentedModel;
  let ref: Map<string, ReferenceTensor>;
  before(async () => {
    const random = generateRandomLlama('llama', 'tiny', 41);
    const dir = mkdtempSync(join(root, 'llama-'));
    await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() } as never);
    model = await InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' });
    ref = referenceLlamaForward(new Map(random.tensors.map((t) => [t.name, t])), random.config, IDS);
  });
  after(() => model.dispose());

  test('the residual stream is never centred: TransformerLens does not centre RMSNorm models', async () => {
    for (const extra of [{}, { model_from_pretrained_kwargs: { center_writing_weights: true, fold_ln: false } }]) {
      const dictionary = await loadDictionary(await saelensFolder('blocks.1.hook_resid_pre', extra), model.config);
      try {
        const layer = dictionary.layers[0]!;
        assert.equal(layer.processing.centerWritingWeights, true);
        const raw = ref.get('blocks.1.hook_resid_pre')!.data;
        const input = await encoderInputOn(model, dictionary);
        const { ok, diff } = withinTolerance(input, minusBias(raw, layer.b_dec[0]!), 1e-4);
        assert.ok(ok, `${JSON.stringify(extra)}: max difference ${diff.toExponential(3)}`);
      } finally {
        dictionary.dispose();
      }
    }
  });
});
