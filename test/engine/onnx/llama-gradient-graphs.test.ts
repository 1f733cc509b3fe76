/**
 * The Llama family's gradient graphs (onnx/llama-gradient-graphs.ts, run by GradientModel) against
 * the independent float64 reverse pass (test/helpers/reference-llama-backward.ts): every hook point
 * of the forward, and the metric's gradient with respect to every hook point, each query head's and
 * each key/value head's split inputs and the MLP's input, for a batch of rows with their own metrics,
 * exact, frozen (patterns and norm scales held) and with GradDrop, on tiny random llama (GQA, llama3
 * rope scaling), mistral (a sliding window of 4 keys, shorter than the prompts), qwen2 (q/k/v biases,
 * tied embeddings) and qwen3 (q/k norms, head_dim ≠ d_model / heads) models. Tolerance: 1e-4 of the
 * tensor's largest gradient, or of 1% of the run's largest where the tensor's own is smaller.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LLAMA_FAMILY_TYPES } from '../../../src/engine/model/adapters/llama-config.js';
import { defaultMetricCoefficients, GradientModel, type MetricCoefficients } from '../../../src/engine/runtime/gradient-model.js';
import { assertGradientsMatch, assertValuesMatch, llamaGradientFixture, type RotaryGradientFixture } from '../../helpers/rotary-gradient-fixtures.js';
import { referenceLlamaEmbeddings, referenceLlamaGradients } from '../../helpers/reference-llama-backward.js';

/** Two prompts of 8 tokens (past Mistral's window of 4), each with its own metric. */
const PROMPTS = [
  [464, 3797, 3332, 319, 262, 2603, 13, 383],
  [464, 3290, 3332, 319, 262, 2603, 13, 1110],
];
const METRICS: MetricCoefficients[] = [defaultMetricCoefficients(3332, 1110), { logit: [[2603, 0.5]], logProb: [[383, -2]] }];

for (const arch of LLAMA_FAMILY_TYPES) {
  describe(`gradients of a tiny random ${arch}`, () => {
    let fixture: RotaryGradientFixture;
    let model: GradientModel;
    before(async () => {
      fixture = llamaGradientFixture(arch, 7, 2);
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
        const ref = referenceLlamaGradients(fixture.tensors, fixture.config, referenceLlamaEmbeddings(fixture.tensors, ids), METRICS[r]!, {
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
        referenceLlamaGradients(fixture.tensors, fixture.config, referenceLlamaEmbeddings(fixture.tensors, PROMPTS[0]!), METRICS[0]!),
      );
    });
    test('exact gradients of every hook point and split input, a batch of rows with their own metrics', () => run({}));
    test('frozen attention patterns and norm scales (the linearised model)', () => run({ frozen: true }));
    test('GradDrop: a row whose layer passes no gradient back through its attention and MLP', () => run({ dropLayer: [0, null] }));
  });
}
