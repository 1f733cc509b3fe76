/**
 * Gemma's gradient graphs (onnx/llama-gradient-graphs.ts with Gemma's config, run by GradientModel)
 * against the independent float64 reverse pass (test/helpers/reference-gemma-backward.ts): every hook
 * point of the forward (the post-norms' scales among them), and the metric's gradient with respect to
 * every hook point, the split inputs and the MLP's input, exact, frozen (patterns and every norm scale
 * held) and with GradDrop, on tiny random gemma2 (attention and final soft-caps, sliding even layers
 * with a window shorter than the prompts) and gemma3_text (q/k norms, a local RoPE base on sliding
 * layers and a linearly scaled global one) models, both with (1 + w) norms, the sqrt(d_model)
 * embedding scale, query_pre_attn_scalar, GeGLU and grouped-query attention. Tolerance as in
 * llama-gradient-graphs.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GEMMA_TYPES } from '../../../src/engine/model/adapters/gemma-config.js';
import { defaultMetricCoefficients, GradientModel, type MetricCoefficients } from '../../../src/engine/runtime/gradient-model.js';
import { assertGradientsMatch, assertValuesMatch, gemmaGradientFixture, type RotaryGradientFixture } from '../../helpers/rotary-gradient-fixtures.js';
import { referenceGemmaEmbeddings, referenceGemmaGradients } from '../../helpers/reference-gemma-backward.js';

/** Two prompts of 8 tokens (past the sliding layers' window), each with its own metric. */
const PROMPTS = [
  [464, 3797, 3332, 319, 262, 2603, 13, 383],
  [464, 3290, 3332, 319, 262, 2603, 13, 1110],
];
const METRICS: MetricCoefficients[] = [defaultMetricCoefficients(3332, 1110), { logit: [[2603, 0.5]], logProb: [[383, -2]] }];

for (const arch of GEMMA_TYPES) {
  describe(`gradients of a tiny random ${arch}`, () => {
    let fixture: RotaryGradientFixture;
    let model: GradientModel;
    before(async () => {
      fixture = gemmaGradientFixture(arch, 7, 2);
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
        const ref = referenceGemmaGradients(fixture.tensors, fixture.config, referenceGemmaEmbeddings(fixture.tensors, ids), METRICS[r]!, {
          frozen: options.frozen ?? false,
          ...(options.dropLayer?.[r] != null ? { dropLayer: options.dropLayer[r]! } : {}),
        });
        assert.ok(Math.abs(pass.metric[r]! - ref.metric) <= 1e-4 * Math.max(1, Math.abs(ref.metric)), `metric ${pass.metric[r]} vs ${ref.metric}`);
        assertGradientsMatch(model, pass, ref, r, PROMPTS.length, `${fixture.label}${options.frozen ? ' (frozen)' : ''}`);
      });
    };

    test('the forward graphs give every hook point of the reference', async () => {
      const forward = await model.forward(model.embed(PROMPTS[0]!), 1);
      assertValuesMatch(
        model,
        forward.layers,
        referenceGemmaGradients(fixture.tensors, fixture.config, referenceGemmaEmbeddings(fixture.tensors, PROMPTS[0]!), METRICS[0]!),
      );
    });
    test('exact gradients of every hook point and split input, a batch of rows with their own metrics', () => run({}));
    test('frozen attention patterns and norm scales (the linearised model)', () => run({ frozen: true }));
    test('GradDrop: a row whose layer passes no gradient back through its attention and MLP', () => run({ dropLayer: [0, null] }));
  });
}
