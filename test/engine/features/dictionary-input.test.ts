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

    for (const layer of [0, 1]) {
      for (const [hook, weighted] of [
        ['ln2.hook_normalized', false],
        ['mlp.hook_in', true],
      ] as const) {
        test(`blocks.${layer}.${hook} matches the reference`, async () => {
          const { model } = made;
          const name = `blocks.${layer}.${hook}`;
          const sources = dictionaryHookSources(name, model.config);
          const { cache } = await model.forward(IDS, { hooks: sources });
          const value = dictionaryInput(name, cache, model.config, model.weights);
          assert.deepEqual(value.shape, [IDS.length, 64]);
          const { eps } = made;
          const expected = referenceMlpInput(c.family, made.tensors, made.reference, layer, eps, weighted);
          const { ok, diff } = withinTolerance(value.data, expected, 1e-4);
          assert.ok(ok, `${name}: max difference ${diff.toExponential(3)}`);
          // The weight matters: the two derived hooks differ.
          if (weighted) assert.ok(!withinTolerance(value.data, referenceMlpInput(c.family, made.tensors, made.reference, layer, eps, false), 1e-2).ok);
        });
      }
    }

    test('a cached d_model hook is read as it is, in an array of its own', async () => {
      const { model } = made;
      const name = 'blocks.1.hook_resid_pre';
      assert.deepEqual(dictionaryHookSources(name, model.config), [name]);
      const { cache } = await model.forward(IDS, { hooks: [name] });
      const value = dictionaryInput(name, cache, model.config, model.weights);
      assert.deepEqual([...value.data], [...cache.get(name)!.data]);
      assert.notEqual(value.data, cache.get(name)!.data);
      assert.ok(withinTolerance(value.data, made.reference.get(name)!.data, 1e-4).ok);
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
