/**
 * The ONNX engine's intervention paths (InstrumentedModel.intervene) against the independent float64
 * reference forward with its intervention callback (test/helpers/reference-gpt2.ts): z patches,
 * resid_pre / attn_out / mlp_out patches, several variants in one batch, starting at a layer from a
 * given residual stream, and incremental passes (queryFrom + cached keys/values). Every hook point
 * must match within 1e-4 (absolute, or relative to the tensor's largest magnitude where that
 * exceeds 1); attention patterns within 1e-5.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../../src/engine/errors.js';
import { allHookNames, type ActivationCache, type HookName } from '../../../src/engine/hooks.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import type { InterventionVariant, StreamPatch, ZPatch } from '../../../src/engine/runtime/types.js';
import { tensor, type Tensor } from '../../../src/engine/tensor.js';
import { measureLogits } from '../../../src/engine/patching/patch-metric.js';
import { referenceGpt2Forward, type ReferenceTensor } from '../../helpers/reference-gpt2.js';
import { randomModelFolder, withinTolerance, type RandomModelFixture } from '../../helpers/model-fixtures.js';

const CONFIG = { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 };
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
  value: Float32Array;
}

/** Reference forward of `ids` with `patches` applied through the intervention callback. */
function referenceWith(fixture: RandomModelFixture, ids: readonly number[], patches: readonly RefPatch[]): Map<string, ReferenceTensor> {
  return referenceGpt2Forward(fixture.tensors, CONFIG, ids, {
    intervene: (name, original) => {
      // Return a patched copy: mutating in place would also rewrite the previous layer's cached
      // hook_resid_post, which is the same tensor as this layer's hook_resid_pre in the reference.
      let t: ReferenceTensor | undefined;
      for (const patch of patches) {
        if (patch.hook !== name) continue;
        t ??= { shape: [...original.shape], data: original.data.slice() };
        const positions = patch.positions ?? Array.from({ length: P }, (_, i) => i);
        for (const p of positions) {
          if (patch.head !== undefined) {
            // hook_z [pos, head, d_head]; the patch value is [pos, d_head].
            for (let e = 0; e < DH; e++) t.data[(p * H + patch.head) * DH + e] = patch.value[p * DH + e]!;
          } else {
            for (let i = 0; i < D; i++) t.data[p * D + i] = patch.value[p * D + i]!;
          }
        }
      }
      return t;
    },
  });
}

/** Head `head` of a [pos, head, d_head] hook_z as [pos, d_head] float32. */
function headOf(z: ReferenceTensor, head: number): Float32Array {
  const out = new Float32Array(P * DH);
  for (let p = 0; p < P; p++) for (let e = 0; e < DH; e++) out[p * DH + e] = z.data[(p * H + head) * DH + e]!;
  return out;
}

const f32 = (t: ReferenceTensor): Float32Array => Float32Array.from(t.data);

/**
 * The reference tensor restricted to query positions `from`.. (the rows an incremental pass runs),
 * and to `logitRows` for logits.
 */
function referenceRows(name: string, t: ReferenceTensor, from: number, logitRows?: readonly number[]): Float64Array {
  if (name === 'logits' && logitRows) {
    const V = t.shape[1]!;
    const out = new Float64Array(logitRows.length * V);
    logitRows.forEach((p, i) => out.set(t.data.subarray(p * V, (p + 1) * V), i * V));
    return out;
  }
  if (name.endsWith('hook_pattern')) {
    // [head, query, key] -> queries from..P-1
    const [h, q, k] = t.shape as [number, number, number];
    const out = new Float64Array(h * (q - from) * k);
    for (let i = 0; i < h; i++) out.set(t.data.subarray((i * q + from) * k, (i + 1) * q * k), i * (q - from) * k);
    return out;
  }
  const rowSize = t.data.length / t.shape[0]!;
  return t.data.subarray(from * rowSize);
}

/** Asserts that every hook of `engine` matches the reference (rows from `from`). */
function assertMatches(
  engine: ActivationCache,
  reference: Map<string, ReferenceTensor>,
  names: readonly HookName[],
  from = 0,
  logitRows?: readonly number[],
  what = '',
): void {
  for (const name of names) {
    const a = engine.get(name);
    const e = reference.get(name);
    assert.ok(a, `${what}: engine returned ${name}`);
    assert.ok(e, `${what}: reference has ${name}`);
    const expected = referenceRows(name, e, from, logitRows);
    const tol = name.endsWith('hook_pattern') ? 1e-5 : 1e-4;
    const { ok, diff } = withinTolerance(a.data, expected, tol);
    assert.ok(ok, `${what}: ${name} differs from the reference by ${diff.toExponential(3)} (tolerance ${tol})`);
  }
}

/** Hooks of layers >= `from` plus the final ones: what a run starting at layer `from` returns. */
function hooksFrom(from: number): HookName[] {
  return allHookNames(CONFIG.n_layer).filter((name) => {
    const m = /^blocks\.(\d+)\./.exec(name);
    return m ? Number(m[1]) >= from : name === 'logits' || name === 'ln_final.hook_scale';
  });
}

describe('InstrumentedModel.intervene against the reference forward (tiny random GPT-2)', () => {
  let fixture: RandomModelFixture;
  let model: InstrumentedModel;
  let clean: Map<string, ReferenceTensor>;
  let corrupt: Map<string, ReferenceTensor>;
  const cleanValue = (hook: string): Float32Array => f32(clean.get(hook)!);
  const cleanTensor = (hook: string, width: number): Tensor => tensor(cleanValue(hook), [P, width]);

  before(async () => {
    fixture = await randomModelFolder('tiny', 11);
    const loaded = await loadModelFolder(fixture.dir);
    model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
    clean = referenceGpt2Forward(fixture.tensors, CONFIG, CLEAN);
    corrupt = referenceGpt2Forward(fixture.tensors, CONFIG, CORRUPT);
  });
  after(() => model.dispose());

  test('the clean and corrupted prompts differ (so that patches have something to change)', () => {
    const { diff } = withinTolerance(clean.get('logits')!.data, corrupt.get('logits')!.data, 0);
    assert.ok(diff > 1e-2, `logits differ by ${diff}`);
  });

  test('an empty variant is the plain forward', async () => {
    const [result] = await model.intervene({ ids: CORRUPT, variants: [{}], hooks: 'all' });
    assertMatches(result!.cache, corrupt, allHookNames(2), 0, undefined, 'empty variant');
  });

  test('a z patch of one head at chosen positions', async () => {
    const value = headOf(clean.get('blocks.0.attn.hook_z')!, 2);
    const [result] = await model.intervene({
      ids: CORRUPT,
      variants: [{ zPatches: [{ layer: 0, head: 2, positions: [1, 8], value: tensor(value, [P, DH]) }] }],
      hooks: 'all',
    });
    const ref = referenceWith(fixture, CORRUPT, [{ hook: 'blocks.0.attn.hook_z', head: 2, positions: [1, 8], value }]);
    assertMatches(result!.cache, ref, allHookNames(2), 0, undefined, 'z at positions');
    // The patch took effect: the result is not the unpatched corrupted run.
    assert.ok(withinTolerance(result!.cache.get('logits')!.data, corrupt.get('logits')!.data, 0).diff > 1e-3);
  });

  test('a z patch of one head at every position (positions omitted)', async () => {
    const value = headOf(clean.get('blocks.1.attn.hook_z')!, 3);
    const [result] = await model.intervene({
      ids: CORRUPT,
      variants: [{ zPatches: [{ layer: 1, head: 3, value: tensor(value, [P, DH]) }] }],
      hooks: 'all',
    });
    const ref = referenceWith(fixture, CORRUPT, [{ hook: 'blocks.1.attn.hook_z', head: 3, value }]);
    assertMatches(result!.cache, ref, allHookNames(2), 0, undefined, 'z at all positions');
  });

  for (const hook of ['hook_resid_pre', 'hook_attn_out', 'hook_mlp_out'] as const) {
    for (const layer of [0, 1]) {
      test(`a ${hook} patch at layer ${layer}`, async () => {
        const name = `blocks.${layer}.${hook}`;
        const positions = [3, 9];
        const [result] = await model.intervene({
          ids: CORRUPT,
          variants: [{ streamPatches: [{ layer, hook, positions, value: cleanTensor(name, D) }] }],
          hooks: 'all',
        });
        const ref = referenceWith(fixture, CORRUPT, [{ hook: name, positions, value: cleanValue(name) }]);
        assertMatches(result!.cache, ref, allHookNames(2), 0, undefined, name);
      });
    }
  }

  test('a row patched twice takes the later patch, for hook_z and the stream hooks alike', async () => {
    const zeros = (width: number): Tensor => tensor(new Float32Array(P * width), [P, width]);
    const z = headOf(clean.get('blocks.0.attn.hook_z')!, 1);
    const [result] = await model.intervene({
      ids: CORRUPT,
      variants: [
        {
          zPatches: [
            { layer: 0, head: 1, positions: [4], value: zeros(DH) },
            { layer: 0, head: 1, positions: [4, 6], value: tensor(z, [P, DH]) },
          ],
          streamPatches: [
            { layer: 1, hook: 'hook_mlp_out', positions: [5], value: zeros(D) },
            { layer: 1, hook: 'hook_mlp_out', positions: [5], value: cleanTensor('blocks.1.hook_mlp_out', D) },
            { layer: 1, hook: 'hook_attn_out', positions: [3], value: cleanTensor('blocks.1.hook_attn_out', D) },
            { layer: 1, hook: 'hook_attn_out', positions: [3], value: zeros(D) },
          ],
        },
      ],
      hooks: 'all',
    });
    const ref = referenceWith(fixture, CORRUPT, [
      { hook: 'blocks.0.attn.hook_z', head: 1, positions: [4, 6], value: z },
      { hook: 'blocks.1.hook_attn_out', positions: [3], value: new Float32Array(P * D) },
      { hook: 'blocks.1.hook_mlp_out', positions: [5], value: cleanValue('blocks.1.hook_mlp_out') },
    ]);
    assertMatches(result!.cache, ref, allHookNames(2), 0, undefined, 'duplicate patches');
  });

  test('several variants in one batch each get only their own patches', async () => {
    const z = headOf(clean.get('blocks.1.attn.hook_z')!, 0);
    const variants: InterventionVariant[] = [
      { zPatches: [{ layer: 1, head: 0, positions: [9], value: tensor(z, [P, DH]) }] },
      {},
      { streamPatches: [{ layer: 0, hook: 'hook_mlp_out', positions: [5], value: cleanTensor('blocks.0.hook_mlp_out', D) }] },
      {
        zPatches: [{ layer: 1, head: 0, positions: [2], value: tensor(z, [P, DH]) }],
        streamPatches: [
          { layer: 1, hook: 'hook_resid_pre', positions: [1], value: cleanTensor('blocks.1.hook_resid_pre', D) },
          { layer: 1, hook: 'hook_attn_out', positions: [7, 8], value: cleanTensor('blocks.1.hook_attn_out', D) },
        ],
      },
    ];
    const expected: RefPatch[][] = [
      [{ hook: 'blocks.1.attn.hook_z', head: 0, positions: [9], value: z }],
      [],
      [{ hook: 'blocks.0.hook_mlp_out', positions: [5], value: cleanValue('blocks.0.hook_mlp_out') }],
      [
        { hook: 'blocks.1.hook_resid_pre', positions: [1], value: cleanValue('blocks.1.hook_resid_pre') },
        { hook: 'blocks.1.attn.hook_z', head: 0, positions: [2], value: z },
        { hook: 'blocks.1.hook_attn_out', positions: [7, 8], value: cleanValue('blocks.1.hook_attn_out') },
      ],
    ];
    const results = await model.intervene({ ids: CORRUPT, variants, hooks: 'all' });
    assert.equal(results.length, variants.length);
    results.forEach((result, b) => {
      assertMatches(result.cache, referenceWith(fixture, CORRUPT, expected[b]!), allHookNames(2), 0, undefined, `variant ${b}`);
    });
  });

  test('starting at layer 1 from the corrupted resid_pre equals the full run, with and without patches', async () => {
    const startResid = tensor(f32(corrupt.get('blocks.1.hook_resid_pre')!), [P, D]);
    const z = headOf(clean.get('blocks.1.attn.hook_z')!, 1);
    const results = await model.intervene({
      ids: CORRUPT,
      variants: [
        { startLayer: 1, startResid },
        { startLayer: 1, startResid, zPatches: [{ layer: 1, head: 1, positions: [4], value: tensor(z, [P, DH]) }] },
      ],
      hooks: 'all',
    });
    const names = hooksFrom(1);
    assert.deepEqual([...results[0]!.cache.keys()].sort(), [...names].sort(), 'a run from layer 1 returns only the hooks it ran');
    assertMatches(results[0]!.cache, corrupt, names, 0, undefined, 'from layer 1');
    assertMatches(
      results[1]!.cache,
      referenceWith(fixture, CORRUPT, [{ hook: 'blocks.1.attn.hook_z', head: 1, positions: [4], value: z }]),
      names,
      0,
      undefined,
      'from layer 1, patched',
    );
  });

  test("results never alias the caller's arrays: writing to a returned hook leaves startResid and patch values as they were", async () => {
    const startResid = tensor(f32(corrupt.get('blocks.1.hook_resid_pre')!), [P, D]);
    const patchResid = tensor(cleanValue('blocks.1.hook_resid_pre'), [P, D]);
    const before = { start: startResid.data.slice(), patch: patchResid.data.slice() };
    const [plain, patched] = await model.intervene({
      ids: CORRUPT,
      variants: [
        { startLayer: 1, startResid },
        { startLayer: 1, startResid, streamPatches: [{ layer: 1, hook: 'hook_resid_pre', positions: [3], value: patchResid }] },
      ],
      hooks: ['blocks.1.hook_resid_pre', 'blocks.1.hook_resid_post'],
    });
    for (const result of [plain!, patched!]) {
      const residPre = result.cache.get('blocks.1.hook_resid_pre')!.data;
      assert.notEqual(residPre.buffer, startResid.data.buffer);
      assert.notEqual(residPre.buffer, patchResid.data.buffer);
      residPre.fill(123);
    }
    assert.deepEqual(startResid.data, before.start);
    assert.deepEqual(patchResid.data, before.patch);
  });

  test("hook_resid_pre of a layer is the previous layer's hook_resid_post, shared rather than copied", async () => {
    const [result] = await model.intervene({ ids: CORRUPT, variants: [{}], hooks: ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_pre'] });
    const post = result!.cache.get('blocks.0.hook_resid_post')!.data,
      pre = result!.cache.get('blocks.1.hook_resid_pre')!.data;
    assert.equal(pre.buffer, post.buffer);
    assert.deepEqual(pre, post);
  });
  test('a run starting after the last layer is the unembedding of startResid', async () => {
    const startResid = tensor(f32(corrupt.get('blocks.1.hook_resid_post')!), [P, D]);
    const [result] = await model.intervene({ ids: CORRUPT, variants: [{ startLayer: 2, startResid }], hooks: ['logits', 'ln_final.hook_scale'] });
    assertMatches(result!.cache, corrupt, ['logits', 'ln_final.hook_scale'], 0, undefined, 'from layer 2');
  });

  test('logitPositions picks the rows of the logits', async () => {
    const [result] = await model.intervene({ ids: CORRUPT, variants: [{}], hooks: ['logits'], logitPositions: [P - 1, 2] });
    assert.deepEqual(result!.cache.get('logits')!.shape, [2, 50257]);
    assertMatches(result!.cache, corrupt, ['logits'], 0, [P - 1, 2], 'logitPositions');
  });

  describe('incremental passes against cached keys and values', () => {
    let past: NonNullable<Awaited<ReturnType<InstrumentedModel['forward']>>['keysValues']>;
    before(async () => {
      const run = await model.forward(CORRUPT, { keepKeysValues: true, hooks: ['logits'] });
      assert.ok(run.keysValues, 'keepKeysValues returns keys and values');
      past = run.keysValues;
      assert.equal(past.length, 2);
      // [head, pos, d_head] per layer.
      for (const kv of past) {
        assert.equal(kv.k.length, H * P * DH);
        assert.equal(kv.v.length, H * P * DH);
      }
    });

    test('without patches, positions queryFrom.. equal the full run', async () => {
      for (const from of [1, 5, P - 1]) {
        const [result] = await model.intervene({ ids: CORRUPT, variants: [{}], hooks: 'all', queryFrom: from, past });
        const cache = result!.cache;
        assert.deepEqual(cache.get('blocks.0.attn.hook_pattern')!.shape, [H, P - from, P]);
        assert.deepEqual(cache.get('blocks.1.attn.hook_z')!.shape, [P - from, H, DH]);
        assert.deepEqual(cache.get('logits')!.shape, [P - from, 50257]);
        // hook_embed and hook_pos_embed also cover the run positions only.
        assertMatches(cache, corrupt, allHookNames(2), from, undefined, `queryFrom ${from}`);
      }
    });

    test('variants with their own prompts run as one batch, each with its own keys and values', async () => {
      const [ownClean, plain] = await model.intervene({ ids: CORRUPT, variants: [{ ids: CLEAN }, {}], hooks: 'all', keepKeysValues: true });
      assertMatches(ownClean!.cache, clean, allHookNames(2), 0, undefined, 'variant with the clean prompt');
      assertMatches(plain!.cache, corrupt, allHookNames(2), 0, undefined, 'variant with the request prompt');
      // The corrupted variant's keys and values are the plain forward's; the clean one's differ.
      plain!.keysValues!.forEach((kv, l) => {
        assert.deepEqual([...kv.k], [...past[l]!.k], `layer ${l} keys`);
        assert.deepEqual([...kv.v], [...past[l]!.v], `layer ${l} values`);
      });
      assert.ok(withinTolerance(ownClean!.keysValues![1]!.k, past[1]!.k, 0).diff > 1e-3);
      // With queryFrom, keysValues still cover every position: the cached ones, then the run ones.
      const [incremental] = await model.intervene({ ids: CORRUPT, variants: [{}], hooks: ['logits'], queryFrom: 4, past, keepKeysValues: true });
      incremental!.keysValues!.forEach((kv, l) => assert.ok(withinTolerance(kv.k, past[l]!.k, 1e-5).ok, `layer ${l} incremental keys`));
    });

    test("scoreTokens: each variant gets its tokens' logits and probabilities at each logit position", async () => {
      const request = { ids: CORRUPT, variants: [{}, { ids: CLEAN }], logitPositions: [3, P - 1] };
      const full = await model.intervene({ ...request, hooks: ['logits'] });
      const scored = await model.intervene({ ...request, hooks: [], scoreTokens: [2603, 13, 2603] });
      scored.forEach((result, b) => {
        assert.equal(result.cache.has('logits'), false, 'the logits stay in ONNX Runtime');
        const logits = full[b]!.cache.get('logits')!.data;
        const V = logits.length / 2;
        [2603, 13, 2603].forEach((token, k) => {
          for (let row = 0; row < 2; row++) {
            assert.equal(result.tokenScores!.logits[row * 3 + k], logits[row * V + token]);
            const want = measureLogits(logits.subarray(row * V, (row + 1) * V), { targetId: token, contrastId: null }).prob;
            assert.ok(Math.abs(result.tokenScores!.probs[row * 3 + k]! - want) <= 2e-5 * want, `variant ${b}, row ${row}, token ${token}`);
          }
        });
      });
      await assert.rejects(
        model.intervene({ ...request, scoreTokens: [50257] }),
        (e: unknown) => e instanceof EngineError && /Scored token id 50257 is outside the vocabulary/.test(e.message),
      );
    });

    test("a variant's own prompt is checked", async () => {
      await assert.rejects(
        model.intervene({ ids: CORRUPT, variants: [{ ids: CLEAN.slice(1) }] }),
        (e: unknown) => e instanceof EngineError && /own prompt has 9 tokens; the request's has 10/.test(e.message),
      );
      await assert.rejects(
        model.intervene({ ids: CORRUPT, variants: [{ ids: CLEAN, startLayer: 1, startResid: cleanTensor('blocks.1.hook_resid_pre', D) }] }),
        (e: unknown) => e instanceof EngineError && /starts from its embeddings/.test(e.message),
      );
      await assert.rejects(
        model.intervene({ ids: CORRUPT, variants: [{ ids: CLEAN }], queryFrom: 3, past }),
        (e: unknown) => e instanceof EngineError && /differs from the request's at position 1, before queryFrom 3/.test(e.message),
      );
      await assert.rejects(
        model.intervene({ ids: CORRUPT, variants: [{ startLayer: 1, startResid: cleanTensor('blocks.1.hook_resid_pre', D) }], keepKeysValues: true }),
        (e: unknown) => e instanceof EngineError && /keepKeysValues needs every variant to start at layer 0/.test(e.message),
      );
    });

    test('single-position patches at queryFrom, batched, with logits at the last position', async () => {
      const from = 6;
      const z = headOf(clean.get('blocks.0.attn.hook_z')!, 3);
      const variants: InterventionVariant[] = [
        { zPatches: [{ layer: 0, head: 3, positions: [from], value: tensor(z, [P, DH]) }] },
        { streamPatches: [{ layer: 0, hook: 'hook_resid_pre', positions: [from], value: cleanTensor('blocks.0.hook_resid_pre', D) }] },
        { streamPatches: [{ layer: 1, hook: 'hook_mlp_out', positions: [P - 1], value: cleanTensor('blocks.1.hook_mlp_out', D) }] },
        // Rows before queryFrom are ignored: this patch is outside the run.
        { streamPatches: [{ layer: 0, hook: 'hook_attn_out', positions: [2], value: cleanTensor('blocks.0.hook_attn_out', D) }] },
      ];
      const expected: RefPatch[][] = [
        [{ hook: 'blocks.0.attn.hook_z', head: 3, positions: [from], value: z }],
        [{ hook: 'blocks.0.hook_resid_pre', positions: [from], value: cleanValue('blocks.0.hook_resid_pre') }],
        [{ hook: 'blocks.1.hook_mlp_out', positions: [P - 1], value: cleanValue('blocks.1.hook_mlp_out') }],
        [],
      ];
      const results = await model.intervene({ ids: CORRUPT, variants, hooks: 'all', queryFrom: from, past, logitPositions: [P - 1] });
      results.forEach((result, b) => {
        assertMatches(result.cache, referenceWith(fixture, CORRUPT, expected[b]!), allHookNames(2), from, [P - 1], `variant ${b}`);
      });
    });

    test('starting at layer 1 from the corrupted resid_pre, one-token pass with z and stream patches', async () => {
      const startResid = tensor(f32(corrupt.get('blocks.1.hook_resid_pre')!), [P, D]);
      const variants: InterventionVariant[] = [0, 1, 2, 3].map((head): InterventionVariant => ({
        zPatches: [{ layer: 1, head, positions: [P - 1], value: tensor(headOf(clean.get('blocks.1.attn.hook_z')!, head), [P, DH]) } satisfies ZPatch],
      }));
      variants.push({
        streamPatches: [{ layer: 1, hook: 'hook_resid_pre', positions: [P - 1], value: cleanTensor('blocks.1.hook_resid_pre', D) } satisfies StreamPatch],
      });
      const results = await model.intervene({
        ids: CORRUPT,
        variants: variants.map((v) => ({ ...v, startLayer: 1, startResid })),
        hooks: 'all',
        queryFrom: P - 1,
        past,
        logitPositions: [P - 1],
      });
      results.forEach((result, b) => {
        const patch: RefPatch =
          b < 4
            ? { hook: 'blocks.1.attn.hook_z', head: b, positions: [P - 1], value: headOf(clean.get('blocks.1.attn.hook_z')!, b) }
            : { hook: 'blocks.1.hook_resid_pre', positions: [P - 1], value: cleanValue('blocks.1.hook_resid_pre') };
        assertMatches(result.cache, referenceWith(fixture, CORRUPT, [patch]), hooksFrom(1), P - 1, [P - 1], `variant ${b}`);
      });
    });
  });

  describe('packed runs: prompts and patched branches as one sequence per block call', () => {
    const TOKENS = [3332, 1110];
    /** The reference's token scores at the last position of a run: logits and float64 softmax probabilities. */
    const referenceScores = (run: Map<string, ReferenceTensor>): { logits: number[]; probs: number[] } => {
      const logits = run.get('logits')!;
      const V = logits.shape[1]!;
      const last = Float32Array.from(logits.data.subarray((P - 1) * V, P * V));
      return {
        logits: TOKENS.map((t) => last[t]!),
        probs: TOKENS.map((t) => measureLogits(last, { targetId: t, contrastId: null }).prob),
      };
    };
    const assertScores = (actual: { logits: Float32Array; probs: Float32Array }, expected: { logits: number[]; probs: number[] }, what: string): void => {
      TOKENS.forEach((_, k) => {
        assert.ok(
          Math.abs(actual.logits[k]! - expected.logits[k]!) <= 1e-4 * Math.max(1, Math.abs(expected.logits[k]!)),
          `${what}: logit ${actual.logits[k]} vs ${expected.logits[k]}`,
        );
        assert.ok(Math.abs(actual.probs[k]! - expected.probs[k]!) <= 1e-5, `${what}: prob ${actual.probs[k]} vs ${expected.probs[k]}`);
      });
    };
    /** The reference run of `ids` with heads' hook_z at `layer` and `positions` from the clean run. */
    const patchedReference = (
      ids: readonly number[],
      source: Map<string, ReferenceTensor>,
      layer: number,
      heads: readonly number[],
      positions?: readonly number[],
    ): Map<string, ReferenceTensor> =>
      referenceWith(
        fixture,
        ids,
        heads.map((head) => ({
          hook: `blocks.${layer}.attn.hook_z`,
          head,
          ...(positions ? { positions } : {}),
          value: headOf(source.get(`blocks.${layer}.attn.hook_z`)!, head),
        })),
      );

    test('every branch equals the whole prompt run with its patch, and the prompts their plain runs', async () => {
      const branches = [
        // the last position, one head from the clean prompt, joining at the last layer
        { prompt: 1, from: P - 1, layer: 1, zFrom: { prompt: 0, heads: [2] } },
        // one position in the middle (the rows after it run too), two heads, layer 0
        { prompt: 1, from: 4, layer: 0, zFrom: { prompt: 0, heads: [1, 3], positions: [4] } },
        // every position from the first difference on (position 0 is the same token in both prompts)
        { prompt: 1, from: 1, layer: 1, zFrom: { prompt: 0, heads: [0] } },
        // the other way round: corrupted values into the clean prompt, listed after a later layer's branch
        { prompt: 0, from: P - 1, layer: 0, zFrom: { prompt: 1, heads: [3] } },
      ];
      const result = await model.runPacked({ prompts: [CLEAN, CORRUPT], branches, scoreTokens: TOKENS });
      assert.equal(result.prompts.length, 2);
      assert.equal(result.branches.length, branches.length);
      assertScores(result.prompts[0]!, referenceScores(clean), 'clean prompt');
      assertScores(result.prompts[1]!, referenceScores(corrupt), 'corrupted prompt');
      assertScores(result.branches[0]!, referenceScores(patchedReference(CORRUPT, clean, 1, [2], [P - 1])), 'branch 0');
      assertScores(result.branches[1]!, referenceScores(patchedReference(CORRUPT, clean, 0, [1, 3], [4])), 'branch 1');
      assertScores(result.branches[2]!, referenceScores(patchedReference(CORRUPT, clean, 1, [0])), 'branch 2');
      assertScores(result.branches[3]!, referenceScores(patchedReference(CLEAN, corrupt, 0, [3], [P - 1])), 'branch 3');
      // The patches matter: a branch differs from the prompt it was copied from.
      // The patches matter (this random model's attention is weak, so not by much: the activation
      // patching tests run packed sweeps on a sharpened copy against the naive method).
      const moved = branches.map((b, i) => Math.abs(result.branches[i]!.logits[0]! - result.prompts[b.prompt]!.logits[0]!));
      assert.ok(Math.max(...moved) > 1e-3, `the patches move the target logit by ${moved.join(', ')}`);
    });

    test('branches of the last position only (prompt rows plus one own key per row) equal the patched runs', async () => {
      const branches = [
        { prompt: 1, from: P - 1, layer: 0, zFrom: { prompt: 0, heads: [0, 2] } },
        { prompt: 0, from: P - 1, layer: 1, zFrom: { prompt: 1, heads: [3] } },
        { prompt: 1, from: P - 1, layer: 1, zFrom: { prompt: 0, heads: [1] } },
      ];
      const result = await model.runPacked({ prompts: [CLEAN, CORRUPT], branches, scoreTokens: TOKENS });
      assertScores(result.prompts[0]!, referenceScores(clean), 'clean prompt');
      assertScores(result.prompts[1]!, referenceScores(corrupt), 'corrupted prompt');
      assertScores(result.branches[0]!, referenceScores(patchedReference(CORRUPT, clean, 0, [0, 2], [P - 1])), 'branch 0');
      assertScores(result.branches[1]!, referenceScores(patchedReference(CLEAN, corrupt, 1, [3], [P - 1])), 'branch 1');
      assertScores(result.branches[2]!, referenceScores(patchedReference(CORRUPT, clean, 1, [1], [P - 1])), 'branch 2');
    });

    test('the same branches give the same scores alone as packed with others', async () => {
      const branch = { prompt: 1, from: 6, layer: 0, zFrom: { prompt: 0, heads: [1] } };
      const alone = await model.runPacked({ prompts: [CLEAN, CORRUPT], branches: [branch], scoreTokens: TOKENS });
      const packed = await model.runPacked({
        prompts: [CLEAN, CORRUPT],
        branches: [{ ...branch, layer: 1, from: 2 }, branch, { ...branch, zFrom: { prompt: 0, heads: [0, 1, 2, 3] } }],
        scoreTokens: TOKENS,
      });
      assertScores(packed.branches[1]!, { logits: [...alone.branches[0]!.logits], probs: [...alone.branches[0]!.probs] }, 'packed with others');
    });

    test('bad packed requests get typed errors', async () => {
      const code =
        (c: string, text: RegExp) =>
        (error: unknown): boolean =>
          error instanceof EngineError && error.code === c && text.test(error.message);
      const run = (request: Partial<Parameters<InstrumentedModel['runPacked']>[0]>) =>
        model.runPacked({ prompts: [CLEAN, CORRUPT], branches: [], scoreTokens: TOKENS, ...request });
      const branch = { prompt: 1, from: P - 1, layer: 0, zFrom: { prompt: 0, heads: [0] } };
      await assert.rejects(run({ prompts: [] }), code('BAD_ARGUMENT', /at least one prompt/));
      await assert.rejects(run({ prompts: [CLEAN, CORRUPT.slice(1)] }), code('BAD_ARGUMENT', /one length.*10, 9/));
      await assert.rejects(run({ branches: [{ ...branch, prompt: 2 }] }), code('BAD_ARGUMENT', /outside 0\.\.1/));
      await assert.rejects(run({ branches: [{ ...branch, from: P }] }), code('BAD_ARGUMENT', /position 10, outside the prompt/));
      await assert.rejects(run({ branches: [{ ...branch, layer: 2 }] }), code('BAD_ARGUMENT', /layer 2, outside 0\.\.1/));
      await assert.rejects(run({ branches: [{ ...branch, zFrom: { prompt: 0, heads: [4] } }] }), code('BAD_ARGUMENT', /head 4 does not exist/));
      await assert.rejects(
        run({ branches: [{ ...branch, zFrom: { prompt: 0, heads: [0], positions: [3] } }] }),
        code('BAD_ARGUMENT', /position 3 is outside the positions it runs \(9\.\.9\)/),
      );
      await assert.rejects(run({ scoreTokens: [50257] }), code('BAD_ARGUMENT', /outside the vocabulary/));
      await assert.rejects(run({ prompts: [[]] }), code('EMPTY_PROMPT', /empty/));
    });
  });

  describe('bad requests get typed errors', () => {
    const code =
      (c: string) =>
      (error: unknown): boolean =>
        error instanceof EngineError && error.code === c;
    test('a head that does not exist', async () => {
      await assert.rejects(
        model.intervene({ ids: CORRUPT, variants: [{ zPatches: [{ layer: 0, head: 4, value: tensor(new Float32Array(P * DH), [P, DH]) }] }] }),
        code('BAD_ARGUMENT'),
      );
    });
    test('a patch value of the wrong size', async () => {
      await assert.rejects(
        model.intervene({ ids: CORRUPT, variants: [{ streamPatches: [{ layer: 0, hook: 'hook_mlp_out', value: tensor(new Float32Array(D), [1, D]) }] }] }),
        code('BAD_ARGUMENT'),
      );
    });
    test('queryFrom without cached keys and values', async () => {
      await assert.rejects(model.intervene({ ids: CORRUPT, variants: [{}], queryFrom: 3 }), code('BAD_ARGUMENT'));
    });
    test('startLayer without startResid', async () => {
      await assert.rejects(model.intervene({ ids: CORRUPT, variants: [{ startLayer: 1 }] }), code('BAD_ARGUMENT'));
    });
    test('logit positions outside the run', async () => {
      const run = await model.forward(CORRUPT, { keepKeysValues: true });
      await assert.rejects(model.intervene({ ids: CORRUPT, variants: [{}], queryFrom: 5, past: run.keysValues!, logitPositions: [2] }), code('BAD_ARGUMENT'));
    });
    test('no variants gives no results', async () => {
      assert.deepEqual(await model.intervene({ ids: CORRUPT, variants: [] }), []);
    });
  });
});
