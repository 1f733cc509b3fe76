/**
 * GPT-NeoX's gradient graphs (onnx/neox-gradient-graphs.ts, run by GradientModel) against the
 * independent float64 reverse pass (test/helpers/reference-gpt-neox-backward.ts): every hook point of
 * the forward, and the metric's gradient with respect to every hook point, each head's split q/k/v
 * inputs and the MLP's input (a copy of resid_pre with the parallel residual, of resid_mid with the
 * sequential one), exact, frozen and with GradDrop, on tiny random Pythia-shaped models with partial
 * rotary embeddings and biases, with the parallel and with the sequential residual. Tolerance as in
 * llama-gradient-graphs.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GradientModel } from '../../../src/engine/runtime/gradient-model.js';
import {
  assertBackwardMatchesReference,
  assertForwardMatchesReference,
  gptNeoxGradientFixture,
  type RotaryGradientFixture,
  type RotaryReference,
} from '../../helpers/rotary-gradient-fixtures.js';
import { referenceGptNeoxEmbeddings, referenceGptNeoxGradients } from '../../helpers/reference-gpt-neox-backward.js';

const reference: RotaryReference = (fixture, ids, metric, options) =>
  referenceGptNeoxGradients(fixture.tensors, fixture.config, referenceGptNeoxEmbeddings(fixture.tensors, ids), metric, options);

for (const parallel of [true, false]) {
  describe(`gradients of a tiny random gpt_neox with the ${parallel ? 'parallel' : 'sequential'} residual`, () => {
    let fixture: RotaryGradientFixture;
    let model: GradientModel;
    before(async () => {
      fixture = gptNeoxGradientFixture(7, parallel, 2);
      model = await GradientModel.create(fixture.model, { threads: 1 });
    });
    after(() => model.dispose());

    const run = (options: { frozen?: boolean; dropLayer?: Array<number | null> }): Promise<void> =>
      assertBackwardMatchesReference(model, fixture, reference, options);

    test('the forward graphs give every hook point of the reference (no hook_resid_mid with the parallel residual)', async () => {
      assert.equal(
        model.points.some((p) => p.output === 'resid_mid'),
        !parallel,
      );
      await assertForwardMatchesReference(model, fixture, reference);
    });
    test('exact gradients of every hook point and split input, a batch of rows with their own metrics', () => run({}));
    test('frozen attention patterns and norm scales (the linearised model)', () => run({ frozen: true }));
    test('GradDrop: a row whose layer passes no gradient back through its attention and MLP', () => run({ dropLayer: [1, null] }));
  });
}
