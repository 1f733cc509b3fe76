/**
 * Activation patching on the model organism, whose circuits are documented in
 * models/organism/README.md: with a corrupted prompt that breaks the repetition, patching the
 * documented induction head restores most of the induction prediction, and heads outside the
 * documented circuit change nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runPatchSweep } from '../../../src/engine/patching/index.js';
import { generateOrganism, ORGANISM_HEADS, organismHead } from '../../../src/engine/organism/index.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadTokenizer } from '../../../src/engine/tokenizer/tokenizer.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import type { PatchRequest } from '../../../src/protocol/engine.js';

// The clean prompt repeats "The cat sat on the"; its answer " mat" comes from the induction head.
// The corrupted prompt has the same length but a first half with no " the", so the final " the"
// has no earlier occurrence to complete.
const CLEAN = 'The cat sat on the mat. The cat sat on the';
const CORRUPT = 'The dog ran by a rug. The cat sat on the';

describe('patching the model organism', () => {
  let model: InstrumentedModel;
  let tokenizer: PromptTokenizer;
  const induction = organismHead('induction');
  const outside = ORGANISM_HEADS.filter((h) => h.role === 'idle');
  const request = (kind: PatchRequest['kind']): PatchRequest => ({
    clean: CLEAN,
    corrupt: CORRUPT,
    target: { text: ' mat' },
    contrast: { text: ' rug' },
    kind,
  });

  before(async () => {
    const organism = generateOrganism();
    tokenizer = loadTokenizer(organism.tokenizerJson);
    model = await InstrumentedModel.create(organism.model, { device: 'cpu' });
  });
  after(() => model.dispose());

  test('the corruption breaks the induction prediction', async () => {
    const result = await runPatchSweep(model, tokenizer, request('heads-last'));
    assert.equal(result.cleanTokens.length, result.corruptTokens.length);
    assert.ok(result.clean.prob > 0.5, `clean p(" mat") = ${result.clean.prob}`);
    assert.ok(result.corrupt.prob < 0.01, `corrupted p(" mat") = ${result.corrupt.prob}`);
    assert.ok(result.clean.logitDiff - result.corrupt.logitDiff > 5, `logit difference ${result.clean.logitDiff} vs ${result.corrupt.logitDiff}`);
  });

  for (const kind of ['heads-last', 'heads-all'] as const) {
    test(`${kind}: the induction head restores the prediction, heads outside the circuit do nothing`, async () => {
      const result = await runPatchSweep(model, tokenizer, request(kind));
      const entry = (layer: number, head: number) => result.entries.find((e) => e.layer === layer && e.head === head)!;
      const ind = entry(induction.layer, induction.head);
      assert.ok(ind.recovery > 0.5, `L${induction.layer}H${induction.head} recovery ${ind.recovery}`);
      assert.ok(ind.prob > 0.3, `p(" mat") after patching the induction head: ${ind.prob}`);
      for (const h of outside) {
        const e = entry(h.layer, h.head);
        assert.ok(Math.abs(e.recovery) < 0.02, `L${h.layer}H${h.head} (${h.role}) recovery ${e.recovery}`);
      }
      // The induction head is the strongest single head.
      const best = [...result.entries].sort((a, b) => b.recovery - a.recovery)[0]!;
      assert.deepEqual([best.layer, best.head], [induction.layer, induction.head]);
    });
  }

  test("residual stream: the answer's token position carries the restoration before layer 1", async () => {
    const result = await runPatchSweep(model, tokenizer, request('resid'));
    // Both prompts get the BOS at position 0 (TransformerLens's default), so " mat" is position 6.
    assert.equal(result.prependBos, true);
    const matPosition = result.cleanTokens.findIndex((t) => t.text === ' mat');
    assert.equal(matPosition, 6);
    // At layer 1, the induction head reads the key whose previous token is " the" and copies its
    // token: the clean residual at the " mat" position (which holds " mat" and, via L0H0, a
    // previous token " the") restores most of the prediction on its own.
    const atMat = result.entries.find((e) => e.layer === 1 && e.position === matPosition)!;
    assert.ok(atMat.recovery > 0.5, `resid_pre 1 at " mat": recovery ${atMat.recovery}`);
    // Putting " the" at position 5 makes the corrupted " rug" the induction target: the model then
    // copies " rug", the opposite of the clean answer (recovery below −1).
    const atThe = result.entries.find((e) => e.layer === 0 && e.position === matPosition - 1)!;
    assert.ok(atThe.recovery < -0.5, `resid_pre 0 at position 5: recovery ${atThe.recovery}`);
    // The shared second half holds nothing the induction head uses.
    for (const e of result.entries.filter((x) => x.position !== undefined && x.position >= 8 && x.position < result.cleanTokens.length - 1)) {
      assert.ok(Math.abs(e.recovery) < 0.01, `L${e.layer} position ${e.position}: recovery ${e.recovery}`);
    }
  });
});
