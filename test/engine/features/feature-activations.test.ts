/**
 * A prompt's features on a tiny random GPT-2 (src/engine/features/feature-activations.ts) against
 * the float64 reference forward and the SAELens / circuit-tracer definitions
 * (test/helpers/reference-features.ts): activations, the active list, the top k per position, the
 * heatmap, and the reconstruction error (SAE on the residual stream, skip transcoders, a cross-layer
 * transcoder summing every earlier layer's decoder into an output); bad dictionaries are typed errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/errors.js';
import type { Dictionary } from '../../../src/engine/features/dictionary.js';
import { featureActivations } from '../../../src/engine/features/feature-activations.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { MatmulSessions } from '../../../src/engine/runtime/matmul-session.js';
import { randomCrossLayerTranscoder, randomDictionary, type FixtureLayer } from '../../helpers/dictionary-fixtures.js';
import { randomModelFolder, type RandomModelFixture } from '../../helpers/model-fixtures.js';
import { referenceDecode, referenceDecoderSum, referenceEncode, referenceMlpInput, type ReferenceEncoding } from '../../helpers/reference-features.js';
import { referenceGpt2Forward, type ReferenceTensor } from '../../helpers/reference-gpt2.js';

const IDS = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797];
const P = IDS.length;
const D = 64;

describe('feature activations on a tiny random GPT-2', () => {
  let fixture: RandomModelFixture;
  let model: InstrumentedModel;
  let matmul: MatmulSessions;
  let ref: Map<string, ReferenceTensor>;
  before(async () => {
    fixture = await randomModelFolder('tiny', 7);
    model = await InstrumentedModel.create((await loadModelFolder(fixture.dir)).model, { device: 'cpu' });
    matmul = await MatmulSessions.create(1);
    ref = referenceGpt2Forward(fixture.tensors, { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 }, IDS);
  });
  after(async () => {
    await model.dispose();
    await matmul.dispose();
  });

  /** A hook's value in the reference forward, derived MLP inputs included. */
  const refHook = (hook: string): Float64Array => {
    const m = /^blocks\.(\d+)\.(ln2\.hook_normalized|mlp\.hook_in)$/.exec(hook);
    if (m) return referenceMlpInput('gpt2', fixture.tensors, ref, Number(m[1]), 1e-5, m[2] === 'mlp.hook_in');
    return ref.get(hook)!.data;
  };

  /** Activations agree where the reference is not within float32 noise of the threshold. */
  function assertSameActivations(acts: Float32Array, expected: ReferenceEncoding, threshold: (f: number) => number, F: number): void {
    for (let j = 0; j < expected.acts.length; j++) {
      if (Math.abs(expected.pre[j]! - threshold(j % F)) < 1e-4) continue;
      assert.ok(
        Math.abs(acts[j]! - expected.acts[j]!) <= 1e-4 * Math.max(1, Math.abs(expected.acts[j]!)),
        `activation ${j}: ${acts[j]} vs ${expected.acts[j]}`,
      );
    }
  }

  test('an SAE on the residual stream: activations, active list, top k, heatmap and reconstruction error', async () => {
    const sae = randomDictionary(
      'sae',
      D,
      [
        {
          layer: 1,
          inputHook: 'blocks.1.hook_resid_pre',
          outputHooks: ['blocks.1.hook_resid_pre'],
          dSae: 96,
          activation: 'jumprelu',
          applyBDecToInput: true,
          encoderScale: 3,
        },
      ],
      21,
    );
    const { layers } = await featureActivations(model, matmul, sae, IDS, { topK: 4 });
    assert.equal(layers.length, 1);
    const view = layers[0]!;
    const layer = sae.layers[0]!;
    const x = refHook('blocks.1.hook_resid_pre');
    const expected = referenceEncode(layer, x, P);
    const threshold = layer.activation.kind === 'jumprelu' ? layer.activation.threshold : null;
    // Rebuild the dense activations from the active list: nothing else is active.
    const dense = new Float32Array(P * 96);
    view.active.positions.forEach((p, i) => (dense[p * 96 + view.active.features[i]!] = view.active.activations[i]!));
    assertSameActivations(dense, expected, (f) => threshold![f]!, 96);
    const activeCount = expected.acts.filter((a) => a > 0).length;
    assert.ok(activeCount > P && activeCount < (P * 96) / 2, `${activeCount} active`);
    assert.ok([...view.active.activations].every((a) => a > 0));
    // Top 4 per position: the reference's largest four, largest first.
    for (let p = 0; p < P; p++) {
      const order = Array.from(expected.acts.subarray(p * 96, (p + 1) * 96))
        .map((a, f) => [a, f] as const)
        .filter(([a]) => a > 0)
        .sort((a, b) => b[0] - a[0])
        .slice(0, 4)
        .map(([, f]) => f);
      assert.deepEqual([...view.top.features.subarray(p * 4, p * 4 + order.length)], order, `top at ${p}`);
    }
    // The heatmap holds exactly the features active somewhere, each row its activations over positions.
    const anywhere = new Set(view.active.features);
    assert.deepEqual(new Set(view.heatmap.features), anywhere);
    view.heatmap.features.forEach((f, i) => {
      for (let p = 0; p < P; p++) assert.equal(view.heatmap.activations[i * P + p], dense[p * 96 + f]);
    });
    // Reconstruction error against the true hook.
    const recon = referenceDecode(layer, expected, x, P);
    for (let p = 0; p < P; p++) {
      let e = 0,
        n = 0;
      for (let i = 0; i < D; i++) {
        e += (x[p * D + i]! - recon[p * D + i]!) ** 2;
        n += x[p * D + i]! ** 2;
      }
      assert.ok(
        Math.abs(view.reconstructionError[p]! - Math.sqrt(e)) <= 1e-4 * Math.max(1, Math.sqrt(e)),
        `error at ${p}: ${view.reconstructionError[p]} vs ${Math.sqrt(e)}`,
      );
      assert.ok(Math.abs(view.errorShare[p]! - Math.sqrt(e) / Math.sqrt(n)) <= 1e-4, `share at ${p}`);
    }
    assert.deepEqual(
      view.labels,
      Array.from(view.heatmap.features, () => null),
    );
  });

  test('skip transcoders from mlp.hook_in to hook_mlp_out, with constant_norm_rescale on one', async () => {
    const transcoders = randomDictionary(
      'transcoder',
      D,
      [
        { layer: 0, inputHook: 'blocks.0.mlp.hook_in', outputHooks: ['blocks.0.hook_mlp_out'], dSae: 48, skip: true },
        {
          layer: 1,
          inputHook: 'blocks.1.ln2.hook_normalized',
          outputHooks: ['blocks.1.hook_mlp_out'],
          dSae: 48,
          skip: true,
          normalization: { kind: 'constant_norm_rescale' },
        },
      ],
      31,
    );
    const { layers } = await featureActivations(model, matmul, transcoders, IDS);
    for (const [i, view] of layers.entries()) {
      const layer = transcoders.layers[i]!;
      const x = refHook(layer.inputHook);
      const expected = referenceEncode(layer, x, P);
      const recon = referenceDecode(layer, expected, x, P);
      const truth = refHook(layer.outputHooks[0]!);
      for (let p = 0; p < P; p++) {
        let e = 0;
        for (let j = 0; j < D; j++) e += (truth[p * D + j]! - recon[p * D + j]!) ** 2;
        assert.ok(
          Math.abs(view.reconstructionError[p]! - Math.sqrt(e)) <= 1e-4 * Math.max(1, Math.sqrt(e)),
          `layer ${i} error at ${p}: ${view.reconstructionError[p]} vs ${Math.sqrt(e)}`,
        );
      }
      assert.equal(view.outputHook, layer.outputHooks[0]);
    }
  });

  test("a cross-layer transcoder's output at layer 1 sums both feature layers' decoders", async () => {
    const clt = randomCrossLayerTranscoder(2, D, 40, 41);
    const { layers } = await featureActivations(model, matmul, clt, IDS, { layers: [1] });
    assert.deepEqual(
      layers.map((l) => l.layer),
      [1],
    );
    const [l0, l1] = clt.layers as [FixtureLayer, FixtureLayer];
    const e0 = referenceEncode(l0, refHook('blocks.0.mlp.hook_in'), P);
    const e1 = referenceEncode(l1, refHook('blocks.1.mlp.hook_in'), P);
    const from0 = referenceDecoderSum(l0, e0.acts, P, 1); // layer 0's decoder into layer 1's output
    const own = referenceDecode(l1, e1, refHook('blocks.1.mlp.hook_in'), P, 0);
    const truth = refHook('blocks.1.hook_mlp_out');
    let differs = false;
    for (let p = 0; p < P; p++) {
      let e = 0,
        eOwn = 0;
      for (let j = 0; j < D; j++) {
        e += (truth[p * D + j]! - own[p * D + j]! - from0[p * D + j]!) ** 2;
        eOwn += (truth[p * D + j]! - own[p * D + j]!) ** 2;
      }
      assert.ok(Math.abs(layers[0]!.reconstructionError[p]! - Math.sqrt(e)) <= 1e-4 * Math.max(1, Math.sqrt(e)), `error at ${p}`);
      if (Math.abs(Math.sqrt(e) - Math.sqrt(eOwn)) > 1e-2) differs = true;
    }
    assert.ok(differs, "layer 0's decoder into layer 1 changes the reconstruction");
  });

  test('a dictionary that does not fit the model is a typed error', async () => {
    const wide = randomDictionary('sae', 32, [{ layer: 0, inputHook: 'blocks.0.hook_resid_pre', outputHooks: ['blocks.0.hook_resid_pre'], dSae: 8 }], 1);
    await assert.rejects(
      featureActivations(model, matmul, wide, IDS),
      (e: unknown) => e instanceof EngineError && e.code === 'WRONG_SHAPE' && /d_model 32/.test(e.message),
    );
    const deep = randomDictionary('sae', D, [{ layer: 5, inputHook: 'blocks.5.hook_resid_pre', outputHooks: ['blocks.5.hook_resid_pre'], dSae: 8 }], 1);
    await assert.rejects(
      featureActivations(model, matmul, deep, IDS),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_CONFIG' && /blocks\.5\.hook_resid_pre/.test(e.message),
    );
    const notDModel = randomDictionary('sae', D, [{ layer: 0, inputHook: 'blocks.0.attn.hook_pattern', outputHooks: ['blocks.0.hook_resid_pre'], dSae: 8 }], 1);
    await assert.rejects(featureActivations(model, matmul, notDModel, IDS), (e: unknown) => e instanceof EngineError && e.code === 'BAD_CONFIG');
    const sae: Dictionary = randomDictionary(
      'sae',
      D,
      [{ layer: 0, inputHook: 'blocks.0.hook_resid_pre', outputHooks: ['blocks.0.hook_resid_pre'], dSae: 8 }],
      1,
    );
    await assert.rejects(
      featureActivations(model, matmul, sae, IDS, { layers: [1] }),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && /no layer 1/.test(e.message),
    );
  });
});
