/**
 * A feature's direct logit effect (src/engine/features/feature-logit-effects.ts): its decoder row
 * (summed over a cross-layer transcoder's outputs) times the unembedding, the final norm ignored as
 * Neuronpedia does, against the float64 product with the checkpoint's own embedding (GPT-2's tied W_U).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/errors.js';
import { featureLogitEffects } from '../../../src/engine/features/feature-logit-effects.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { MatmulSessions } from '../../../src/engine/runtime/matmul-session.js';
import { randomCrossLayerTranscoder, randomTranscoders } from '../../helpers/dictionary-fixtures.js';
import { randomModelFolder, type RandomModelFixture } from '../../helpers/model-fixtures.js';
import { referenceLogitEffects } from '../../helpers/reference-features.js';

const D = 64;

describe('feature logit effects on a tiny random GPT-2', () => {
  let fixture: RandomModelFixture;
  let model: InstrumentedModel;
  let matmul: MatmulSessions;
  before(async () => {
    fixture = await randomModelFolder('tiny', 7);
    model = await InstrumentedModel.create((await loadModelFolder(fixture.dir)).model, { device: 'cpu' });
    matmul = await MatmulSessions.create(1);
  });
  after(async () => {
    await model.dispose();
    await matmul.dispose();
  });

  function expectedEffects(row: Float64Array, k: number): { top: Array<[number, number]>; bottom: Array<[number, number]> } {
    const wte = (fixture.tensors.get('wte.weight') ?? fixture.tensors.get('transformer.wte.weight'))!;
    const effects = referenceLogitEffects(row, wte.data, wte.shape[0]!);
    const order = Array.from(effects, (e, t) => [t, e] as [number, number]).sort((a, b) => b[1] - a[1]);
    return { top: order.slice(0, k), bottom: order.slice(-k).reverse() };
  }

  function assertEffects(
    actual: { top: Array<{ tokenId: number; effect: number }>; bottom: Array<{ tokenId: number; effect: number }> },
    row: Float64Array,
    k: number,
  ): void {
    const expected = expectedEffects(row, k);
    for (const side of ['top', 'bottom'] as const) {
      assert.equal(actual[side].length, k);
      actual[side].forEach((e, i) => {
        const [t, v] = expected[side][i]!;
        assert.ok(Math.abs(e.effect - v) <= 1e-4 * Math.max(1, Math.abs(v)), `${side} ${i}: ${e.effect} vs ${v}`);
        // Ties within float32 noise may swap tokens; otherwise the same token.
        if (e.tokenId !== t) assert.ok(Math.abs(e.effect - v) <= 1e-5, `${side} ${i}: token ${e.tokenId} vs ${t}`);
      });
    }
  }

  test("a transcoder feature's top and bottom tokens are its decoder row through W_U", async () => {
    const layer = randomTranscoders(2, D, 40, 81).layers[1]!;
    const effects = await featureLogitEffects(matmul, layer, [3, 17, 39], model.weights, 6, (id) => `t${id}`);
    assert.deepEqual(
      effects.map((e) => e.feature),
      [3, 17, 39],
    );
    effects.forEach((e, i) => {
      const f = [3, 17, 39][i]!;
      assertEffects(e, Float64Array.from(layer.decoders[0]!.subarray(f * D, (f + 1) * D)), 6);
      assert.equal(e.top[0]!.token, `t${e.top[0]!.tokenId}`);
      assert.ok(e.top[0]!.effect > 0 && e.bottom[0]!.effect < 0);
    });
  });

  test("a cross-layer transcoder feature's direction is the sum of its decoder rows", async () => {
    const layer = randomCrossLayerTranscoder(2, D, 12, 91).layers[0]!;
    const [effect] = await featureLogitEffects(matmul, layer, [5], model.weights, 4, String);
    const row = new Float64Array(D);
    for (const dec of layer.decoders) for (let i = 0; i < D; i++) row[i] = row[i]! + dec[5 * D + i]!;
    assertEffects(effect!, row, 4);
  });

  test('a feature out of range is a typed error', async () => {
    const layer = randomTranscoders(1, D, 8, 1).layers[0]!;
    await assert.rejects(
      featureLogitEffects(matmul, layer, [8], model.weights, 3, String),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && /Feature 8/.test(e.message),
    );
  });
});
