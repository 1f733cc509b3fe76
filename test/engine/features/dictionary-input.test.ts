/**
 * What a dictionary's encoder reads (src/engine/features/dictionary-input.ts) on tiny random GPT-2,
 * Llama, Gemma and GPT-NeoX (parallel residual: the MLP reads resid_pre) models: the derived hooks blocks.L.ln2.hook_normalized and blocks.L.mlp.hook_in
 * against the float64 reference forwards and the checkpoint's own norm weights
 * (test/helpers/reference-features.ts), cached hooks read as they are, and bad hooks refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../../../src/engine/errors.js';
import { dictionaryHookSources, dictionaryInput } from '../../../src/engine/features/dictionary-input.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGemma } from '../../../src/engine/model/random-gemma.js';
import { generateRandomGptNeox } from '../../../src/engine/model/random-gpt-neox.js';
import { generateRandomLlama, type RandomLlama } from '../../../src/engine/model/random-llama.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { randomModelFolder, withinTolerance } from '../../helpers/model-fixtures.js';
import { referenceMlpInput, type ReferenceNormFamily } from '../../helpers/reference-features.js';
import type { ReferenceTensor, ReferenceWeightTensor } from '../../helpers/reference-gpt2.js';
import { referenceGpt2Forward } from '../../helpers/reference-gpt2.js';
import { referenceGemmaForward } from '../../helpers/reference-gemma.js';
import { referenceGptNeoxForward } from '../../helpers/reference-gpt-neox.js';
import { referenceLlamaForward } from '../../helpers/reference-llama.js';

const IDS = [464, 3797, 3332, 319, 262, 2603, 13, 383];

/** Each [d] row of `x` minus its mean, in float64: TransformerLens's center_writing_weights stream. */
function centredRows(x: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let start = 0; start < x.length; start += d) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[start + i]!;
    mean /= d;
    for (let i = 0; i < d; i++) out[start + i] = x[start + i]! - mean;
  }
  return out;
}

interface Case {
  family: ReferenceNormFamily;
  /** The norm's epsilon, from the checkpoint's config.json. */
  make(): Promise<{ model: InstrumentedModel; eps: number; tensors: Map<string, ReferenceWeightTensor>; reference: Map<string, ReferenceTensor> }>;
}

async function folderModel(config: Record<string, unknown>, tensors: RandomLlama['tensors'], tag: string): Promise<InstrumentedModel> {
  const dir = mkdtempSync(join(tmpdir(), `ct-dict-input-${tag}-`));
  await writeHfFolder(dir, { config, tensors, tokenizerJson: loadGpt2TokenizerJson() } as never);
  return InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' });
}

const CASES: Case[] = [
  {
    family: 'gpt2',
    async make() {
      const fixture = await randomModelFolder('tiny', 7);
      const model = await InstrumentedModel.create((await loadModelFolder(fixture.dir)).model, { device: 'cpu' });
      const reference = referenceGpt2Forward(fixture.tensors, { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 }, IDS);
      return { model, eps: 1e-5, tensors: fixture.tensors, reference };
    },
  },
  {
    family: 'llama',
    async make() {
      const random = generateRandomLlama('llama', 'tiny', 41);
      const tensors = new Map(random.tensors.map((t) => [t.name, t]));
      const model = await folderModel(random.config, random.tensors, 'llama');
      return { model, eps: random.config['rms_norm_eps'] as number, tensors, reference: referenceLlamaForward(tensors, random.config, IDS) };
    },
  },
  {
    family: 'gemma',
    async make() {
      const random = generateRandomGemma('gemma2', 'tiny', 42);
      const tensors = new Map(random.tensors.map((t) => [t.name, t]));
      const model = await folderModel(random.config, random.tensors, 'gemma');
      return {
        model,
        eps: (random.config['rms_norm_eps'] as number | undefined) ?? 1e-6,
        tensors,
        reference: referenceGemmaForward(tensors, random.config, IDS).hooks,
      };
    },
  },
  {
    family: 'neox',
    async make() {
      const random = generateRandomGptNeox('tiny', 43);
      const tensors = new Map(random.tensors.map((t) => [t.name, t]));
      const model = await folderModel(random.config, random.tensors, 'neox');
      return {
        model,
        eps: (random.config['layer_norm_eps'] as number | undefined) ?? 1e-5,
        tensors,
        reference: referenceGptNeoxForward(tensors, random.config, IDS),
      };
    },
  },
];

for (const c of CASES) {
  describe(`dictionary inputs on a tiny random ${c.family}`, () => {
    let made: Awaited<ReturnType<Case['make']>>;
    before(async () => {
      made = await c.make();
    });
    after(() => made.model.dispose());

    const layerNorm = c.family === 'gpt2' || c.family === 'neox';
    for (const layer of [0, 1]) {
      // ln2.hook_normalized is before LayerNorm's weight and bias with fold_ln, after them without; RMSNorm's is before the weight either way.
      for (const [hook, foldLn, weighted] of [
        ['ln2.hook_normalized', true, false],
        ['ln2.hook_normalized', false, layerNorm],
        ['mlp.hook_in', true, true],
        ['mlp.hook_in', false, true],
      ] as const) {
        test(`blocks.${layer}.${hook} with fold_ln ${foldLn ? 'on' : 'off'} matches the reference ${weighted ? 'after' : 'before'} the norm's weights`, async () => {
          const { model } = made;
          const name = `blocks.${layer}.${hook}`;
          const sources = dictionaryHookSources(name, model.config);
          const { cache } = await model.forward(IDS, { hooks: sources });
          // Centring changes neither: the norm removes the mean.
          const value = dictionaryInput(name, cache, model.config, model.weights, { centerWritingWeights: true, foldLn });
          assert.deepEqual(value.shape, [IDS.length, 64]);
          const { eps } = made;
          const expected = referenceMlpInput(c.family, made.tensors, made.reference, layer, eps, weighted);
          const { ok, diff } = withinTolerance(value.data, expected, 1e-4);
          assert.ok(ok, `${name}: max difference ${diff.toExponential(3)}`);
          // The weight matters: the hook after the weights differs from the one before.
          if (weighted) assert.ok(!withinTolerance(value.data, referenceMlpInput(c.family, made.tensors, made.reference, layer, eps, false), 1e-2).ok);
        });
      }
    }

    test('a cached d_model hook is read as it is without center_writing_weights, in an array of its own', async () => {
      const { model } = made;
      const name = 'blocks.1.hook_resid_pre';
      assert.deepEqual(dictionaryHookSources(name, model.config), [name]);
      const { cache } = await model.forward(IDS, { hooks: [name] });
      const value = dictionaryInput(name, cache, model.config, model.weights, { centerWritingWeights: false, foldLn: true });
      assert.deepEqual([...value.data], [...cache.get(name)!.data]);
      assert.notEqual(value.data, cache.get(name)!.data);
      assert.ok(withinTolerance(value.data, made.reference.get(name)!.data, 1e-4).ok);
    });

    test(`with center_writing_weights, residual and sublayer-output hooks are ${layerNorm ? 'centred over d_model (LayerNorm)' : 'read as they are (RMSNorm)'}`, async () => {
      const { model } = made;
      const names = ['blocks.0.hook_resid_pre', 'blocks.1.hook_attn_out', 'blocks.1.hook_mlp_out', 'blocks.1.hook_resid_post'];
      const { cache } = await model.forward(IDS, { hooks: names as never });
      for (const name of names) {
        const raw = made.reference.get(name)!.data;
        const expected = layerNorm ? centredRows(raw, 64) : Float64Array.from(raw);
        const value = dictionaryInput(name, cache, model.config, model.weights, { centerWritingWeights: true, foldLn: true });
        const { ok, diff } = withinTolerance(value.data, expected, 1e-4);
        assert.ok(ok, `${name}: max difference ${diff.toExponential(3)}`);
        // The rows' means are well above the tolerance of the match, so the test tells centred from raw.
        if (layerNorm) assert.ok(!withinTolerance(value.data, raw, 1e-4).ok, `${name} has a mean to remove`);
      }
    });

    test('hooks that are no per-layer d_model hook of the model are typed errors', () => {
      const { config } = made.model;
      for (const bad of ['blocks.2.mlp.hook_in', 'blocks.0.attn.hook_z', 'blocks.0.hook_nothing', 'blocks.5.hook_resid_pre', 'logits']) {
        assert.throws(
          () => dictionaryHookSources(bad, config),
          (e: unknown) => e instanceof EngineError && e.code === 'BAD_CONFIG' && e.message.includes(bad),
          bad,
        );
      }
    });
  });
}
