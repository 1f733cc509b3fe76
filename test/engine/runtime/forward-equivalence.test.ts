/**
 * The ONNX engine against the independent float64 reference forward (test/helpers/reference-gpt2.ts):
 * logits within 1e-4, attention patterns within 1e-5, every hook point within 1e-4 (absolute, or
 * relative to the tensor's largest magnitude where that exceeds 1).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { allHookNames } from '../../../src/engine/hooks.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { referenceGpt2Forward } from '../../helpers/reference-gpt2.js';
import { randomModelFolder, withinTolerance, type RandomModelFixture } from '../../helpers/model-fixtures.js';

function compareAll(engine: Map<string, { data: Float32Array }>, reference: Map<string, { data: Float64Array }>, names: string[]): void {
  for (const name of names) {
    const a = engine.get(name as never);
    const e = reference.get(name);
    assert.ok(a, `engine returned ${name}`);
    assert.ok(e, `reference has ${name}`);
    const tol = name.endsWith('hook_pattern') ? 1e-5 : 1e-4;
    const { ok, diff } = withinTolerance(a.data, e.data, tol);
    assert.ok(ok, `${name}: max difference ${diff.toExponential(3)} exceeds ${tol}`);
  }
}

const WEIGHT_PATHS = [
  { label: 'weights as inputs', options: { weightMode: 'inputs' } },
  { label: 'weights as initializers from memory', options: { weightMode: 'initializers', initializerFiles: 'never' } },
  { label: 'weights as initializers from temporary files', options: { weightMode: 'initializers', initializerFiles: 'always' } },
] as const;

for (const { label, options } of WEIGHT_PATHS) {
  describe(`tiny random GPT-2 (${label})`, () => {
    let fixture: RandomModelFixture;
    let model: InstrumentedModel;
    before(async () => {
      fixture = await randomModelFolder('tiny', 7);
      const loaded = await loadModelFolder(fixture.dir);
      model = await InstrumentedModel.create(loaded.model, { device: 'cpu', ...options });
    });
    after(() => model.dispose());

    test('every hook point matches the reference forward', async () => {
      const ids = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332, 319, 262];
      const { cache, provider } = await model.forward(ids, { hooks: 'all' });
      assert.equal(provider, 'cpu');
      const ref = referenceGpt2Forward(fixture.tensors, { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 }, ids);
      const names = allHookNames(2);
      assert.deepEqual([...cache.keys()].sort(), [...names].sort());
      for (const name of names) assert.deepEqual(cache.get(name)!.shape, ref.get(name)!.shape, `${name} shape`);
      compareAll(cache, ref, names);
    });

    test('only the requested hooks leave the graph, and layers stream in order', async () => {
      const layers: number[] = [];
      const { cache } = await model.forward([1, 2, 3], { hooks: ['blocks.1.attn.hook_z', 'logits'], onLayer: (l) => layers.push(l) });
      assert.deepEqual([...cache.keys()].sort(), ['blocks.1.attn.hook_z', 'logits']);
      assert.deepEqual(layers, [0, 1]);
      assert.deepEqual(cache.get('blocks.1.attn.hook_z')!.shape, [3, 4, 16]);
    });
  });
}

describe('GPT-2-small-shaped random model', () => {
  test('a short prompt matches the reference forward at every hook point', async () => {
    const fixture = await randomModelFolder('small', 3);
    const loaded = await loadModelFolder(fixture.dir);
    const model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
    try {
      const ids = [15496, 11, 995, 0, 314];
      const { cache } = await model.forward(ids, { hooks: 'all' });
      const ref = referenceGpt2Forward(fixture.tensors, { n_layer: 12, n_head: 12, n_embd: 768, layer_norm_epsilon: 1e-5 }, ids);
      compareAll(cache, ref, allHookNames(12));
    } finally {
      await model.dispose();
    }
  });
});
