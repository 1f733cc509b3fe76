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
import { LLAMA_FAMILY_TYPES } from '../../../src/engine/model/adapters/llama-config.js';
import { GradientModel } from '../../../src/engine/runtime/gradient-model.js';
import {
  assertBackwardMatchesReference,
  assertForwardMatchesReference,
  llamaGradientFixture,
  type RotaryGradientFixture,
  type RotaryReference,
} from '../../helpers/rotary-gradient-fixtures.js';
import { referenceLlamaEmbeddings, referenceLlamaGradients } from '../../helpers/reference-llama-backward.js';

const reference: RotaryReference = (fixture, ids, metric, options) =>
  referenceLlamaGradients(fixture.tensors, fixture.config, referenceLlamaEmbeddings(fixture.tensors, ids), metric, options);

for (const arch of LLAMA_FAMILY_TYPES) {
  describe(`gradients of a tiny random ${arch}`, () => {
    let fixture: RotaryGradientFixture;
    let model: GradientModel;
    before(async () => {
      fixture = llamaGradientFixture(arch, 7, 2);
      model = await GradientModel.create(fixture.model, { threads: 1 });
    });
    after(() => model.dispose());

    const run = (options: { frozen?: boolean; dropLayer?: Array<number | null> }): Promise<void> =>
      assertBackwardMatchesReference(model, fixture, reference, options);

    test('the forward graphs give every hook point of the reference', async () => {
      await assertForwardMatchesReference(model, fixture, reference);
    });
    test('exact gradients of every hook point and split input, a batch of rows with their own metrics', () => run({}));
    test('frozen attention patterns and norm scales (the linearised model)', () => run({ frozen: true }));
    test('GradDrop: a row whose layer passes no gradient back through its attention and MLP', () => run({ dropLayer: [0, null] }));
  });
}
