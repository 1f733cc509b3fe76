/**
 * Feature activations of one dictionary layer (src/engine/features/encode.ts) against the float64
 * SAELens definitions (test/helpers/reference-features.ts): ReLU, TopK and JumpReLU, with and
 * without apply_b_dec_to_input, and both input normalisations.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeLayer } from '../../../src/engine/features/encode.js';
import { EngineError } from '../../../src/engine/errors.js';
import { MatmulSessions } from '../../../src/engine/runtime/matmul-session.js';
import { tensor } from '../../../src/engine/tensor.js';
import { randomDictionaryLayer, seededNormal, type FixtureLayerSpec } from '../../helpers/dictionary-fixtures.js';
import { referenceEncode } from '../../helpers/reference-features.js';

const D = 48;
const P = 6;
const normal = seededNormal(5);
/** Inputs of a few units' norm with a common offset, as residual streams have. */
const X = Float32Array.from({ length: P * D }, (_, i) => normal() * 1.5 + (i % D < 4 ? 2 : 0));

const CASES: ReadonlyArray<{ name: string; spec: Partial<FixtureLayerSpec> }> = [
  { name: 'ReLU', spec: {} },
  { name: 'ReLU with apply_b_dec_to_input', spec: { applyBDecToInput: true } },
  { name: 'TopK (k = 5)', spec: { activation: { kind: 'topk', k: 5 } } },
  {
    name: 'TopK with apply_b_dec_to_input and expected_average_only_in',
    spec: { activation: { kind: 'topk', k: 3 }, applyBDecToInput: true, normalization: { kind: 'expected_average_only_in', inputScale: 0.37 } },
  },
  { name: 'JumpReLU', spec: { activation: 'jumprelu' } },
  { name: 'JumpReLU with constant_norm_rescale', spec: { activation: 'jumprelu', normalization: { kind: 'constant_norm_rescale' } } },
  { name: 'ReLU with constant_norm_rescale and apply_b_dec_to_input', spec: { applyBDecToInput: true, normalization: { kind: 'constant_norm_rescale' } } },
];

describe('encodeLayer', () => {
  let matmul: MatmulSessions;
  before(async () => {
    matmul = await MatmulSessions.create(1);
  });
  after(() => matmul.dispose());

  CASES.forEach(({ name, spec }, i) => {
    test(`${name} matches the float64 reference`, async () => {
      const layer = randomDictionaryLayer(
        { layer: 0, inputHook: 'blocks.0.hook_resid_pre', outputHooks: ['blocks.0.hook_resid_pre'], dSae: 40, ...spec },
        D,
        100 + i,
      );
      const enc = await encodeLayer(matmul, layer, tensor(X.slice(), [P, D]));
      const ref = referenceEncode(layer, X, P);
      assert.equal(enc.positions, P);
      assert.equal(enc.pre.length, P * 40);
      let active = 0;
      for (let j = 0; j < ref.pre.length; j++) {
        assert.ok(Math.abs(enc.pre[j]! - ref.pre[j]!) <= 1e-5 * Math.max(1, Math.abs(ref.pre[j]!)), `pre ${j}: ${enc.pre[j]} vs ${ref.pre[j]}`);
        assert.ok(Math.abs(enc.acts[j]! - ref.acts[j]!) <= 1e-5 * Math.max(1, Math.abs(ref.acts[j]!)), `act ${j}: ${enc.acts[j]} vs ${ref.acts[j]}`);
        if (ref.acts[j]! > 0) active++;
      }
      // Neither all nor none: the test would not see a wrong threshold or k otherwise.
      assert.ok(active > 0 && active < ref.acts.length, `${active} active of ${ref.acts.length}`);
      if (typeof spec.activation === 'object') assert.ok(active <= P * spec.activation.k);
      for (let p = 0; p < P; p++) assert.ok(Math.abs(enc.inputScale[p]! - ref.scale[p]!) <= 1e-9 * ref.scale[p]!);
    });
  });

  test('an input of another width is a typed error', async () => {
    const layer = randomDictionaryLayer({ layer: 0, inputHook: 'blocks.0.hook_resid_pre', outputHooks: ['blocks.0.hook_resid_pre'], dSae: 8 }, D, 1);
    await assert.rejects(
      encodeLayer(matmul, layer, tensor(new Float32Array(2 * 10), [2, 10])),
      (e: unknown) => e instanceof EngineError && e.code === 'WRONG_SHAPE',
    );
  });
});
