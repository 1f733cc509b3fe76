/**
 * The Llama family's gradient graphs (onnx/llama-gradient-graphs.ts, run by GradientModel) against
 * the independent float64 reverse pass (test/helpers/reference-llama-backward.ts): the metric's
 * gradient with respect to every hook point, each query head's and each key/value head's split
 * inputs and the MLP's input, for a batch of rows with their own metrics, exact, frozen (patterns and
 * norm scales held) and with GradDrop, on tiny random llama (GQA, llama3 rope scaling), mistral (a
 * sliding window of 4 keys, shorter than the prompts), qwen2 (q/k/v biases, tied embeddings) and
 * qwen3 (q/k norms, head_dim ≠ d_model / heads) models. Tolerance: 1e-4 of the tensor's largest
 * gradient, or of 1% of the run's largest where the tensor's own is smaller (as for GPT-2).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LLAMA_FAMILY_TYPES } from '../../../src/engine/model/adapters/llama-config.js';
import { defaultMetricCoefficients, GradientModel, type BackwardPass, type MetricCoefficients } from '../../../src/engine/runtime/gradient-model.js';
import { llamaGradientFixture, type LlamaGradientFixture } from '../../helpers/llama-gradient-fixtures.js';
import { referenceLlamaEmbeddings, referenceLlamaGradients } from '../../helpers/reference-llama-backward.js';
import type { ReferenceGradients } from '../../helpers/reference-gpt2-backward.js';

const TOL = 1e-4;

/** Two prompts of 8 tokens (past Mistral's window of 4), each with its own metric. */
const PROMPTS = [
  [464, 3797, 3332, 319, 262, 2603, 13, 383],
  [464, 3290, 3332, 319, 262, 2603, 13, 1110],
];
const METRICS: MetricCoefficients[] = [defaultMetricCoefficients(3332, 1110), { logit: [[2603, 0.5]], logProb: [[383, -2]] }];

function rowOf(all: Float32Array, row: number, batch: number): Float32Array {
  const size = all.length / batch;
  return all.subarray(row * size, (row + 1) * size);
}

function compareRow(model: GradientModel, pass: BackwardPass, reference: ReferenceGradients, row: number, label: string): void {
  const { dModel: D, nHeads: H } = model.config;
  const Hkv = model.config.nKvHeads ?? H;
  const batch = PROMPTS.length,
    P = PROMPTS[0]!.length;
  let largest = 0;
  for (const g of reference.gradients.values()) for (const x of g) largest = Math.max(largest, Math.abs(x));
  const check = (actual: ArrayLike<number>, expected: Float64Array | undefined, what: string): void => {
    assert.ok(expected, `${label}: the reference has no ${what}`);
    assert.equal(actual.length, expected.length, `${label}: ${what} has ${actual.length} values, the reference ${expected.length}`);
    let diff = 0,
      scale = 0;
    for (let i = 0; i < actual.length; i++) {
      diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
      scale = Math.max(scale, Math.abs(expected[i]!));
    }
    const err = diff / Math.max(scale, 0.01 * largest);
    assert.ok(err <= TOL, `${label} row ${row}: gradient of ${what} off by ${err.toExponential(2)} of its largest value`);
  };
  for (let l = 0; l < model.config.nLayers; l++) {
    const layer = pass.layers[l]! as unknown as Record<string, Float32Array>;
    for (const { hook, output } of model.points)
      check(rowOf(layer[output]!, row, batch), reference.gradients.get(`blocks.${l}.${hook}`), `blocks.${l}.${hook}`);
    check(rowOf(layer['mlp_in']!, row, batch), reference.gradients.get(`blocks.${l}.hook_mlp_in`), `layer ${l}'s MLP input`);
    // qkv_in [head + 2 kv_head, b, p, d_model] against hook_{q,k,v}_input [pos, heads, d_model].
    const qkv = layer['qkv_in']!;
    const slots: Array<[string, number, number]> = [
      ['q', 0, H],
      ['k', H, Hkv],
      ['v', H + Hkv, Hkv],
    ];
    for (const [which, first, heads] of slots) {
      const actual = new Float32Array(P * heads * D);
      for (let h = 0; h < heads; h++)
        for (let p = 0; p < P; p++)
          actual.set(qkv.subarray((((first + h) * batch + row) * P + p) * D, (((first + h) * batch + row) * P + p + 1) * D), (p * heads + h) * D);
      check(actual, reference.gradients.get(`blocks.${l}.hook_${which}_input`), `layer ${l}'s ${which} inputs`);
    }
  }
  check(rowOf(pass.finalResid, row, batch), reference.gradients.get('final_resid'), 'the final residual');
}

for (const arch of LLAMA_FAMILY_TYPES) {
  describe(`gradients of a tiny random ${arch}`, () => {
    let fixture: LlamaGradientFixture;
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
        compareRow(model, pass, ref, r, `${fixture.label}${options.frozen ? ' (frozen)' : ''}`);
      });
    };

    test('the forward graphs give every hook point of the reference', async () => {
      const { dModel: D } = model.config;
      const P = PROMPTS[0]!.length;
      const forward = await model.forward(model.embed(PROMPTS[0]!), 1);
      const ref = referenceLlamaGradients(fixture.tensors, fixture.config, referenceLlamaEmbeddings(fixture.tensors, PROMPTS[0]!), METRICS[0]!);
      assert.equal(forward.finalResid.length, P * D);
      for (let l = 0; l < model.config.nLayers; l++)
        for (const { hook, output } of model.points) {
          const actual = (forward.layers[l] as unknown as Record<string, Float32Array>)[output]!;
          const expected = ref.values.get(`blocks.${l}.${hook}`)!;
          let diff = 0,
            scale = 0;
          for (let i = 0; i < expected.length; i++) {
            diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
            scale = Math.max(scale, Math.abs(expected[i]!));
          }
          assert.equal(actual.length, expected.length, `blocks.${l}.${hook} size`);
          assert.ok(diff <= 1e-4 * Math.max(scale, 1e-3), `blocks.${l}.${hook}: off by ${diff.toExponential(2)} (largest ${scale.toExponential(2)})`);
        }
    });
    test('exact gradients of every hook point and split input, a batch of rows with their own metrics', () => run({}));
    test('frozen attention patterns and norm scales (the linearised model)', () => run({ frozen: true }));
    test('GradDrop: a row whose layer passes no gradient back through its attention and MLP', () => run({ dropLayer: [0, null] }));
  });
}
