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
import { GEMMA_TYPES } from '../../../src/engine/model/adapters/gemma-config.js';
import { describeRotaryGradients, gemmaGradientFixture, type RotaryReference } from '../../helpers/rotary-gradient-fixtures.js';
import { referenceGemmaEmbeddings, referenceGemmaGradients } from '../../helpers/reference-gemma-backward.js';

const reference: RotaryReference = (fixture, ids, metric, options) =>
  referenceGemmaGradients(fixture.tensors, fixture.config, referenceGemmaEmbeddings(fixture.tensors, ids), metric, options);

for (const arch of GEMMA_TYPES)
  describeRotaryGradients(`gradients of a tiny random ${arch}`, () => gemmaGradientFixture(arch, 7, 2), reference, { dropLayer: 0 });
