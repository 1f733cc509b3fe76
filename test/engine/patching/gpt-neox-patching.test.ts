/**
 * Activation patching on tiny random GPT-NeoX models (Pythia's layout, rotary_pct 0.25), with the
 * parallel residual (no resid_mid) and the sequential one: every sweep kind, on every path
 * (variants over cached keys and values, shared-prefix shortcut or not, one call per site), equals
 * the naive full corrupted re-run per patch, and patches are checked against the float64 reference
 * forward (test/helpers/reference-gpt-neox.ts) with the patched activation. The default plan runs
 * head sweeps packed (test/engine/runtime/gpt-neox-packed.test.ts), 'packed off' as batched variants.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PatchSweepResult } from '../../../src/protocol/analysis.js';
import type { PatchRequest } from '../../../src/protocol/engine.js';
import { EngineError } from '../../../src/engine/errors.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGptNeox, type RandomGptNeox } from '../../../src/engine/model/random-gpt-neox.js';
import type { CanonicalModel } from '../../../src/engine/model/weights.js';
import { runNaivePatchSweep, runPatchSweep, type PatchSweepOptions } from '../../../src/engine/patching/index.js';
import { measureLogits } from '../../../src/engine/patching/patch-metric.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { tensor, type Tensor } from '../../../src/engine/tensor.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import type { ReferenceTensor } from '../../helpers/reference-gpt2.js';
import { referenceGptNeoxForward } from '../../helpers/reference-gpt-neox.js';

const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332];
const CORRUPT = [464, 3290, 3332, 319, 262, 2603, 13, 383, 3290, 1110];
const P = CLEAN.length;
const TARGET = { id: 3332 };
const CONTRAST = { id: 1110 };

/** Queries, keys and outputs scaled up, so patches move the metric well beyond the tolerance. */
function sharpened(model: CanonicalModel): CanonicalModel {
  const scale = (t: Tensor, k: number): Tensor =>
    tensor(
      t.data.map((x) => x * k),
      t.shape,
    );
  const blocks = model.weights.blocks.map((b) => ({ ...b, W_Q: scale(b.W_Q, 3), W_K: scale(b.W_K, 3), W_O: scale(b.W_O, 6) }));
  return { ...model, weights: { ...model.weights, blocks } };
}

function assertSameSweep(fast: PatchSweepResult, naive: PatchSweepResult, what: string): void {
  assert.equal(fast.entries.length, naive.entries.length, `${what}: entry count`);
  const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));
  assert.ok(close(fast.clean.logitDiff, naive.clean.logitDiff) && close(fast.corrupt.logitDiff, naive.corrupt.logitDiff), `${what}: baselines`);
  fast.entries.forEach((e, i) => {
    const n = naive.entries[i]!;
    const where = `${what}: entry ${i} (L${e.layer}${e.head !== undefined ? `H${e.head}` : ''}${e.position !== undefined ? ` pos ${e.position}` : ''})`;
    assert.deepEqual({ layer: e.layer, head: e.head, position: e.position }, { layer: n.layer, head: n.head, position: n.position }, `${where}: site`);
    assert.ok(close(e.logitDiff, n.logitDiff), `${where}: logitDiff ${e.logitDiff} vs naive ${n.logitDiff}`);
    assert.ok(Math.abs(e.prob - n.prob) <= 1e-4, `${where}: prob ${e.prob} vs naive ${n.prob}`);
  });
}

for (const [parallelResidual, seed] of [
  [true, 61],
  [false, 62],
] as const) {
  describe(`activation patching on a tiny random gpt_neox, ${parallelResidual ? 'parallel' : 'sequential'} residual`, () => {
    let random: RandomGptNeox;
    let model: InstrumentedModel;
    let sharp: InstrumentedModel;
    let tokenizer: PromptTokenizer;
    before(async () => {
      random = generateRandomGptNeox('tiny', seed, { parallelResidual });
      const dir = mkdtempSync(join(tmpdir(), 'ct-patch-neox-'));
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      const loaded = await loadModelFolder(dir);
      tokenizer = loaded.tokenizer;
      model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
      sharp = await InstrumentedModel.create(sharpened(loaded.model), { device: 'cpu' });
    });
    after(async () => {
      await model.dispose();
      await sharp.dispose();
    });

    const base = { cleanIds: CLEAN, corruptIds: CORRUPT, target: TARGET, contrast: CONTRAST };
    const requests: Array<{ name: string; request: PatchRequest }> = [
      { name: 'heads at the last position', request: { ...base, kind: 'heads-last' } },
      { name: 'heads at position 6', request: { ...base, kind: 'heads-last', position: 6 } },
      { name: 'heads at all positions', request: { ...base, kind: 'heads-all' } },
      { name: 'residual stream', request: { ...base, kind: 'resid' } },
      { name: 'attention output', request: { ...base, kind: 'attn' } },
      { name: 'MLP output', request: { ...base, kind: 'mlp' } },
      { name: 'single head z at position 3', request: { ...base, kind: 'single', component: { hook: 'z', layer: 1, head: 3, position: 3 } } },
      { name: 'single attn_out at every position', request: { ...base, kind: 'single', component: { hook: 'attn_out', layer: 0 } } },
    ];
    const paths: Array<{ name: string; options: PatchSweepOptions }> = [
      { name: 'default plan', options: {} },
      { name: 'no shared-prefix shortcut, one call per site', options: { skipSharedPrefix: false, callCostRows: 0 } },
      { name: 'packed off', options: { packed: false } },
    ];
    for (const { name, request } of requests) {
      test(`${name}: every path equals the naive re-runs`, async () => {
        const naive = await runNaivePatchSweep(sharp, tokenizer, request);
        for (const path of paths) assertSameSweep(await runPatchSweep(sharp, tokenizer, request, path.options), naive, path.name);
      });
    }

    test('the sweeps are not trivially equal: patches before the last position move the metric', async () => {
      for (const request of [requests[2]!.request, requests[3]!.request, requests[4]!.request]) {
        const naive = await runNaivePatchSweep(sharp, tokenizer, request);
        const moved = naive.entries.filter((e) => (e.position === undefined || e.position < P - 1) && Math.abs(e.logitDiff - naive.corrupt.logitDiff) > 1e-2);
        assert.ok(moved.length >= 2, `${request.kind}: only ${moved.length} patches changed the logit difference by more than 1e-2`);
      }
    });

    test('no resid_mid site: a single-component request for it is a typed error', async () => {
      const request = { ...base, kind: 'single', component: { hook: 'resid_mid', layer: 0 } } as unknown as PatchRequest;
      await assert.rejects(
        runPatchSweep(model, tokenizer, request),
        (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && /resid_mid/.test(e.message),
      );
    });

    test('patches against the reference forward: heads (last position and every position), residual, attention and MLP rows', async () => {
      const weights = new Map(random.tensors.map((t) => [t.name, t]));
      const clean = referenceGptNeoxForward(weights, random.config, CLEAN);
      const V = random.config['vocab_size'] as number;
      const D = random.config['hidden_size'] as number;
      const H = random.config['num_attention_heads'] as number;
      const Dh = D / H;
      const lastLogits = (run: Map<string, ReferenceTensor>): Float32Array => Float32Array.from(run.get('logits')!.data.subarray((P - 1) * V));
      /** The corrupted run's last logits with `width` values at `offset` of each of `positions` rows of `hook` taken from the clean run. */
      const patchedRef = (hook: string, positions: number | readonly number[], width: number, offset: number): Float32Array =>
        lastLogits(
          referenceGptNeoxForward(weights, random.config, CORRUPT, {
            intervene: (name, t) => {
              if (name !== hook) return;
              const out = { shape: [...t.shape], data: t.data.slice() };
              for (const position of typeof positions === 'number' ? [positions] : positions) {
                const from = position * (t.data.length / t.shape[0]!) + offset;
                out.data.set(clean.get(hook)!.data.subarray(from, from + width), from);
              }
              return out;
            },
          }),
        );
      const tokens = { targetId: TARGET.id, contrastId: CONTRAST.id };
      const expectMetric = (got: { logitDiff: number } | undefined, logits: Float32Array, what: string): void => {
        assert.ok(got, `${what}: no entry`);
        const want = measureLogits(logits, tokens).logitDiff;
        assert.ok(Math.abs(got.logitDiff - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${what}: ${got.logitDiff} vs reference ${want}`);
      };
      const corruptWant = measureLogits(lastLogits(referenceGptNeoxForward(weights, random.config, CORRUPT)), tokens).logitDiff;
      const heads = await runPatchSweep(model, tokenizer, { ...base, kind: 'heads-last' });
      assert.ok(Math.abs(heads.corrupt.logitDiff - corruptWant) <= 1e-4 * Math.max(1, Math.abs(corruptWant)), 'corrupted baseline');
      assert.equal(heads.entries.length, 2 * H);
      for (const h of [0, 3])
        expectMetric(
          heads.entries.find((e) => e.layer === 1 && e.head === h),
          patchedRef('blocks.1.attn.hook_z', P - 1, Dh, h * Dh),
          `L1H${h} last`,
        );
      const all = await runPatchSweep(model, tokenizer, { ...base, kind: 'heads-all' });
      expectMetric(
        all.entries.find((e) => e.layer === 0 && e.head === 1),
        patchedRef(
          'blocks.0.attn.hook_z',
          Array.from({ length: P }, (_, p) => p),
          Dh,
          Dh,
        ),
        'L0H1 at every position',
      );
      const resid = await runPatchSweep(model, tokenizer, { ...base, kind: 'resid' });
      assert.equal(resid.entries.length, 2 * P);
      expectMetric(
        resid.entries.find((e) => e.layer === 1 && e.position === 1),
        patchedRef('blocks.1.hook_resid_pre', 1, D, 0),
        'resid_pre L1 pos 1',
      );
      const attn = await runPatchSweep(model, tokenizer, { ...base, kind: 'attn' });
      expectMetric(
        attn.entries.find((e) => e.layer === 0 && e.position === 1),
        patchedRef('blocks.0.hook_attn_out', 1, D, 0),
        'attn_out L0 pos 1',
      );
      const mlp = await runPatchSweep(model, tokenizer, { ...base, kind: 'mlp' });
      expectMetric(
        mlp.entries.find((e) => e.layer === 0 && e.position === 1),
        patchedRef('blocks.0.hook_mlp_out', 1, D, 0),
        'mlp_out L0 pos 1',
      );
    });
  });
}
