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
import { GEMMA_TYPES } from '../../../src/engine/model/adapters/gemma-config.js';
import { GradientModel } from '../../../src/engine/runtime/gradient-model.js';
import {
  assertBackwardMatchesReference,
  assertForwardMatchesReference,
  gemmaGradientFixture,
  type RotaryGradientFixture,
  type RotaryReference,
} from '../../helpers/rotary-gradient-fixtures.js';
import { referenceGemmaEmbeddings, referenceGemmaGradients } from '../../helpers/reference-gemma-backward.js';

const reference: RotaryReference = (fixture, ids, metric, options) =>
  referenceGemmaGradients(fixture.tensors, fixture.config, referenceGemmaEmbeddings(fixture.tensors, ids), metric, options);

for (const arch of GEMMA_TYPES) {
  describe(`gradients of a tiny random ${arch}`, () => {
    let fixture: RotaryGradientFixture;
    let model: GradientModel;
    before(async () => {
      fixture = gemmaGradientFixture(arch, 7, 2);
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
