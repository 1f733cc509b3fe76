/**
 * Activation patching sweeps on a seeded tiny random GPT-2: every experiment equals the naive
 * method (a full corrupted re-run per patch) within 1e-4, spot checks against the independent
 * float64 reference forward, identities (clean into clean changes nothing; patching everything
 * restores the clean run), streaming, cancellation and the typed errors of bad requests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PatchSweepResult } from '../../../src/protocol/analysis.js';
import type { PatchRequest } from '../../../src/protocol/engine.js';
import { EngineError } from '../../../src/engine/errors.js';
import { allHookNames } from '../../../src/engine/hooks.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { runNaivePatchSweep, runPatchSweep, type PatchSweepOptions } from '../../../src/engine/patching/index.js';
import { measureLogits } from '../../../src/engine/patching/patch-metric.js';
import { CleanPatchValues } from '../../../src/engine/patching/patch-values.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import type { CanonicalModel } from '../../../src/engine/model/weights.js';
import { tensor, type Tensor } from '../../../src/engine/tensor.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import { referenceGpt2Forward, type ReferenceTensor } from '../../helpers/reference-gpt2.js';
import { randomModelFolder, withinTolerance, type RandomModelFixture } from '../../helpers/model-fixtures.js';

const CONFIG = { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 };
const H = 4,
  D = 64,
  DH = 16;
// Prompts sharing their first token (the shared-prefix shortcut has something to skip) ...
const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332];
const CORRUPT = [464, 3290, 3332, 319, 262, 2603, 13, 383, 3290, 1110];
// ... and a pair that differs from the first token on.
const CORRUPT_FROM_0 = [1212, 3290, 3332, 319, 262, 2603, 13, 383, 3290, 1110];
const P = CLEAN.length;
const TARGET = { id: 3332 };
const CONTRAST = { id: 1110 };

/**
 * The random model with attention queries, keys and outputs scaled up 6×: at GPT-2's initial scale
 * attention is nearly uniform and nearly silent, so patches before the last position would move the
 * metric by little more than the tolerance. Sharper attention makes the equivalence tests bite.
 */
function sharpened(model: CanonicalModel): CanonicalModel {
  const scale = (t: Tensor, k: number): Tensor =>
    tensor(
      t.data.map((x) => x * k),
      t.shape,
    );
  const blocks = model.weights.blocks.map((b) => ({ ...b, W_Q: scale(b.W_Q, 6), W_K: scale(b.W_K, 6), W_O: scale(b.W_O, 6) }));
  return { ...model, weights: { ...model.weights, blocks } };
}

function assertSameSweep(fast: PatchSweepResult, naive: PatchSweepResult, what: string): void {
  assert.equal(fast.entries.length, naive.entries.length, `${what}: entry count`);
  const close = (a: number, b: number, tol: number): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
  assert.ok(close(fast.clean.logitDiff, naive.clean.logitDiff, 1e-4) && close(fast.corrupt.logitDiff, naive.corrupt.logitDiff, 1e-4), `${what}: baselines`);
  const denominator = Math.abs(naive.clean.logitDiff - naive.corrupt.logitDiff);
  fast.entries.forEach((e, i) => {
    const n = naive.entries[i]!;
    const where = `${what}: entry ${i} (L${e.layer}${e.head !== undefined ? `H${e.head}` : ''}${e.position !== undefined ? ` pos ${e.position}` : ''})`;
    assert.deepEqual({ layer: e.layer, head: e.head, position: e.position }, { layer: n.layer, head: n.head, position: n.position }, `${where}: site`);
    assert.ok(close(e.logitDiff, n.logitDiff, 1e-4), `${where}: logitDiff ${e.logitDiff} vs naive ${n.logitDiff}`);
    assert.ok(Math.abs(e.prob - n.prob) <= 1e-4, `${where}: prob ${e.prob} vs naive ${n.prob}`);
    // The recovery divides the logit difference's error by |clean − corrupted|.
    assert.ok(
      Math.abs(e.recovery - n.recovery) <= (1e-4 * Math.max(1, Math.abs(n.logitDiff))) / denominator,
      `${where}: recovery ${e.recovery} vs naive ${n.recovery}`,
    );
  });
}

describe('activation patching on a tiny random GPT-2', () => {
  let fixture: RandomModelFixture;
  let model: InstrumentedModel;
  let sharp: InstrumentedModel;
  let tokenizer: PromptTokenizer;

  before(async () => {
    fixture = await randomModelFolder('tiny', 5);
    const loaded = await loadModelFolder(fixture.dir);
    tokenizer = loaded.tokenizer;
    model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
    sharp = await InstrumentedModel.create(sharpened(loaded.model), { device: 'cpu' });
  });
  after(async () => {
    await model.dispose();
    await sharp.dispose();
  });

  describe('every experiment equals the naive full re-run per patch', () => {
    const requests: Array<{ name: string; request: PatchRequest }> = [
      { name: 'heads at the last position', request: { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST, kind: 'heads-last' } },
      { name: 'heads at position 4', request: { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST, kind: 'heads-last', position: 4 } },
      {
        name: 'heads at position 1 (the first difference)',
        request: { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, kind: 'heads-last', position: 1 },
      },
      { name: 'heads at all positions', request: { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST, kind: 'heads-all' } },
      { name: 'residual stream', request: { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST, kind: 'resid' } },
      { name: 'attention output', request: { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST, kind: 'attn' } },
      { name: 'MLP output', request: { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, kind: 'mlp' } },
      {
        name: 'residual stream, prompts differing from the first token',
        request: { cleanIds: CLEAN, corruptIds: CORRUPT_FROM_0, target: TARGET, contrast: CONTRAST, kind: 'resid' },
      },
      {
        name: 'heads at all positions, prompts differing from the first token',
        request: { cleanIds: CLEAN, corruptIds: CORRUPT_FROM_0, target: TARGET, contrast: CONTRAST, kind: 'heads-all' },
      },
    ];
    const singles: NonNullable<PatchRequest['component']>[] = [
      { hook: 'z', layer: 1, head: 2 },
      { hook: 'z', layer: 0, head: 3, position: 8 },
      { hook: 'resid_pre', layer: 1, position: 5 },
      { hook: 'attn_out', layer: 0 },
      { hook: 'mlp_out', layer: 1, position: P - 1 },
      { hook: 'resid_pre', layer: 0, position: 0 },
    ];
    for (const component of singles) {
      requests.push({
        name: `single ${JSON.stringify(component)}`,
        request: { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST, kind: 'single', component },
      });
    }
    const variantsOfOptions: Array<{ name: string; options: PatchSweepOptions }> = [
      { name: 'default plan', options: {} },
      { name: 'no shared-prefix shortcut, one call per site', options: { skipSharedPrefix: false, callCostRows: 0 } },
      { name: 'one batch per layer', options: { callCostRows: 1e9 } },
      { name: 'memory budget of one variant per call', options: { memoryBudgetBytes: 1 } },
      // Head sweeps run packed by default (one sequence per block call); the other path too.
      { name: 'head sweeps unpacked', options: { packed: false } },
      { name: 'unpacked, no shared-prefix shortcut', options: { packed: false, skipSharedPrefix: false } },
    ];
    for (const { name, request } of requests) {
      test(name, async () => {
        const naive = await runNaivePatchSweep(sharp, tokenizer, request);
        const expectedCount = { 'heads-last': 2 * H, 'heads-all': 2 * H, resid: 2 * P, attn: 2 * P, mlp: 2 * P, single: 1 }[request.kind];
        assert.equal(naive.entries.length, expectedCount);
        for (const { name: how, options } of variantsOfOptions) {
          const fast = await runPatchSweep(sharp, tokenizer, request, options);
          assertSameSweep(fast, naive, how);
        }
      });
    }

    test('the sweeps are not trivially equal: patches before the last position move the metric', async () => {
      for (const index of [3, 4, 5]) {
        const naive = await runNaivePatchSweep(sharp, tokenizer, requests[index]!.request);
        const moved = naive.entries.filter((e) => (e.position === undefined || e.position < P - 1) && Math.abs(e.logitDiff - naive.corrupt.logitDiff) > 1e-2);
        assert.ok(moved.length >= 3, `${requests[index]!.name}: only ${moved.length} patches changed the logit difference by more than 1e-2`);
      }
    });
  });

  describe('the metrics against the independent reference forward', () => {
    let clean: Map<string, ReferenceTensor>;
    let corruptRef: Map<string, ReferenceTensor>;
    const lastLogits = (run: Map<string, ReferenceTensor>): Float32Array => {
      const logits = run.get('logits')!;
      const V = logits.shape[1]!;
      return Float32Array.from(logits.data.subarray((P - 1) * V));
    };
    const tokens = { targetId: TARGET.id, contrastId: CONTRAST.id };
    before(() => {
      clean = referenceGpt2Forward(fixture.tensors, CONFIG, CLEAN);
      corruptRef = referenceGpt2Forward(fixture.tensors, CONFIG, CORRUPT);
    });

    test('baselines, head, residual and MLP patches', async () => {
      const expectMetrics = (got: { logitDiff: number; prob: number }, logits: Float32Array, what: string): void => {
        const want = measureLogits(logits, tokens);
        assert.ok(
          Math.abs(got.logitDiff - want.logitDiff) <= 1e-4 * Math.max(1, Math.abs(want.logitDiff)),
          `${what}: logitDiff ${got.logitDiff} vs ${want.logitDiff}`,
        );
        assert.ok(Math.abs(got.prob - want.prob) <= 1e-5, `${what}: prob ${got.prob} vs ${want.prob}`);
      };
      const patchedRef = (hook: string, positions: number[], head?: number): Float32Array =>
        lastLogits(
          referenceGpt2Forward(fixture.tensors, CONFIG, CORRUPT, {
            intervene: (name, t) => {
              if (name !== hook) return;
              const out = { shape: [...t.shape], data: t.data.slice() };
              const src = clean.get(hook)!.data;
              for (const p of positions) {
                if (head !== undefined) for (let e = 0; e < DH; e++) out.data[(p * H + head) * DH + e] = src[(p * H + head) * DH + e]!;
                else for (let i = 0; i < D; i++) out.data[p * D + i] = src[p * D + i]!;
              }
              return out;
            },
          }),
        );

      const heads = await runPatchSweep(model, tokenizer, { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST, kind: 'heads-last' });
      expectMetrics(heads.clean, lastLogits(clean), 'clean baseline');
      expectMetrics(heads.corrupt, lastLogits(corruptRef), 'corrupted baseline');
      const l1h2 = heads.entries.find((e) => e.layer === 1 && e.head === 2)!;
      assert.equal(l1h2.position, P - 1);
      expectMetrics(l1h2, patchedRef('blocks.1.attn.hook_z', [P - 1], 2), 'L1H2 at the last position');
      const expectedRecovery = (l1h2.logitDiff - heads.corrupt.logitDiff) / (heads.clean.logitDiff - heads.corrupt.logitDiff);
      assert.ok(Math.abs(l1h2.recovery - expectedRecovery) < 1e-9);

      const resid = await runPatchSweep(model, tokenizer, { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST, kind: 'resid' });
      const r = resid.entries.find((e) => e.layer === 1 && e.position === 8)!;
      expectMetrics(r, patchedRef('blocks.1.hook_resid_pre', [8]), 'resid_pre L1 pos 8');

      const mlp = await runPatchSweep(model, tokenizer, { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST, kind: 'mlp' });
      const m = mlp.entries.find((e) => e.layer === 0 && e.position === 1)!;
      expectMetrics(m, patchedRef('blocks.0.hook_mlp_out', [1]), 'mlp_out L0 pos 1');

      const all = await runPatchSweep(model, tokenizer, { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST, kind: 'heads-all' });
      const l0h1 = all.entries.find((e) => e.layer === 0 && e.head === 1)!;
      assert.equal(l0h1.position, undefined);
      expectMetrics(
        l0h1,
        patchedRef(
          'blocks.0.attn.hook_z',
          Array.from({ length: P }, (_, i) => i),
          1,
        ),
        'L0H1 at all positions',
      );
    });

    test('without a contrast the metric is the target logit', async () => {
      const result = await runPatchSweep(model, tokenizer, {
        cleanIds: CLEAN,
        corruptIds: CORRUPT,
        target: TARGET,
        kind: 'single',
        component: { hook: 'resid_pre', layer: 0, position: 9 },
      });
      const want = lastLogits(clean)[TARGET.id]!;
      assert.ok(Math.abs(result.clean.logitDiff - want) < 1e-4);
      assert.equal(result.contrastId, null);
      assert.equal(result.contrast, null);
    });
  });

  describe('streaming, cancellation, text prompts and bad requests', () => {
    const base: PatchRequest = { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST, kind: 'heads-last' };
    const code =
      (c: string, text?: RegExp) =>
      (error: unknown): boolean =>
        error instanceof EngineError && error.code === c && (!text || text.test(error.message));

    test("onLayer fires once per layer, in order, after that layer's entries exist", async () => {
      const layers: number[] = [];
      const result = await runPatchSweep(model, tokenizer, { ...base, kind: 'resid' }, { onLayer: (l) => layers.push(l) });
      assert.deepEqual(layers, [0, 1]);
      const single: number[] = [];
      await runPatchSweep(model, tokenizer, { ...base, kind: 'single', component: { hook: 'mlp_out', layer: 1 } }, { onLayer: (l) => single.push(l) });
      assert.deepEqual(single, [1]);
      assert.ok(result.elapsedMs > 0);
      assert.deepEqual(
        result.cleanTokens.map((t) => t.id),
        CLEAN,
      );
      assert.deepEqual(
        result.corruptTokens.map((t) => t.id),
        CORRUPT,
      );
      assert.equal(result.kind, 'resid');
      assert.equal(result.targetId, TARGET.id);
      assert.equal(result.target, tokenizer.tokenText(TARGET.id));
      assert.equal(result.contrast, tokenizer.tokenText(CONTRAST.id));
    });

    test('an aborted signal cancels before any work, and mid-sweep', async () => {
      const before = new AbortController();
      before.abort();
      await assert.rejects(runPatchSweep(model, tokenizer, base, { signal: before.signal }), code('CANCELLED'));
      const mid = new AbortController();
      const seen: number[] = [];
      await assert.rejects(
        runPatchSweep(
          model,
          tokenizer,
          { ...base, kind: 'attn' },
          {
            signal: mid.signal,
            onLayer: (l) => {
              seen.push(l);
              mid.abort();
            },
          },
        ),
        code('CANCELLED'),
      );
      assert.deepEqual(seen, [0], 'no layer after the cancel');
    });

    test('a packed head sweep streams its layers in order, and a cancel between its block calls stops it', async () => {
      const layers: number[] = [];
      await runPatchSweep(model, tokenizer, base, { onLayer: (l) => layers.push(l) });
      assert.deepEqual(layers, [0, 1]);
      // Aborted once the packed run is under way (after its first check, before its second block call).
      const during = new AbortController();
      const run = model.runPacked({
        prompts: [CLEAN, CORRUPT],
        branches: [{ prompt: 1, from: P - 1, layer: 0, zFrom: { prompt: 0, heads: [0] } }],
        scoreTokens: [TARGET.id],
        signal: during.signal,
      });
      during.abort();
      await assert.rejects(run, code('CANCELLED'));
    });

    test('text prompts and text tokens', async () => {
      const result = await runPatchSweep(model, tokenizer, {
        clean: 'The cat sat on the mat. The cat sat',
        corrupt: 'The dog sat on the mat. The dog sat',
        target: { text: ' on' },
        contrast: { text: ' down' },
        kind: 'heads-last',
      });
      // Text prompts get the BOS at position 0, so " cat" is position 2.
      assert.equal(result.cleanTokens.length, 11);
      assert.equal(result.cleanTokens[0]!.bos, true);
      assert.equal(result.target, ' on');
      assert.equal(result.contrast, ' down');
      assert.equal(result.entries.length, 2 * H);
      assert.equal(result.cleanTokens[2]!.text, ' cat');
      assert.deepEqual([result.cleanTokens[2]!.start, result.cleanTokens[2]!.end], [3, 7]);
    });

    test('prompts of different token lengths: LENGTH_MISMATCH naming both lengths', async () => {
      await assert.rejects(
        runPatchSweep(model, tokenizer, { ...base, corruptIds: CORRUPT.slice(1) }),
        code('LENGTH_MISMATCH', /10 tokens.*corrupted prompt 9/),
      );
      await assert.rejects(
        runPatchSweep(model, tokenizer, { ...base, cleanIds: undefined, corruptIds: undefined, clean: 'The cat sat', corrupt: 'The elephant sat down' }),
        code('LENGTH_MISMATCH', /4 tokens.*corrupted prompt 5/),
      );
    });

    test('a target or contrast that is not one token: NOT_SINGLE_TOKEN showing the tokenization', async () => {
      await assert.rejects(
        runPatchSweep(model, tokenizer, { ...base, target: { text: ' interpretability' } }),
        code('NOT_SINGLE_TOKEN', /2 tokens: " interpret" \(6179\) \+ "ability" \(1799\)/),
      );
      await assert.rejects(runPatchSweep(model, tokenizer, { ...base, contrast: { text: '' } }), code('NOT_SINGLE_TOKEN'));
    });

    test('missing or empty prompts, bad positions, components and contrasts', async () => {
      await assert.rejects(runPatchSweep(model, tokenizer, { ...base, cleanIds: undefined }), code('BAD_ARGUMENT', /clean prompt/));
      await assert.rejects(runPatchSweep(model, tokenizer, { ...base, corruptIds: [] }), code('EMPTY_PROMPT', /corrupted prompt/));
      await assert.rejects(
        runPatchSweep(model, tokenizer, { ...base, cleanIds: [...CLEAN, ...CLEAN], corruptIds: [...CORRUPT, ...CORRUPT] }, { maxTokens: 12 }),
        code('PROMPT_TOO_LONG', /clean prompt/),
      );
      await assert.rejects(runPatchSweep(model, tokenizer, { ...base, position: P }), code('BAD_ARGUMENT', /outside the prompt/));
      await assert.rejects(runPatchSweep(model, tokenizer, { ...base, kind: 'single' }), code('BAD_ARGUMENT', /component/));
      await assert.rejects(runPatchSweep(model, tokenizer, { ...base, kind: 'single', component: { hook: 'z', layer: 1 } }), code('BAD_ARGUMENT', /head/));
      await assert.rejects(
        runPatchSweep(model, tokenizer, { ...base, kind: 'single', component: { hook: 'z', layer: 2, head: 0 } }),
        code('BAD_ARGUMENT', /Layer 2/),
      );
      await assert.rejects(
        runPatchSweep(model, tokenizer, { ...base, kind: 'single', component: { hook: 'mlp_out', layer: 0, head: 1 } }),
        code('BAD_ARGUMENT', /no head/),
      );
      await assert.rejects(runPatchSweep(model, tokenizer, { ...base, contrast: TARGET }), code('BAD_ARGUMENT', /contrast token is the target/));
      await assert.rejects(runPatchSweep(model, tokenizer, { ...base, kind: 'bogus' as never }), code('BAD_ARGUMENT', /kind/));
    });
  });

  describe('identities', () => {
    test('patching clean into clean changes nothing (every kind, every site run)', async () => {
      for (const kind of ['heads-last', 'heads-all', 'resid', 'attn', 'mlp'] as const) {
        const result = await runPatchSweep(
          model,
          tokenizer,
          { cleanIds: CLEAN, corruptIds: CLEAN, target: TARGET, contrast: CONTRAST, kind },
          { skipSharedPrefix: false },
        );
        assert.equal(result.clean.logitDiff, result.corrupt.logitDiff);
        for (const e of result.entries) {
          assert.ok(
            Math.abs(e.logitDiff - result.clean.logitDiff) <= 1e-5,
            `${kind} L${e.layer} H${e.head} pos ${e.position}: ${e.logitDiff} vs ${result.clean.logitDiff}`,
          );
          assert.ok(Math.abs(e.prob - result.clean.prob) <= 1e-6);
          // 0/0: the recovery is undefined, NaN in memory and null in JSON.
          assert.ok(Number.isNaN(e.recovery));
        }
      }
      const json = JSON.parse(JSON.stringify(await runPatchSweep(model, tokenizer, { cleanIds: CLEAN, corruptIds: CLEAN, target: TARGET, kind: 'mlp' }))) as {
        entries: Array<{ recovery: unknown }>;
      };
      assert.equal(json.entries[0]!.recovery, null);
    });

    // Patching every head at every position does NOT give back the clean logits of GPT-2: the token
    // embeddings (and the MLPs, which read them) still carry the corrupted tokens. The exact identities:
    test('patching every head of every layer at all positions makes every attention output the clean one', async () => {
      const names = allHookNames(2).filter(
        (n) =>
          n.endsWith('hook_z') || n.endsWith('hook_attn_out') || n.endsWith('hook_mlp_out') || n === 'hook_embed' || n.endsWith('blocks.1.hook_resid_post'),
      );
      const clean = await model.forward(CLEAN, { hooks: names });
      const values = new CleanPatchValues(clean.cache, H);
      const allHeads = [0, 1].flatMap((layer) => [0, 1, 2, 3].map((head) => values.variant({ hook: 'z', layer, head }).zPatches![0]!));
      const allMlps = [0, 1].map((layer) => values.variant({ hook: 'mlp_out', layer }).streamPatches![0]!);
      const [heads, headsAndMlps] = await model.intervene({
        ids: CORRUPT_FROM_0,
        variants: [{ zPatches: allHeads }, { zPatches: allHeads, streamPatches: allMlps }],
        hooks: names,
      });
      const corrupted = await model.forward(CORRUPT_FROM_0, { hooks: ['hook_embed', 'blocks.1.hook_attn_out'] });
      assert.ok(
        withinTolerance(corrupted.cache.get('blocks.1.hook_attn_out')!.data, clean.cache.get('blocks.1.hook_attn_out')!.data, 0).diff > 1e-2,
        'the prompts give different attention outputs',
      );
      for (const layer of [0, 1]) {
        const name = `blocks.${layer}.hook_attn_out` as const;
        const { ok, diff } = withinTolerance(heads!.cache.get(name)!.data, clean.cache.get(name)!.data, 1e-5);
        assert.ok(ok, `${name} differs from the clean run by ${diff}`);
      }
      // With the MLP outputs patched too, the final residual stream is the clean one plus the
      // difference of the token embeddings (the only corrupted term left in the sum).
      const final = headsAndMlps!.cache.get('blocks.1.hook_resid_post')!.data;
      const cleanFinal = clean.cache.get('blocks.1.hook_resid_post')!.data;
      const embedDiff = corrupted.cache.get('hook_embed')!.data.map((x, i) => x - clean.cache.get('hook_embed')!.data[i]!);
      const { ok, diff } = withinTolerance(
        final.map((x, i) => x - cleanFinal[i]!),
        embedDiff,
        1e-4,
      );
      assert.ok(ok, `final residual − clean differs from the embedding difference by ${diff}`);
    });

    test('patching the whole residual stream of any layer restores the clean run (recovery 1)', async () => {
      for (const layer of [0, 1]) {
        const result = await runPatchSweep(model, tokenizer, {
          cleanIds: CLEAN,
          corruptIds: CORRUPT_FROM_0,
          target: TARGET,
          contrast: CONTRAST,
          kind: 'single',
          component: { hook: 'resid_pre', layer },
        });
        const entry = result.entries[0]!;
        assert.equal(entry.position, undefined);
        assert.ok(Math.abs(entry.recovery - 1) < 1e-4, `resid_pre ${layer} at all positions: recovery ${entry.recovery}`);
        assert.ok(Math.abs(entry.prob - result.clean.prob) < 1e-6);
      }
    });
  });
});
