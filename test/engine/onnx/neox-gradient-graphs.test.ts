/**
 * GPT-NeoX's gradient graphs (onnx/neox-gradient-graphs.ts, run by GradientModel) against the
 * independent float64 reverse pass (test/helpers/reference-gpt-neox-backward.ts): every hook point of
 * the forward, and the metric's gradient with respect to every hook point, each head's split q/k/v
 * inputs and the MLP's input (a copy of resid_pre with the parallel residual, of resid_mid with the
 * sequential one), exact, frozen and with GradDrop, on tiny random Pythia-shaped models with partial
 * rotary embeddings and biases, with the parallel and with the sequential residual. Tolerance as in
 * llama-gradient-graphs.test.ts.
 */
import assert from 'node:assert/strict';
import { describeRotaryGradients, gptNeoxGradientFixture, type RotaryReference } from '../../helpers/rotary-gradient-fixtures.js';
import { referenceGptNeoxEmbeddings, referenceGptNeoxGradients } from '../../helpers/reference-gpt-neox-backward.js';

const reference: RotaryReference = (fixture, ids, metric, options) =>
  referenceGptNeoxGradients(fixture.tensors, fixture.config, referenceGptNeoxEmbeddings(fixture.tensors, ids), metric, options);

for (const parallel of [true, false])
  describeRotaryGradients(
    `gradients of a tiny random gpt_neox with the ${parallel ? 'parallel' : 'sequential'} residual`,
    () => gptNeoxGradientFixture(7, parallel, 2),
    reference,
    {
      dropLayer: 1,
      forward: {
        title: '(no hook_resid_mid with the parallel residual)',
        check: (model) =>
          assert.equal(
            model.points.some((p) => p.output === 'resid_mid'),
            !parallel,
          ),
      },
    },
  );
