/**
 * Activation patching on a tiny random GPT-Neo whose local layer (window 4) is shorter than the
 * 10-token prompts: every sweep, on every path (packed with prefix rows or a dense mask, unpacked
 * variants over cached keys and values, shared-prefix shortcut or not), equals the naive full
 * corrupted re-run per patch, and patches are checked against the float64 reference forward.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PatchSweepResult } from '../../../src/protocol/analysis.js';
import type { PatchRequest } from '../../../src/protocol/engine.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import type { CanonicalModel } from '../../../src/engine/model/weights.js';
import { runNaivePatchSweep, runPatchSweep, type PatchSweepOptions } from '../../../src/engine/patching/index.js';
import { measureLogits } from '../../../src/engine/patching/patch-metric.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { tensor, type Tensor } from '../../../src/engine/tensor.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import { gptNeoFolder, type GptNeoFixture } from '../../helpers/gpt-neo-fixtures.js';
import { referenceGptNeoForward } from '../../helpers/reference-gpt-neo.js';
import type { ReferenceTensor } from '../../helpers/reference-gpt2.js';

const H = 4,
  DH = 16;
const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332];
const CORRUPT = [464, 3290, 3332, 319, 262, 2603, 13, 383, 3290, 1110];
const P = CLEAN.length;
const WINDOW = 4;
const TARGET = { id: 3332 };
const CONTRAST = { id: 1110 };

/** Queries, keys and outputs scaled up (as patching.test.ts does for GPT-2), so patches move the metric well beyond the tolerance. */
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

describe('activation patching on a tiny random GPT-Neo (local window 4 < 10 positions)', () => {
  let fixture: GptNeoFixture;
  let model: InstrumentedModel;
  let sharp: InstrumentedModel;
  let tokenizer: PromptTokenizer;
  before(async () => {
    fixture = await gptNeoFolder(5);
    const loaded = await loadModelFolder(fixture.dir);
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
    { name: 'heads at the last position (packed prefix rows)', request: { ...base, kind: 'heads-last' } },
    { name: 'heads at position 6 (packed dense mask)', request: { ...base, kind: 'heads-last', position: 6 } },
    { name: 'heads at all positions', request: { ...base, kind: 'heads-all' } },
    { name: 'residual stream', request: { ...base, kind: 'resid' } },
    { name: 'attention output', request: { ...base, kind: 'attn' } },
    { name: 'MLP output', request: { ...base, kind: 'mlp' } },
    { name: 'single head z of the local layer at position 3', request: { ...base, kind: 'single', component: { hook: 'z', layer: 1, head: 2, position: 3 } } },
  ];
  const paths: Array<{ name: string; options: PatchSweepOptions }> = [
    { name: 'default plan', options: {} },
    { name: 'no shared-prefix shortcut, one call per site', options: { skipSharedPrefix: false, callCostRows: 0 } },
    { name: 'head sweeps unpacked', options: { packed: false } },
    { name: 'unpacked, no shared-prefix shortcut', options: { packed: false, skipSharedPrefix: false } },
  ];
  for (const { name, request } of requests) {
    test(`${name}: every path equals the naive re-runs`, async () => {
      const naive = await runNaivePatchSweep(sharp, tokenizer, request);
      for (const path of paths) assertSameSweep(await runPatchSweep(sharp, tokenizer, request, path.options), naive, path.name);
    });
  }

  test('the sweeps are not trivially equal: patches before the last position move the metric', async () => {
    for (const request of [requests[2]!.request, requests[3]!.request]) {
      const naive = await runNaivePatchSweep(sharp, tokenizer, request);
      const moved = naive.entries.filter((e) => (e.position === undefined || e.position < P - 1) && Math.abs(e.logitDiff - naive.corrupt.logitDiff) > 1e-2);
      assert.ok(moved.length >= 2, `${request.kind}: only ${moved.length} patches changed the logit difference by more than 1e-2`);
    }
  });

  test('the window shows: the local layer’s residual rows more than 3 positions back never reach the last position', async () => {
    const resid = await runPatchSweep(sharp, tokenizer, requests[3]!.request);
    const change = (layer: number, position: number): number =>
      Math.abs(resid.entries.find((e) => e.layer === layer && e.position === position)!.logitDiff - resid.corrupt.logitDiff);
    // Position 1 (where the prompts differ) reaches position 9 through the global layer 0 ...
    assert.ok(change(0, 1) > 1e-2, `resid_pre L0 pos 1 moves the metric by only ${change(0, 1)}`);
    // ... but not through layer 1, whose query at 9 sees keys 6..9 only.
    for (let p = 0; p < P - WINDOW; p++) assert.ok(change(1, p) < 1e-5, `resid_pre L1 pos ${p} moves the metric by ${change(1, p)}`);
  });

  test('patches against the reference forward: a local-layer head at the last position, a residual row', async () => {
    const clean = referenceGptNeoForward(fixture.tensors, fixture.referenceConfig, CLEAN);
    const lastLogits = (run: Map<string, ReferenceTensor>): Float32Array => {
      const logits = run.get('logits')!;
      return Float32Array.from(logits.data.subarray((P - 1) * logits.shape[1]!));
    };
    const patchedRef = (hook: string, position: number, width: number, offset: number): Float32Array =>
      lastLogits(
        referenceGptNeoForward(fixture.tensors, fixture.referenceConfig, CORRUPT, {
          intervene: (name, t) => {
            if (name !== hook) return;
            const out = { shape: [...t.shape], data: t.data.slice() };
            const from = position * (t.data.length / t.shape[0]!) + offset;
            out.data.set(clean.get(hook)!.data.subarray(from, from + width), from);
            return out;
          },
        }),
      );
    const tokens = { targetId: TARGET.id, contrastId: CONTRAST.id };
    const expectMetric = (got: { logitDiff: number }, logits: Float32Array, what: string): void => {
      const want = measureLogits(logits, tokens).logitDiff;
      assert.ok(Math.abs(got.logitDiff - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${what}: ${got.logitDiff} vs ${want}`);
    };
    const heads = await runPatchSweep(model, tokenizer, { ...base, kind: 'heads-last' });
    expectMetric(
      heads.entries.find((e) => e.layer === 1 && e.head === 2)!,
      patchedRef('blocks.1.attn.hook_z', P - 1, DH, 2 * DH),
      'L1H2 at the last position',
    );
    const resid = await runPatchSweep(model, tokenizer, { ...base, kind: 'resid' });
    expectMetric(
      resid.entries.find((e) => e.layer === 1 && e.position === 1)!,
      patchedRef('blocks.1.hook_resid_pre', 1, 64, 0),
      'resid_pre L1 pos 1',
    );
    assert.equal(heads.entries.length, 2 * H);
  });
});
