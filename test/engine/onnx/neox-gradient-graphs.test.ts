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
import { defaultMetricCoefficients, GradientModel, type MetricCoefficients } from '../../../src/engine/runtime/gradient-model.js';
import { assertGradientsMatch, assertValuesMatch, gptNeoxGradientFixture, type RotaryGradientFixture } from '../../helpers/rotary-gradient-fixtures.js';
import { referenceGptNeoxEmbeddings, referenceGptNeoxGradients } from '../../helpers/reference-gpt-neox-backward.js';

const PROMPTS = [
  [464, 3797, 3332, 319, 262, 2603, 13, 383],
  [464, 3290, 3332, 319, 262, 2603, 13, 1110],
];
const METRICS: MetricCoefficients[] = [defaultMetricCoefficients(3332, 1110), { logit: [[2603, 0.5]], logProb: [[383, -2]] }];

for (const parallel of [true, false]) {
  describe(`gradients of a tiny random gpt_neox with the ${parallel ? 'parallel' : 'sequential'} residual`, () => {
    let fixture: RotaryGradientFixture;
    let model: GradientModel;
    before(async () => {
      fixture = gptNeoxGradientFixture(7, parallel, 2);
      model = await GradientModel.create(fixture.model, { threads: 1 });
    });
    after(() => model.dispose());

    const run = async (options: { frozen?: boolean; dropLayer?: Array<number | null> }): Promise<void> => {
      const { dModel: D } = model.config;
      const P = PROMPTS[0]!.length;
      const embeddings = new Float32Array(PROMPTS.length * P * D);
      PROMPTS.forEach((ids, r) => embeddings.set(model.embed(ids), r * P * D));
      const forward = await model.forward(embeddings, PROMPTS.length);
      const pass = await model.backward({ forward, metrics: METRICS, ...options });
      PROMPTS.forEach((ids, r) => {
        const ref = referenceGptNeoxGradients(fixture.tensors, fixture.config, referenceGptNeoxEmbeddings(fixture.tensors, ids), METRICS[r]!, {
          frozen: options.frozen ?? false,
          ...(options.dropLayer?.[r] != null ? { dropLayer: options.dropLayer[r]! } : {}),
        });
        assert.ok(Math.abs(pass.metric[r]! - ref.metric) <= 1e-4 * Math.max(1, Math.abs(ref.metric)), `metric ${pass.metric[r]} vs ${ref.metric}`);
        assertGradientsMatch(model, pass, ref, r, PROMPTS.length, `${fixture.label}${options.frozen ? ' (frozen)' : ''}`);
      });
    };

    test('the forward graphs give every hook point of the reference (no hook_resid_mid with the parallel residual)', async () => {
      assert.equal(
        model.points.some((p) => p.output === 'resid_mid'),
        !parallel,
      );
      const forward = await model.forward(model.embed(PROMPTS[0]!), 1);
      assertValuesMatch(
        model,
        forward.layers,
        referenceGptNeoxGradients(fixture.tensors, fixture.config, referenceGptNeoxEmbeddings(fixture.tensors, PROMPTS[0]!), METRICS[0]!),
      );
    });
    test('exact gradients of every hook point and split input, a batch of rows with their own metrics', () => run({}));
    test('frozen attention patterns and norm scales (the linearised model)', () => run({ frozen: true }));
    test('GradDrop: a row whose layer passes no gradient back through its attention and MLP', () => run({ dropLayer: [1, null] }));
  });
}
