/**
 * Interventions (InstrumentedModel.intervene) on tiny random GPT-NeoX models, parallel and
 * sequential residual, rotary_pct 0.25, against the independent float64 reference
 * (test/helpers/reference-gpt-neox.ts) run with the same patch through its intervention callback:
 * every hook point within 1e-4 (patterns 1e-5) for z, resid_pre, attn_out and mlp_out patches in
 * one batch, q/k/v patches (before RoPE), a start layer above 0, and incremental passes (queryFrom over cached keys and values,
 * whose RoPE positions must be the absolute ones).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allHookNames, type ActivationCache, type HookName } from '../../../src/engine/hooks.js';
import type { HookArchitecture } from '../../../src/engine/hooks/registry.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGptNeox, type RandomGptNeox } from '../../../src/engine/model/random-gpt-neox.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import type { InterventionVariant, KeysValues } from '../../../src/engine/runtime/types.js';
import { tensor, type Tensor } from '../../../src/engine/tensor.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { withinTolerance } from '../../helpers/model-fixtures.js';
import type { ReferenceTensor } from '../../helpers/reference-gpt2.js';
import { referenceGptNeoxForward } from '../../helpers/reference-gpt-neox.js';

const H = 4,
  D = 64,
  DH = 16;
const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332];
const CORRUPT = [464, 3290, 3332, 319, 262, 2603, 13, 383, 3290, 1110];
const P = CLEAN.length;

/** A patch as the reference applies it: which hook, which positions, which head (hook_z only). */
interface RefPatch {
  hook: string;
  positions?: readonly number[];
  head?: number;
  /** Full-prompt value: [pos, d_head] for hook_z, [pos, d_model] otherwise. */
  value: ArrayLike<number>;
}

function referenceWith(random: RandomGptNeox, ids: readonly number[], patches: readonly RefPatch[] = []): Map<string, ReferenceTensor> {
  return referenceGptNeoxForward(new Map(random.tensors.map((t) => [t.name, t])), random.config, ids, {
    intervene: (name, original) => {
      let t: ReferenceTensor | undefined;
      for (const patch of patches) {
        if (patch.hook !== name) continue;
        t ??= { shape: [...original.shape], data: original.data.slice() };
        for (const p of patch.positions ?? Array.from({ length: P }, (_, i) => i)) {
          if (patch.head !== undefined) for (let e = 0; e < DH; e++) t.data[(p * H + patch.head) * DH + e] = patch.value[p * DH + e]!;
          else for (let i = 0; i < D; i++) t.data[p * D + i] = patch.value[p * D + i]!;
        }
      }
      return t;
    },
  });
}

/** Rows `from`.. of a reference tensor (queries from.. of a pattern), as an incremental pass returns them. */
function referenceRows(name: string, t: ReferenceTensor, from: number): Float64Array {
  if (name.endsWith('hook_pattern')) {
    const [h, q, k] = t.shape as [number, number, number];
    const out = new Float64Array(h * (q - from) * k);
    for (let i = 0; i < h; i++) out.set(t.data.subarray((i * q + from) * k, (i + 1) * q * k), i * (q - from) * k);
    return out;
  }
  return t.data.subarray(from * (t.data.length / t.shape[0]!));
}

function assertMatches(engine: ActivationCache, reference: Map<string, ReferenceTensor>, names: readonly HookName[], from: number, what: string): void {
  for (const name of names) {
    const a = engine.get(name);
    const e = reference.get(name);
    assert.ok(a && e, `${what}: ${name} in both`);
    const tol = name.endsWith('hook_pattern') ? 1e-5 : 1e-4;
    const { ok, diff } = withinTolerance(a.data, referenceRows(name, e, from), tol);
    assert.ok(ok, `${what}: ${name} differs from the reference by ${diff.toExponential(3)} (tolerance ${tol})`);
  }
}

/** Head `head` of a [pos, head, d_head] hook_z as [pos, d_head]. */
function headOf(z: ReferenceTensor, head: number): Tensor {
  const out = new Float32Array(P * DH);
  for (let p = 0; p < P; p++) for (let e = 0; e < DH; e++) out[p * DH + e] = z.data[(p * H + head) * DH + e]!;
  return tensor(out, [P, DH]);
}

for (const parallelResidual of [true, false]) {
  const family: HookArchitecture = parallelResidual ? 'neox' : 'neox_sequential';
  describe(`intervene on a tiny random gpt_neox, ${parallelResidual ? 'parallel' : 'sequential'} residual`, () => {
    let random: RandomGptNeox;
    let model: InstrumentedModel;
    let clean: Map<string, ReferenceTensor>;
    const names = allHookNames(2, family);
    const cleanTensor = (hook: string): Tensor => tensor(Float32Array.from(clean.get(hook)!.data), [P, D]);
    before(async () => {
      random = generateRandomGptNeox('tiny', 41, { parallelResidual });
      const dir = mkdtempSync(join(tmpdir(), 'ct-neox-intervene-'));
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      model = await InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' });
      clean = referenceWith(random, CLEAN);
    });
    after(() => model.dispose());

    test('z, resid_pre, attn_out and mlp_out patches in one batch: every hook point as the reference with the same patch', async () => {
      const zHead = headOf(clean.get('blocks.0.attn.hook_z')!, 2);
      const cases: Array<{ variant: InterventionVariant; ref: RefPatch[] }> = [
        { variant: {}, ref: [] },
        {
          variant: { zPatches: [{ layer: 0, head: 2, positions: [1, 8], value: zHead }] },
          ref: [{ hook: 'blocks.0.attn.hook_z', head: 2, positions: [1, 8], value: zHead.data }],
        },
        { variant: { zPatches: [{ layer: 0, head: 2, value: zHead }] }, ref: [{ hook: 'blocks.0.attn.hook_z', head: 2, value: zHead.data }] },
      ];
      for (const hook of ['hook_resid_pre', 'hook_attn_out', 'hook_mlp_out'] as const) {
        for (const layer of [0, 1]) {
          const value = cleanTensor(`blocks.${layer}.${hook}`);
          cases.push({
            variant: { streamPatches: [{ layer, hook, positions: [1, P - 1], value }] },
            ref: [{ hook: `blocks.${layer}.${hook}`, positions: [1, P - 1], value: value.data }],
          });
        }
      }
      const results = await model.intervene({ ids: CORRUPT, variants: cases.map((c) => c.variant), hooks: 'all' });
      results.forEach((result, b) => assertMatches(result.cache, referenceWith(random, CORRUPT, cases[b]!.ref), names, 0, `variant ${b}`));
      // The patches change what follows them: the last logits move for an attn_out patch at layer 0.
      const moved = withinTolerance(results[5]!.cache.get('logits')!.data, results[0]!.cache.get('logits')!.data, 1e-3);
      assert.ok(!moved.ok, 'an attn_out patch moves the logits');
    });

    test("hook_q, hook_k and hook_v patches (a head's inputs, before RoPE): every hook point as the reference with the same patch", async () => {
      const cases = (['q', 'k', 'v'] as const).map((alias, i) => {
        const hook = `attn.hook_${alias}` as const;
        const layer = i % 2;
        const value = headOf(clean.get(`blocks.${layer}.${hook}`)!, 1);
        return {
          variant: { zPatches: [{ layer, hook, head: 1, positions: [2, P - 1], value }] } satisfies InterventionVariant,
          ref: [{ hook: `blocks.${layer}.${hook}`, head: 1, positions: [2, P - 1], value: value.data }],
        };
      });
      const results = await model.intervene({ ids: CORRUPT, variants: cases.map((c) => c.variant), hooks: 'all' });
      results.forEach((result, b) => assertMatches(result.cache, referenceWith(random, CORRUPT, cases[b]!.ref), names, 0, `${'qkv'[b]} patch`));
    });

    test('a variant starting at layer 1 from a given resid_pre equals the reference with that resid_pre', async () => {
      const startResid = cleanTensor('blocks.1.hook_resid_pre');
      const [result] = await model.intervene({ ids: CORRUPT, variants: [{ startLayer: 1, startResid }], hooks: 'all' });
      const later = names.filter((n) => n.startsWith('blocks.1.') || n === 'logits' || n === 'ln_final.hook_scale');
      assertMatches(result!.cache, clean, later, 0, 'start at layer 1');
    });

    describe('incremental passes over cached keys and values', () => {
      let past: KeysValues[];
      before(async () => {
        const run = await model.forward(CORRUPT, { hooks: 'all', keepKeysValues: true });
        past = run.keysValues!;
      });

      test("keepKeysValues: each layer's keys (after RoPE) and values, [pos, head, d_head]", () => {
        const corrupt = referenceWith(random, CORRUPT);
        assert.equal(past.length, 2);
        past.forEach((kv, l) => {
          assert.ok(withinTolerance(kv.k, corrupt.get(`blocks.${l}.attn.hook_rot_k`)!.data, 1e-4).ok, `layer ${l} keys`);
          assert.ok(withinTolerance(kv.v, corrupt.get(`blocks.${l}.attn.hook_v`)!.data, 1e-4).ok, `layer ${l} values`);
        });
      });

      test('queryFrom with the cached keys and values equals the full run, with and without patches', async () => {
        const corrupt = referenceWith(random, CORRUPT);
        for (const from of [1, 6, P - 1]) {
          const [result] = await model.intervene({ ids: CORRUPT, variants: [{}], hooks: 'all', queryFrom: from, past });
          assert.deepEqual(result!.cache.get('blocks.0.attn.hook_pattern')!.shape, [H, P - from, P]);
          assertMatches(result!.cache, corrupt, names, from, `queryFrom ${from}`);
        }
        const from = 6;
        const zHead = headOf(clean.get('blocks.1.attn.hook_z')!, 1);
        const variants: InterventionVariant[] = [
          { zPatches: [{ layer: 1, head: 1, positions: [from, P - 1], value: zHead }] },
          { streamPatches: [{ layer: 0, hook: 'hook_attn_out', positions: [from], value: cleanTensor('blocks.0.hook_attn_out') }] },
          { ids: CORRUPT.map((id, p) => (p < from ? id : CLEAN[p]!)) },
        ];
        const refs = [
          referenceWith(random, CORRUPT, [{ hook: 'blocks.1.attn.hook_z', head: 1, positions: [from, P - 1], value: zHead.data }]),
          referenceWith(random, CORRUPT, [{ hook: 'blocks.0.hook_attn_out', positions: [from], value: clean.get('blocks.0.hook_attn_out')!.data }]),
          referenceWith(
            random,
            CORRUPT.map((id, p) => (p < from ? id : CLEAN[p]!)),
          ),
        ];
        const results = await model.intervene({ ids: CORRUPT, variants, hooks: 'all', queryFrom: from, past, keepKeysValues: true });
        results.forEach((result, b) => assertMatches(result.cache, refs[b]!, names, from, `patched variant ${b} from ${from}`));
        // Keys and values cover every position: the cached ones, then the run ones.
        results[2]!.keysValues!.forEach((kv, l) =>
          assert.ok(withinTolerance(kv.k, refs[2]!.get(`blocks.${l}.attn.hook_rot_k`)!.data, 1e-4).ok, `own-prompt variant: layer ${l} keys`),
        );
      });
    });
  });
}
