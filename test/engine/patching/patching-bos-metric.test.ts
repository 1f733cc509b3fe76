/**
 * Activation patching's BOS convention and metrics on a seeded tiny random GPT-2 (GPT-2's
 * tokenizer, BOS <|endoftext|> = 50256), against the independent float64 reference forward:
 *  - text prompts run as [BOS, ...prompt]; token ids run exactly as given; positions count the BOS;
 *  - without a contrast the metric is log_softmax(logits)[target]; with one the logit difference;
 *  - the greater-than metric is Hanna et al.'s probability difference over "00".."99".
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PatchRequest } from '../../../src/protocol/engine.js';
import { EngineError } from '../../../src/engine/errors.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { runNaivePatchSweep, runPatchSweep } from '../../../src/engine/patching/index.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import { referenceGpt2Forward, type ReferenceTensor } from '../../helpers/reference-gpt2.js';
import { randomModelFolder, type RandomModelFixture } from '../../helpers/model-fixtures.js';

const CONFIG = { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 };
const BOS = 50256;
const CLEAN = 'The war lasted from the year 1732 to 17';
const CORRUPT = 'The war lasted from the year 1701 to 17';

/** The final logits at `position` of a reference run, float64. */
function logitsAt(run: Map<string, ReferenceTensor>, position: number): Float64Array {
  const logits = run.get('logits')!;
  const V = logits.shape[1]!;
  return logits.data.slice(position * V, (position + 1) * V);
}

/** log_softmax(logits)[id], float64 with the max subtracted. */
function logSoftmax(logits: Float64Array, id: number): number {
  const max = logits.reduce((a, b) => Math.max(a, b), -Infinity);
  const sum = logits.reduce((a, b) => a + Math.exp(b - max), 0);
  return logits[id]! - max - Math.log(sum);
}

/** Hanna et al. 2023: Σ_{y > YY} p(y) − Σ_{y ≤ YY} p(y) over the year tokens yearIds[y]. */
function probabilityDifference(logits: Float64Array, yearIds: readonly number[], startYear: number): number {
  const max = logits.reduce((a, b) => Math.max(a, b), -Infinity);
  const sum = logits.reduce((a, b) => a + Math.exp(b - max), 0);
  let pd = 0;
  yearIds.forEach((id, y) => {
    pd += ((y > startYear ? 1 : -1) * Math.exp(logits[id]! - max)) / sum;
  });
  return pd;
}

const close = (got: number, want: number, tol: number, what: string): void => {
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${what}: ${got} vs reference ${want}`);
};
const code =
  (c: string, text?: RegExp) =>
  (error: unknown): boolean =>
    error instanceof EngineError && error.code === c && (!text || text.test(error.message));

describe('patching: the BOS convention and the metrics', () => {
  let fixture: RandomModelFixture;
  let model: InstrumentedModel;
  let tokenizer: PromptTokenizer;
  let cleanIds: number[];
  let corruptIds: number[];
  let target: number;

  before(async () => {
    fixture = await randomModelFolder('tiny', 5);
    const loaded = await loadModelFolder(fixture.dir);
    tokenizer = loaded.tokenizer;
    model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
    cleanIds = tokenizer.encode(CLEAN).ids;
    corruptIds = tokenizer.encode(CORRUPT).ids;
    target = tokenizer.encode('33').ids[0]!;
  });
  after(async () => {
    await model.dispose();
  });

  test('text prompts get the BOS at position 0 and the metric without a contrast is the log-probability', async () => {
    const result = await runPatchSweep(model, tokenizer, { clean: CLEAN, corrupt: CORRUPT, target: { id: target }, kind: 'heads-last' });
    assert.equal(result.prependBos, true);
    assert.equal(result.metric, 'log_prob');
    assert.deepEqual(result.cleanTokens[0], { id: BOS, text: '<|endoftext|>', start: 0, end: 0, bos: true });
    assert.deepEqual(result.corruptTokens[0], { id: BOS, text: '<|endoftext|>', start: 0, end: 0, bos: true });
    assert.deepEqual(
      result.cleanTokens.slice(1).map((t) => t.id),
      cleanIds,
    );
    const last = cleanIds.length; // the BOS makes the last position n, not n − 1
    assert.ok(result.entries.every((e) => e.position === last));
    const cleanRef = referenceGpt2Forward(fixture.tensors, CONFIG, [BOS, ...cleanIds]);
    const corruptRef = referenceGpt2Forward(fixture.tensors, CONFIG, [BOS, ...corruptIds]);
    close(result.clean.value, logSoftmax(logitsAt(cleanRef, last), target), 1e-4, 'clean log p');
    close(result.corrupt.value, logSoftmax(logitsAt(corruptRef, last), target), 1e-4, 'corrupted log p');
    // logitDiff stays the raw target logit; the recovery is on the log-probability.
    close(result.clean.logitDiff, logitsAt(cleanRef, last)[target]!, 1e-4, 'clean logit');
    for (const e of result.entries) {
      if (Number.isNaN(e.recovery)) continue;
      close(e.recovery, (e.value - result.corrupt.value) / (result.clean.value - result.corrupt.value), 1e-9, `L${e.layer}H${e.head} recovery`);
    }
  });

  test('a position-indexed patch counts the BOS: resid_pre at position p is the reference run patched at p of [BOS, ...]', async () => {
    const p = 7; // the "17" of "1732" (or "01"): the first changed token is at 7 with the BOS, 6 without
    const result = await runPatchSweep(model, tokenizer, {
      clean: CLEAN,
      corrupt: CORRUPT,
      target: { id: target },
      kind: 'single',
      component: { hook: 'resid_pre', layer: 1, position: p },
    });
    const cleanRef = referenceGpt2Forward(fixture.tensors, CONFIG, [BOS, ...cleanIds]);
    const patched = referenceGpt2Forward(fixture.tensors, CONFIG, [BOS, ...corruptIds], {
      intervene: (name, t) => {
        if (name !== 'blocks.1.hook_resid_pre') return;
        const out = { shape: [...t.shape], data: t.data.slice() };
        out.data.set(cleanRef.get(name)!.data.subarray(p * 64, (p + 1) * 64), p * 64);
        return out;
      },
    });
    assert.equal(result.entries[0]!.position, p);
    close(result.entries[0]!.value, logSoftmax(logitsAt(patched, cleanIds.length), target), 1e-4, 'patched log p');
  });

  test('token ids are used exactly as given: no BOS, prependBos false', async () => {
    const result = await runPatchSweep(model, tokenizer, { cleanIds, corruptIds, target: { id: target }, kind: 'heads-last' });
    assert.equal(result.prependBos, false);
    assert.ok(result.cleanTokens.every((t) => t.bos === undefined));
    assert.deepEqual(
      result.cleanTokens.map((t) => t.id),
      cleanIds,
    );
    const last = cleanIds.length - 1;
    close(result.clean.value, logSoftmax(logitsAt(referenceGpt2Forward(fixture.tensors, CONFIG, cleanIds), last), target), 1e-4, 'clean log p without BOS');
    // prependBos: false on text prompts gives the same run.
    const off = await runPatchSweep(model, tokenizer, { clean: CLEAN, corrupt: CORRUPT, target: { id: target }, kind: 'heads-last', prependBos: false });
    assert.equal(off.prependBos, false);
    close(off.clean.value, result.clean.value, 1e-6, 'prependBos false');
  });

  test('with a contrast the metric is the logit difference', async () => {
    const contrast = tokenizer.encode('01').ids[0]!;
    const result = await runPatchSweep(model, tokenizer, {
      clean: CLEAN,
      corrupt: CORRUPT,
      target: { id: target },
      contrast: { id: contrast },
      kind: 'heads-last',
    });
    assert.equal(result.metric, 'logit_diff');
    const logits = logitsAt(referenceGpt2Forward(fixture.tensors, CONFIG, [BOS, ...cleanIds]), cleanIds.length);
    close(result.clean.value, logits[target]! - logits[contrast]!, 1e-4, 'clean logit difference');
    assert.equal(result.clean.value, result.clean.logitDiff);
  });

  test('the greater-than metric is the probability difference over "00".."99", in the fast and the naive sweep', async () => {
    const yearIds = Array.from({ length: 100 }, (_, y) => {
      const ids = tokenizer.encode(String(y).padStart(2, '0')).ids;
      assert.equal(ids.length, 1);
      return ids[0]!;
    });
    const request: PatchRequest = {
      clean: CLEAN,
      corrupt: CORRUPT,
      target: { id: target },
      kind: 'heads-last',
      metric: { kind: 'greater-than', startYear: 32 },
    };
    const result = await runPatchSweep(model, tokenizer, request);
    assert.equal(result.metric, 'prob_diff_greater_than');
    assert.equal(result.startYear, 32);
    const n = cleanIds.length;
    close(
      result.clean.value,
      probabilityDifference(logitsAt(referenceGpt2Forward(fixture.tensors, CONFIG, [BOS, ...cleanIds]), n), yearIds, 32),
      1e-5,
      'clean PD',
    );
    close(
      result.corrupt.value,
      probabilityDifference(logitsAt(referenceGpt2Forward(fixture.tensors, CONFIG, [BOS, ...corruptIds]), n), yearIds, 32),
      1e-5,
      'corrupted PD',
    );
    // The target's own fields are still its logit and probability.
    close(result.clean.logitDiff, logitsAt(referenceGpt2Forward(fixture.tensors, CONFIG, [BOS, ...cleanIds]), n)[target]!, 1e-4, 'target logit');
    const naive = await runNaivePatchSweep(model, tokenizer, request);
    result.entries.forEach((e, i) => close(e.value, naive.entries[i]!.value, 1e-5, `L${e.layer}H${e.head} PD against the naive sweep`));
  });

  test('bad metric and BOS requests are typed errors', async () => {
    const base: PatchRequest = { clean: CLEAN, corrupt: CORRUPT, target: { id: target }, kind: 'heads-last' };
    await assert.rejects(runPatchSweep(model, tokenizer, { ...base, metric: { kind: 'greater-than', startYear: 100 } }), code('BAD_ARGUMENT', /0\.\.99/));
    await assert.rejects(runPatchSweep(model, tokenizer, { ...base, metric: { kind: 'greater-than', startYear: 3.5 } }), code('BAD_ARGUMENT'));
    await assert.rejects(runPatchSweep(model, tokenizer, { ...base, metric: { kind: 'bogus' } as never }), code('BAD_ARGUMENT', /metric/));
    // A tokenizer whose "07" is two tokens cannot give the year tokens.
    const split: PromptTokenizer = {
      vocabSize: tokenizer.vocabSize,
      decode: (ids) => tokenizer.decode(ids),
      tokenText: (id) => tokenizer.tokenText(id),
      encode: (text) => (text === '07' ? tokenizer.encode('0 7') : tokenizer.encode(text)),
    };
    await assert.rejects(runPatchSweep(model, split, { ...base, metric: { kind: 'greater-than', startYear: 32 } }), code('NOT_SINGLE_TOKEN', /"07"/));
    // One prompt as text (gets the BOS) and one as ids (does not): ambiguous positions.
    await assert.rejects(
      runPatchSweep(model, tokenizer, { clean: CLEAN, corruptIds: [BOS, ...corruptIds], target: { id: target }, kind: 'heads-last' }),
      code('BAD_ARGUMENT', /BOS/),
    );
  });
});
