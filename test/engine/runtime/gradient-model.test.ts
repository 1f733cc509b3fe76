/**
 * The gradient graphs against the independent float64 reverse pass (test/helpers/reference-gpt2-backward.ts):
 * the metric's gradient with respect to every hook point, each head's q/k/v input and the MLP's
 * input, for a batch of rows with different metrics, exact and frozen (linearised), with GradDrop,
 * on random GPT-2s, a random GPT-Neo (local attention) and the organism. Tolerance: 1e-4 of the tensor's largest gradient, or of 1% of
 * the run's largest gradient where the tensor's own is smaller (a saturated softmax passes back
 * gradients of 1e-9, which float32 cannot give to 1e-4 of themselves).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BLOCK_GRADIENT_POINTS } from '../../../src/engine/onnx/gpt2-gradient-graphs.js';
import { defaultMetricCoefficients, GradientModel, type BackwardPass, type MetricCoefficients } from '../../../src/engine/runtime/gradient-model.js';
import { gptNeoGradientFixture, organismGradientFixture, randomGradientFixture, type GradientFixture } from '../../helpers/gradient-fixtures.js';
import { referenceEmbeddings, referenceGpt2Gradients, type ReferenceGradients } from '../../helpers/reference-gpt2-backward.js';

const TOL = 1e-4;

/** The reference's layout of a hook point's tensor for one batch row of the engine's. */
function engineRow(pass: BackwardPass, layer: number, output: string, row: number, batch: number): Float32Array {
  const all = (pass.layers[layer] as unknown as Record<string, Float32Array>)[output]!;
  const size = all.length / batch;
  return all.subarray(row * size, (row + 1) * size);
}

/** hook_pattern: the engine's [head, query, key] per row is the reference's layout; q/k/v/z [pos, head, d_head] likewise. */
function compareRow(pass: BackwardPass, reference: ReferenceGradients, row: number, batch: number, P: number, H: number, D: number, label: string): void {
  const nLayers = pass.layers.length;
  let largest = 0;
  for (const g of reference.gradients.values()) for (const x of g) largest = Math.max(largest, Math.abs(x));
  const relativeError = (actual: ArrayLike<number>, expected: ArrayLike<number>): number => {
    let diff = 0,
      scale = 0;
    for (let i = 0; i < actual.length; i++) {
      diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
      scale = Math.max(scale, Math.abs(expected[i]!));
    }
    return diff / Math.max(scale, 0.01 * largest);
  };
  for (let l = 0; l < nLayers; l++) {
    for (const { hook, output } of BLOCK_GRADIENT_POINTS) {
      const err = relativeError(engineRow(pass, l, output, row, batch), reference.gradients.get(`blocks.${l}.${hook}`)!);
      assert.ok(err <= TOL, `${label} row ${row}: gradient of blocks.${l}.${hook} off by ${err.toExponential(2)} of its largest value`);
    }
    const mlpIn = relativeError(engineRow(pass, l, 'mlp_in', row, batch), reference.gradients.get(`blocks.${l}.hook_mlp_in`)!);
    assert.ok(mlpIn <= TOL, `${label} row ${row}: gradient of layer ${l}'s MLP input off by ${mlpIn.toExponential(2)}`);
    // qkv_in [3 * head, b, p, d_model] against hook_{q,k,v}_input [pos, head, d_model].
    const qkv = pass.layers[l]!.qkv_in;
    ['q', 'k', 'v'].forEach((which, w) => {
      const expected = reference.gradients.get(`blocks.${l}.hook_${which}_input`)!;
      const actual = new Float32Array(P * H * D);
      for (let h = 0; h < H; h++)
        for (let p = 0; p < P; p++)
          actual.set(qkv.subarray((((w * H + h) * batch + row) * P + p) * D, (((w * H + h) * batch + row) * P + p + 1) * D), (p * H + h) * D);
      const err = relativeError(actual, expected);
      assert.ok(err <= TOL, `${label} row ${row}: gradient of layer ${l}'s ${which} inputs off by ${err.toExponential(2)}`);
    });
  }
  const size = P * D;
  const final = relativeError(pass.finalResid.subarray(row * size, (row + 1) * size), reference.gradients.get('final_resid')!);
  assert.ok(final <= TOL, `${label} row ${row}: final residual gradient off by ${final.toExponential(2)}`);
}

function checkFixture(makeFixture: () => GradientFixture, prompts: number[][], metrics: MetricCoefficients[]): void {
  describe(makeFixture.name, () => {
    let fixture: GradientFixture;
    let model: GradientModel;
    before(async () => {
      fixture = makeFixture();
      model = await GradientModel.create(fixture.model, { threads: 1 });
    });
    after(() => model.dispose());

    const run = async (options: { frozen?: boolean; dropLayer?: Array<number | null> }): Promise<void> => {
      const { dModel: D, nHeads: H } = fixture.model.config;
      const P = prompts[0]!.length;
      const embeddings = new Float32Array(prompts.length * P * D);
      prompts.forEach((ids, r) => embeddings.set(model.embed(ids), r * P * D));
      const forward = await model.forward(embeddings, prompts.length);
      const pass = await model.backward({ forward, metrics, ...options });
      prompts.forEach((ids, r) => {
        const ref = referenceGpt2Gradients(fixture.checkpoint, fixture.referenceConfig, referenceEmbeddings(fixture.checkpoint, D, ids), metrics[r]!, {
          frozen: options.frozen ?? false,
          ...(options.dropLayer?.[r] != null ? { dropLayer: options.dropLayer[r]! } : {}),
        });
        assert.ok(Math.abs(pass.metric[r]! - ref.metric) <= 1e-4 * Math.max(1, Math.abs(ref.metric)), `metric ${pass.metric[r]} vs ${ref.metric}`);
        compareRow(pass, ref, r, prompts.length, P, H, D, `${fixture.label}${options.frozen ? ' (frozen)' : ''}`);
      });
    };

    test('exact gradients of every hook point and split input, a batch of rows with their own metrics', () => run({}));
    test('frozen attention and normalisation (the linearised model)', () => run({ frozen: true }));
    test('GradDrop: a row whose layer passes no gradient back through its attention and MLP', () =>
      run({ dropLayer: prompts.map((_, r) => (r === 0 ? 0 : null)) }));
  });
}

function randomTiny(): GradientFixture {
  return randomGradientFixture({ nLayers: 2, nHeads: 3, dModel: 12, vocab: 40, nCtx: 16, seed: 11, std: 0.8 });
}
function randomSharp(): GradientFixture {
  // Larger weights: sharper attention, larger LayerNorm effects.
  return randomGradientFixture({ nLayers: 3, nHeads: 2, dModel: 8, vocab: 30, nCtx: 16, seed: 5, std: 1.5 });
}
function gptNeoLocal(): GradientFixture {
  return gptNeoGradientFixture(4);
}
function organism(): GradientFixture {
  return organismGradientFixture();
}

checkFixture(
  randomTiny,
  [
    [1, 5, 9, 3, 7, 2],
    [4, 4, 8, 0, 11, 2],
  ],
  [defaultMetricCoefficients(3, 8), defaultMetricCoefficients(5, null)],
);
checkFixture(
  randomSharp,
  [
    [2, 9, 4, 1, 3],
    [2, 9, 5, 1, 3],
    [7, 6, 5, 4, 3],
  ],
  [defaultMetricCoefficients(1, 2), defaultMetricCoefficients(4, null), { logit: [[6, 0.5]], logProb: [[9, -2]] }],
);
// A prompt longer than the local layer's window of 4 keys.
checkFixture(
  gptNeoLocal,
  [
    [464, 3797, 3332, 319, 262, 2603, 13, 383],
    [464, 3290, 3332, 319, 262, 2603, 13, 1110],
  ],
  [defaultMetricCoefficients(3332, 1110), defaultMetricCoefficients(2603, null)],
);
checkFixture(organism, [[50256, 464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332, 319, 262]], [defaultMetricCoefficients(2603, 3797)]);

describe('edge products (GradientModel.edgeProducts)', () => {
  test('the edge graphs give the upstream rows times the split inputs’ gradients, summed over the batch rows', async () => {
    const fixture = randomSharp();
    const model = await GradientModel.create(fixture.model, { threads: 1 });
    try {
      const { dModel: D, nLayers: L } = fixture.model.config;
      const prompts = [
        [2, 9, 4, 1, 3],
        [2, 9, 5, 1, 3],
        [7, 6, 5, 4, 3],
      ];
      const metrics = [defaultMetricCoefficients(1, 2), defaultMetricCoefficients(4, 0), defaultMetricCoefficients(6, 9)];
      const P = prompts[0]!.length;
      const K = P * D;
      const embeddings = new Float32Array(prompts.length * K);
      prompts.forEach((ids, r) => embeddings.set(model.embed(ids), r * K));
      const forward = await model.forward(embeddings, prompts.length);
      const n = 7;
      const upstream = Float32Array.from({ length: n * K }, (_, i) => Math.sin(i * 0.37) + 0.1 * Math.cos(i * 1.3));
      const rows = (l: number): number => 3 + l * 2;
      const products = await model.edgeProducts({ forward, metrics, upstream, rows });
      const pass = await model.backward({ forward, metrics });
      assert.deepEqual([...products.metric], [...pass.metric]);
      const b = prompts.length;
      for (let l = 0; l < L; l++) {
        const check = (got: Float32Array, grads: Float32Array, slots: number, what: string): void => {
          assert.equal(got.length, rows(l) * slots, `layer ${l} ${what}: ${rows(l)} rows × ${slots}`);
          let largest = 0,
            diff = 0;
          for (let u = 0; u < rows(l); u++)
            for (let s = 0; s < slots; s++) {
              let sum = 0;
              for (let r = 0; r < b; r++) for (let k = 0; k < K; k++) sum += upstream[u * K + k]! * grads[(s * b + r) * K + k]!;
              largest = Math.max(largest, Math.abs(sum));
              diff = Math.max(diff, Math.abs(got[u * slots + s]! - sum));
            }
          assert.ok(diff <= 1e-4 * largest, `layer ${l} ${what}: off by ${diff.toExponential(2)} of ${largest.toExponential(2)}`);
        };
        check(products.layers[l]!.qkv, pass.layers[l]!.qkv_in, pass.layers[l]!.qkv_in.length / (b * K), 'q/k/v inputs');
        check(products.layers[l]!.mlp, pass.layers[l]!.mlp_in, 1, 'MLP input');
      }
    } finally {
      await model.dispose();
    }
  });
});
