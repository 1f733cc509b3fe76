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
import { LLAMA_FAMILY_TYPES } from '../../../src/engine/model/adapters/llama-config.js';
import { describeRotaryGradients, llamaGradientFixture, type RotaryReference } from '../../helpers/rotary-gradient-fixtures.js';
import { referenceLlamaEmbeddings, referenceLlamaGradients } from '../../helpers/reference-llama-backward.js';

const reference: RotaryReference = (fixture, ids, metric, options) =>
  referenceLlamaGradients(fixture.tensors, fixture.config, referenceLlamaEmbeddings(fixture.tensors, ids), metric, options);

for (const arch of LLAMA_FAMILY_TYPES)
  describeRotaryGradients(`gradients of a tiny random ${arch}`, () => llamaGradientFixture(arch, 7, 2), reference, { dropLayer: 0 });
