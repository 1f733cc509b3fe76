/**
 * GPT-NeoX (Pythia) models on the ONNX engine against the independent float64 reference
 * (test/helpers/reference-gpt-neox.ts): every hook point within 1e-4, patterns within 1e-5, on
 * seeded random checkpoints in HF's layout with rotary_pct 0.25 (RoPE on 4 of 16 head dimensions),
 * biases everywhere, exact GELU, and both the parallel residual (Pythia's) and the sequential one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allHookNames } from '../../../src/engine/hooks.js';
import { graphFamily } from '../../../src/engine/model/config.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGptNeox, type RandomGptNeox } from '../../../src/engine/model/random-gpt-neox.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { withinTolerance } from '../../helpers/model-fixtures.js';
import { referenceGptNeoxForward } from '../../helpers/reference-gpt-neox.js';

const IDS = Array.from({ length: 24 }, (_, i) => (i * 7919 + 13) % 50257);

async function writeFolder(random: RandomGptNeox): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ct-gpt-neox-'));
  await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
  return dir;
}

const code =
  (expected: string, message: RegExp) =>
  (e: Error & { code?: string }): boolean =>
    e.code === expected && message.test(e.message);

for (const parallelResidual of [true, false]) {
  describe(`tiny random gpt_neox, ${parallelResidual ? 'parallel' : 'sequential'} residual`, () => {
    let random: RandomGptNeox;
    let model: InstrumentedModel;
    before(async () => {
      random = generateRandomGptNeox('tiny', 5, { parallelResidual });
      model = await InstrumentedModel.create((await loadModelFolder(await writeFolder(random))).model, { device: 'cpu' });
    });
    after(() => model.dispose());

    test('every hook point matches the float64 reference', async () => {
      const family = parallelResidual ? 'neox' : 'neox_sequential';
      assert.equal(graphFamily(model.config), family);
      assert.equal(model.config.rotaryDims, 4);
      const { cache } = await model.forward(IDS, { hooks: 'all' });
      const ref = referenceGptNeoxForward(new Map(random.tensors.map((t) => [t.name, t])), random.config, IDS);
      const names = allHookNames(2, family);
      assert.equal(names.includes('blocks.0.hook_resid_mid'), !parallelResidual, 'hook_resid_mid only with the sequential residual');
      assert.deepEqual([...cache.keys()].sort(), [...names].sort());
      assert.deepEqual([...ref.keys()].sort(), [...names].sort(), 'the reference computes every hook point');
      for (const name of names) {
        const a = cache.get(name)!,
          e = ref.get(name)!;
        assert.deepEqual(a.shape, e.shape, `${name} shape`);
        const tol = name.endsWith('hook_pattern') ? 1e-5 : 1e-4;
        const { ok, diff } = withinTolerance(a.data, e.data, tol);
        assert.ok(ok, `${name}: max difference ${diff.toExponential(3)} exceeds ${tol}`);
      }
    });

    test('hooks the family lacks are refused by name', async () => {
      await assert.rejects(model.forward([1, 2], { hooks: ['hook_pos_embed'] }), /hook_pos_embed" is not a hook point of this model/);
      await assert.rejects(model.forward([1, 2], { hooks: ['blocks.0.mlp.hook_pre_linear'] }), /not a hook point of this model: GPT-NeoX/);
      if (parallelResidual) await assert.rejects(model.forward([1, 2], { hooks: ['blocks.1.hook_resid_mid'] }), /parallel residual/);
    });
  });
}

describe('gpt_neox checkpoints the engine must not run', () => {
  const load = async (edit: (r: RandomGptNeox) => void): Promise<unknown> => {
    const random = generateRandomGptNeox('tiny', 1);
    edit(random);
    return loadModelFolder(await writeFolder(random));
  };

  test('a wrong tensor shape is WRONG_SHAPE naming the tensor', async () => {
    await assert.rejects(
      load((r) => {
        const t = r.tensors.find((x) => x.name === 'gpt_neox.layers.1.attention.query_key_value.weight')!;
        t.shape = [t.shape[0]! / 3, t.shape[1]! * 3];
      }),
      code('WRONG_SHAPE', /gpt_neox\.layers\.1\.attention\.query_key_value\.weight/),
    );
  });

  test('a missing unembedding is MISSING_TENSOR naming it', async () => {
    await assert.rejects(
      load((r) => void (r.tensors = r.tensors.filter((t) => t.name !== 'embed_out.weight'))),
      code('MISSING_TENSOR', /embed_out\.weight/),
    );
  });

  for (const [key, value] of [
    ['hidden_act', 'relu'],
    ['hidden_act', 'gelu_new'],
    ['rope_scaling', { type: 'linear', factor: 2 }],
    ['rope_parameters', { rope_type: 'dynamic', factor: 2, rope_theta: 10000 }],
    ['rotary_pct', 0.1],
  ] as const) {
    test(`${key}: ${JSON.stringify(value)} is BAD_CONFIG naming the key`, async () => {
      await assert.rejects(
        load((r) => void (r.config[key] = value)),
        code('BAD_CONFIG', new RegExp(`"${key}"`)),
      );
    });
  }
});
