/**
 * Rotary-family models for the gradient and attribution tests, adapted in memory by the engine's
 * adapters from seeded random HF checkpoints, with the HF tensors and config the float64 references
 * read (reference-llama-backward.ts, reference-gpt-neox-backward.ts):
 *  - Llama family (model/random-llama.ts): llama with GQA and llama3 rope scaling, mistral with a
 *    sliding window of 4 keys, qwen2 with q/k/v biases and tied embeddings, qwen3 with q/k norms and
 *    head_dim ≠ d_model / heads;
 *  - GPT-NeoX (model/random-gpt-neox.ts): partial rotary (4 of 16 dims), biases, the parallel or the
 *    sequential residual;
 *  - Gemma (model/random-gemma.ts): gemma2 with soft-caps and sliding even layers, gemma3_text with q/k
 *    norms and two RoPE bases; both with post-norms, GeGLU, head_dim ≠ d_model / heads and GQA.
 * Also the comparison of a backward pass with a reference's gradients, and the gradient-graph suite, shared by
 * their tests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ArchitectureAdapter } from '../../src/engine/model/adapters/adapter.js';
import { gemmaAdapter } from '../../src/engine/model/adapters/gemma.js';
import type { GemmaType } from '../../src/engine/model/adapters/gemma-config.js';
import { gptNeoxAdapter } from '../../src/engine/model/adapters/gpt-neox.js';
import { llamaAdapter } from '../../src/engine/model/adapters/llama.js';
import type { LlamaFamilyType } from '../../src/engine/model/adapters/llama-config.js';
import type { HfTensor } from '../../src/engine/model/hf-gpt2-layout.js';
import { generateRandomGemma } from '../../src/engine/model/random-gemma.js';
import { generateRandomGptNeox } from '../../src/engine/model/random-gpt-neox.js';
import { generateRandomLlama } from '../../src/engine/model/random-llama.js';
import type { TensorSource } from '../../src/engine/model/tensor-source.js';
import type { CanonicalModel } from '../../src/engine/model/weights.js';
import { defaultMetricCoefficients, GradientModel, type BackwardPass, type MetricCoefficients } from '../../src/engine/runtime/gradient-model.js';
import { tensor } from '../../src/engine/tensor.js';
import type { ReferenceBackwardOptions, ReferenceGradients, ReferenceMetric } from './reference-gpt2-backward.js';
import type { ReferenceWeightTensor } from './reference-gpt2.js';

export interface RotaryGradientFixture {
  label: string;
  model: CanonicalModel;
  tensors: Map<string, ReferenceWeightTensor>;
  config: Record<string, unknown>;
}

/** The tiny random checkpoint of `arch`; `sharpen` multiplies q_proj and k_proj, for sharper attention. */
export function llamaGradientFixture(arch: LlamaFamilyType, seed: number, sharpen = 1): RotaryGradientFixture {
  const random = generateRandomLlama(arch, 'tiny', seed);
  return adapted(`random ${arch} (seed ${seed})`, llamaAdapter, random.config, scaled(random.tensors, /self_attn\.(q_proj|k_proj)\.weight$/, sharpen));
}

/** The tiny random GPT-NeoX with the parallel or the sequential residual; `sharpen` multiplies query_key_value. */
export function gptNeoxGradientFixture(seed: number, parallelResidual: boolean, sharpen = 1): RotaryGradientFixture {
  const random = generateRandomGptNeox('tiny', seed, { parallelResidual });
  const label = `random gpt_neox, ${parallelResidual ? 'parallel' : 'sequential'} residual (seed ${seed})`;
  return adapted(label, gptNeoxAdapter, random.config, scaled(random.tensors, /attention\.query_key_value\.weight$/, sharpen));
}

/** The tiny random Gemma of `arch`; `sharpen` multiplies q_proj and k_proj. */
export function gemmaGradientFixture(arch: GemmaType, seed: number, sharpen = 1): RotaryGradientFixture {
  const random = generateRandomGemma(arch, 'tiny', seed);
  return adapted(`random ${arch} (seed ${seed})`, gemmaAdapter, random.config, scaled(random.tensors, /self_attn\.(q_proj|k_proj)\.weight$/, sharpen));
}

function scaled(tensors: HfTensor[], names: RegExp, factor: number): HfTensor[] {
  return tensors.map((t) => (factor !== 1 && names.test(t.name) ? { ...t, data: t.data.map((x) => x * factor) } : t));
}

function adapted(label: string, adapter: ArchitectureAdapter, config: Record<string, unknown>, list: HfTensor[]): RotaryGradientFixture {
  const tensors = new Map(list.map((t) => [t.name, { shape: t.shape, data: t.data }]));
  const source: TensorSource = {
    names: () => [...tensors.keys()],
    shape: (name) => tensors.get(name)?.shape,
    get: (name) => {
      const t = tensors.get(name);
      if (!t) throw new Error(`gradient fixture: no tensor ${name}`);
      return tensor(t.data.slice(), t.shape);
    },
  };
  return { label, model: adapter.adapt(config, source), tensors, config };
}

/**
 * Asserts that batch row `row` of a backward pass matches a reference's gradients: every hook point
 * of the model's points, the MLP's input, each query head's and each key/value head's split inputs
 * (qkv_in [head + 2 kv_head, b, p, d_model] against hook_{q,k,v}_input [pos, heads, d_model]) and the
 * final residual. Tolerance: 1e-4 of the tensor's largest gradient, or of 1% of the run's largest
 * where the tensor's own is smaller (a saturated softmax passes back gradients float32 cannot give
 * to 1e-4 of themselves).
 */
export function assertGradientsMatch(model: GradientModel, pass: BackwardPass, reference: ReferenceGradients, row: number, batch: number, label: string): void {
  const { dModel: D, nHeads: H } = model.config;
  const Hkv = model.config.nKvHeads ?? H;
  const P = pass.finalResid.length / (batch * D);
  const rowOf = (all: Float32Array): Float32Array => all.subarray((row * all.length) / batch, ((row + 1) * all.length) / batch);
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
    assert.ok(err <= 1e-4, `${label} row ${row}: gradient of ${what} off by ${err.toExponential(2)} of its largest value`);
  };
  for (let l = 0; l < model.config.nLayers; l++) {
    const layer = pass.layers[l]! as unknown as Record<string, Float32Array>;
    for (const { hook, output } of model.points) check(rowOf(layer[output]!), reference.gradients.get(`blocks.${l}.${hook}`), `blocks.${l}.${hook}`);
    check(rowOf(layer['mlp_in']!), reference.gradients.get(`blocks.${l}.hook_mlp_in`), `layer ${l}'s MLP input`);
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
  check(rowOf(pass.finalResid), reference.gradients.get('final_resid'), 'the final residual');
}

/** Asserts that a forward pass's one row holds every hook point of the reference's values (1e-4 of the largest). */
export function assertValuesMatch(model: GradientModel, layers: ReadonlyArray<object>, reference: ReferenceGradients): void {
  for (let l = 0; l < model.config.nLayers; l++)
    for (const { hook, output } of model.points) {
      const actual = (layers[l] as Record<string, Float32Array>)[output]!;
      const expected = reference.values.get(`blocks.${l}.${hook}`)!;
      assert.equal(actual.length, expected.length, `blocks.${l}.${hook} size`);
      let diff = 0,
        scale = 0;
      for (let i = 0; i < expected.length; i++) {
        diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
        scale = Math.max(scale, Math.abs(expected[i]!));
      }
      assert.ok(diff <= 1e-4 * Math.max(scale, 1e-3), `blocks.${l}.${hook}: off by ${diff.toExponential(2)} (largest ${scale.toExponential(2)})`);
    }
}

/** Two prompts of 8 tokens (past the sliding windows of 4 keys), each with its own metric: the gradient tests' batch. */
export const GRADIENT_PROMPTS = [
  [464, 3797, 3332, 319, 262, 2603, 13, 383],
  [464, 3290, 3332, 319, 262, 2603, 13, 1110],
];
export const GRADIENT_METRICS: MetricCoefficients[] = [defaultMetricCoefficients(3332, 1110), { logit: [[2603, 0.5]], logProb: [[383, -2]] }];

/** A family's float64 reverse pass of one prompt from its token ids (its embeddings included). */
export type RotaryReference = (
  fixture: RotaryGradientFixture,
  ids: readonly number[],
  metric: ReferenceMetric,
  options?: ReferenceBackwardOptions,
) => ReferenceGradients;

/** Asserts that the forward graphs give every hook point of `reference` on the first prompt. */
export async function assertForwardMatchesReference(model: GradientModel, fixture: RotaryGradientFixture, reference: RotaryReference): Promise<void> {
  const forward = await model.forward(model.embed(GRADIENT_PROMPTS[0]!), 1);
  assertValuesMatch(model, forward.layers, reference(fixture, GRADIENT_PROMPTS[0]!, GRADIENT_METRICS[0]!));
}

/**
 * Runs the batch of GRADIENT_PROMPTS through the backward graphs (exact, frozen, or with row r's layer
 * dropLayer[r] dropped) and asserts each row's metric (1e-4 relative) and gradients (assertGradientsMatch)
 * against `reference`.
 */
export async function assertBackwardMatchesReference(
  model: GradientModel,
  fixture: RotaryGradientFixture,
  reference: RotaryReference,
  options: { frozen?: boolean; dropLayer?: Array<number | null> },
): Promise<void> {
  const { dModel: D } = model.config;
  const P = GRADIENT_PROMPTS[0]!.length;
  const embeddings = new Float32Array(GRADIENT_PROMPTS.length * P * D);
  GRADIENT_PROMPTS.forEach((ids, r) => embeddings.set(model.embed(ids), r * P * D));
  const forward = await model.forward(embeddings, GRADIENT_PROMPTS.length);
  const pass = await model.backward({ forward, metrics: GRADIENT_METRICS, ...options });
  GRADIENT_PROMPTS.forEach((ids, r) => {
    const ref = reference(fixture, ids, GRADIENT_METRICS[r]!, {
      frozen: options.frozen ?? false,
      ...(options.dropLayer?.[r] != null ? { dropLayer: options.dropLayer[r]! } : {}),
    });
    assert.ok(Math.abs(pass.metric[r]! - ref.metric) <= 1e-4 * Math.max(1, Math.abs(ref.metric)), `metric ${pass.metric[r]} vs ${ref.metric}`);
    assertGradientsMatch(model, pass, ref, r, GRADIENT_PROMPTS.length, `${fixture.label}${options.frozen ? ' (frozen)' : ''}`);
  });
}

/** What a family's gradient-graph suite adds to the shared tests. */
export interface RotaryGradientSuite {
  /** The layer the first row drops in the GradDrop test. */
  dropLayer: number;
  /** The forward test's title after "the forward graphs give every hook point of the reference", and a check of the model before it. */
  forward?: { title: string; check: (model: GradientModel) => void };
}

/**
 * The gradient graphs of one tiny rotary model (run by GradientModel) against its family's float64 reference:
 * every hook point of the forward, then exact and frozen gradients of a batch of rows with their own metrics, and
 * GradDrop (assertForwardMatchesReference, assertBackwardMatchesReference).
 */
export function describeRotaryGradients(title: string, makeFixture: () => RotaryGradientFixture, reference: RotaryReference, suite: RotaryGradientSuite): void {
  describe(title, () => {
    let fixture: RotaryGradientFixture;
    let model: GradientModel;
    before(async () => {
      fixture = makeFixture();
      model = await GradientModel.create(fixture.model, { threads: 1 });
    });
    after(() => model.dispose());
    const run = (options: { frozen?: boolean; dropLayer?: Array<number | null> }): Promise<void> =>
      assertBackwardMatchesReference(model, fixture, reference, options);

    test(`the forward graphs give every hook point of the reference${suite.forward ? ` ${suite.forward.title}` : ''}`, async () => {
      suite.forward?.check(model);
      await assertForwardMatchesReference(model, fixture, reference);
    });
    test('exact gradients of every hook point and split input, a batch of rows with their own metrics', () => run({}));
    test('frozen attention patterns and norm scales (the linearised model)', () => run({ frozen: true }));
    test('GradDrop: a row whose layer passes no gradient back through its attention and MLP', () => run({ dropLayer: [suite.dropLayer, null] }));
  });
}
