/**
 * Feature steering with the real model (src/engine/features/steer-features.ts) on a tiny random
 * GPT-2, against the float64 reference forward with the hooks changed by hand from the published
 * definitions (test/helpers/reference-features.ts): setting a feature to its own activation changes
 * nothing, scaling a transcoder feature and adding to a normalised SAE feature match the reference
 * at 1e-4 relative, edits at two layers compose (the later feature's old activation is read in the
 * run the earlier edit changed), and bad edits are typed errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/errors.js';
import { featureActivations } from '../../../src/engine/features/feature-activations.js';
import { steerFeatures } from '../../../src/engine/features/steer-features.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { MatmulSessions } from '../../../src/engine/runtime/matmul-session.js';
import { randomDictionary, randomTranscoders, type FixtureLayer } from '../../helpers/dictionary-fixtures.js';
import { randomModelFolder, type RandomModelFixture } from '../../helpers/model-fixtures.js';
import { referenceEncode, referenceMlpInput } from '../../helpers/reference-features.js';
import { referenceGpt2Forward, type ReferenceHookCallback, type ReferenceTensor } from '../../helpers/reference-gpt2.js';

const IDS = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797];
const P = IDS.length;
const D = 64;
const CONFIG = { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 };

/** Largest |a − b| over the largest |b| (at least 1). */
function relativeDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0,
    scale = 1;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

describe('feature steering on a tiny random GPT-2', () => {
  let fixture: RandomModelFixture;
  let model: InstrumentedModel;
  let matmul: MatmulSessions;
  const transcoders = randomTranscoders(2, D, 32, 51);
  const [t0, t1] = transcoders.layers as [FixtureLayer, FixtureLayer];
  before(async () => {
    fixture = await randomModelFolder('tiny', 7);
    model = await InstrumentedModel.create((await loadModelFolder(fixture.dir)).model, { device: 'cpu' });
    matmul = await MatmulSessions.create(1);
  });
  after(async () => {
    await model.dispose();
    await matmul.dispose();
  });

  const reference = (intervene?: ReferenceHookCallback): Map<string, ReferenceTensor> =>
    referenceGpt2Forward(fixture.tensors, CONFIG, IDS, intervene ? { intervene } : {});
  const lastLogits = (hooks: Map<string, ReferenceTensor>): Float64Array => {
    const logits = hooks.get('logits')!;
    const V = logits.shape[1]!;
    return logits.data.subarray((P - 1) * V, P * V);
  };
  /** Adds weight_p · row to `hook` at the given positions in the reference pass. */
  const adding =
    (hook: string, row: Float32Array, weights: Map<number, number>): ReferenceHookCallback =>
    (name, t) => {
      if (name !== hook) return;
      for (const [p, w] of weights) for (let i = 0; i < D; i++) t.data[p * D + i] = t.data[p * D + i]! + w * row[i]!;
    };
  const decoderRow = (layer: FixtureLayer, f: number, out = 0): Float32Array => layer.decoders[out]!.subarray(f * D, (f + 1) * D);
  /** The most active feature of a layer at position p in the reference. */
  const strongest = (acts: Float64Array, F: number, p: number): number => {
    let best = 0;
    for (let f = 1; f < F; f++) if (acts[p * F + f]! > acts[p * F + best]!) best = f;
    return best;
  };

  test('setting a feature to its own activation changes nothing', async () => {
    const { layers } = await featureActivations(model, matmul, transcoders, IDS);
    const view = layers[1]!;
    const at = view.active.positions.findIndex((p) => p === P - 1);
    const feature = view.active.features[at]!;
    const act = view.active.activations[at]!;
    const run = await steerFeatures(model, matmul, transcoders, IDS, [{ layer: 1, feature, kind: 'set', value: act, positions: [P - 1] }]);
    assert.equal(run.applied.length, 1);
    assert.ok(Math.abs(run.applied[0]!.before - act) <= 1e-6);
    assert.ok(relativeDiff(run.after, run.before) <= 1e-5, `changed by ${relativeDiff(run.after, run.before)}`);
  });

  test('scaling a transcoder feature equals the reference forward with hook_mlp_out changed by hand', async () => {
    const plain = reference();
    const enc = referenceEncode(t1, referenceMlpInput('gpt2', fixture.tensors, plain, 1, 1e-5, true), P);
    // Layer 1's MLP is after the last attention: only the last position's edit reaches its logits.
    const feature = strongest(enc.acts, 32, P - 1);
    const weights = new Map([2, P - 1].map((p) => [p, (3 - 1) * enc.acts[p * 32 + feature]!]));
    assert.ok(weights.get(P - 1)! > 0);
    const expected = lastLogits(reference(adding('blocks.1.hook_mlp_out', decoderRow(t1, feature), weights)));
    const run = await steerFeatures(model, matmul, transcoders, IDS, [{ layer: 1, feature, kind: 'scale', factor: 3, positions: [2, P - 1] }]);
    assert.ok(relativeDiff(run.after, expected) <= 1e-4, `steered logits differ by ${relativeDiff(run.after, expected)}`);
    assert.ok(relativeDiff(run.before, lastLogits(plain)) <= 1e-4);
    assert.ok(relativeDiff(run.after, run.before) > 1e-3, 'the edit moves the logits');
  });

  test('adding to a feature of a normalised SAE on hook_resid_pre adds v · W_dec / c to the stream', async () => {
    const sae = randomDictionary(
      'sae',
      D,
      [
        {
          layer: 1,
          inputHook: 'blocks.1.hook_resid_pre',
          outputHooks: ['blocks.1.hook_resid_pre'],
          dSae: 24,
          normalization: { kind: 'constant_norm_rescale' },
          decoderScale: 1,
        },
      ],
      61,
    );
    const layer = sae.layers[0]!;
    const plain = reference();
    const enc = referenceEncode(layer, plain.get('blocks.1.hook_resid_pre')!.data, P);
    const weights = new Map([[P - 1, 1.5 / enc.scale[P - 1]!]]);
    const expected = lastLogits(reference(adding('blocks.1.hook_resid_pre', decoderRow(layer, 7), weights)));
    const run = await steerFeatures(model, matmul, sae, IDS, [{ layer: 1, feature: 7, kind: 'add', value: 1.5, positions: [P - 1] }]);
    assert.ok(relativeDiff(run.after, expected) <= 1e-4, `steered logits differ by ${relativeDiff(run.after, expected)}`);
    assert.ok(relativeDiff(run.after, run.before) > 1e-3);
  });

  test('an SAE trained on the centred stream (center_writing_weights) is edited from its activation on the centred stream; its decoder row is added as it is', async () => {
    const spec = {
      layer: 1,
      inputHook: 'blocks.1.hook_resid_pre',
      outputHooks: ['blocks.1.hook_resid_pre'],
      dSae: 24,
      applyBDecToInput: true,
      encoderScale: 3,
      decoderScale: 1,
    };
    const sae = randomDictionary('sae', D, [{ ...spec, processing: { centerWritingWeights: true, foldLn: true } }], 81);
    const layer = sae.layers[0]!;
    const plain = reference();
    const raw = plain.get('blocks.1.hook_resid_pre')!.data;
    const centred = Float64Array.from(raw, (v, k) => {
      const p = Math.floor(k / D);
      let mean = 0;
      for (let i = 0; i < D; i++) mean += raw[p * D + i]! / D;
      return v - mean;
    });
    const enc = referenceEncode(layer, centred, P);
    const feature = strongest(enc.acts, 24, P - 1);
    const old = enc.acts[(P - 1) * 24 + feature]!;
    assert.ok(old > 0);
    const oldRaw = referenceEncode(layer, raw, P).acts[(P - 1) * 24 + feature]!;
    assert.ok(Math.abs(old - oldRaw) > 1e-3, 'centring changes the activation');
    // Ablation: the stream changes by −old · W_dec[f], the row as it is.
    const expected = lastLogits(reference(adding('blocks.1.hook_resid_pre', decoderRow(layer, feature), new Map([[P - 1, -old]]))));
    const run = await steerFeatures(model, matmul, sae, IDS, [{ layer: 1, feature, kind: 'set', value: 0, positions: [P - 1] }]);
    assert.ok(Math.abs(run.applied[0]!.before - old) <= 1e-4 * Math.max(1, old), `old activation ${run.applied[0]!.before} vs ${old}`);
    assert.ok(relativeDiff(run.after, expected) <= 1e-4, `steered logits differ by ${relativeDiff(run.after, expected)}`);
    assert.ok(relativeDiff(run.after, run.before) > 1e-3, 'the edit moves the logits');
  });

  test('edits at two layers compose: the later feature is edited from its value in the steered run', async () => {
    const plain = reference();
    const enc0 = referenceEncode(t0, referenceMlpInput('gpt2', fixture.tensors, plain, 0, 1e-5, true), P);
    const a = strongest(enc0.acts, 32, P - 1);
    // Layer 0: feature a × 4 everywhere.
    const w0 = new Map(Array.from({ length: P }, (_, p) => [p, 3 * enc0.acts[p * 32 + a]!] as const));
    const edit0 = adding('blocks.0.hook_mlp_out', decoderRow(t0, a), w0);
    const afterFirst = reference(edit0);
    const enc1 = referenceEncode(t1, referenceMlpInput('gpt2', fixture.tensors, afterFirst, 1, 1e-5, true), P);
    const enc1Plain = referenceEncode(t1, referenceMlpInput('gpt2', fixture.tensors, plain, 1, 1e-5, true), P);
    const b = strongest(enc1.acts, 32, P - 1);
    // Layer 1: feature b set to 0 at the last position (an ablation), from its activation after the first edit.
    const old = enc1.acts[(P - 1) * 32 + b]!;
    const oldPlain = enc1Plain.acts[(P - 1) * 32 + b]!;
    assert.ok(Math.abs(old - oldPlain) > 1e-3, 'the first edit changes the second feature');
    const both: ReferenceHookCallback = (name, t) => {
      edit0(name, t);
      adding('blocks.1.hook_mlp_out', decoderRow(t1, b), new Map([[P - 1, -old]]))(name, t);
    };
    const expected = lastLogits(reference(both));
    const run = await steerFeatures(model, matmul, transcoders, IDS, [
      { layer: 1, feature: b, kind: 'set', value: 0, positions: [P - 1] },
      { layer: 0, feature: a, kind: 'scale', factor: 4 },
    ]);
    const second = run.applied.find((e) => e.layer === 1)!;
    assert.ok(Math.abs(second.before - old) <= 1e-4 * Math.max(1, old), `layer 1's old activation ${second.before} vs ${old}`);
    assert.equal(second.after, 0);
    assert.equal(run.applied.filter((e) => e.layer === 0).length, P);
    assert.ok(relativeDiff(run.after, expected) <= 1e-4, `steered logits differ by ${relativeDiff(run.after, expected)}`);
  });

  test('a cross-layer edit through hook_resid_post patches the next layer and matches the reference', async () => {
    const sae = randomDictionary(
      'sae',
      D,
      [{ layer: 0, inputHook: 'blocks.0.hook_resid_post', outputHooks: ['blocks.0.hook_resid_post'], dSae: 16, decoderScale: 1 }],
      71,
    );
    const layer = sae.layers[0]!;
    const expected = lastLogits(reference(adding('blocks.0.hook_resid_post', decoderRow(layer, 3), new Map([[P - 1, 2]]))));
    const run = await steerFeatures(model, matmul, sae, IDS, [{ layer: 0, feature: 3, kind: 'add', value: 2, positions: [P - 1] }]);
    assert.ok(relativeDiff(run.after, expected) <= 1e-4, `steered logits differ by ${relativeDiff(run.after, expected)}`);
  });

  test('bad edits are typed errors', async () => {
    const isBad = (pattern: RegExp) => (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && pattern.test(e.message);
    await assert.rejects(steerFeatures(model, matmul, transcoders, IDS, [{ layer: 1, feature: 32, kind: 'set', value: 0 }]), isBad(/Feature 32 is outside/));
    await assert.rejects(steerFeatures(model, matmul, transcoders, IDS, [{ layer: 1, feature: -1, kind: 'set', value: 0 }]), isBad(/Feature -1 is outside/));
    await assert.rejects(
      steerFeatures(model, matmul, transcoders, IDS, [{ layer: 0, feature: 1, kind: 'set', value: 0, positions: [P] }]),
      isBad(/Position 9 is outside/),
    );
    await assert.rejects(steerFeatures(model, matmul, transcoders, IDS, [{ layer: 2, feature: 1, kind: 'set', value: 0 }]), isBad(/no layer 2/));
    await assert.rejects(steerFeatures(model, matmul, transcoders, IDS, [{ layer: 0, feature: 1, kind: 'scale', factor: NaN }]), isBad(/finite/));
    await assert.rejects(steerFeatures(model, matmul, transcoders, IDS, [], { position: -1 }), isBad(/Position -1/));
    const wide = randomTranscoders(2, 32, 8, 1);
    await assert.rejects(
      steerFeatures(model, matmul, wide, IDS, [{ layer: 0, feature: 1, kind: 'set', value: 0 }]),
      (e: unknown) => e instanceof EngineError && e.code === 'WRONG_SHAPE',
    );
  });
});
