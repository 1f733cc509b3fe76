/**
 * The two packed-run cases every rotary family's test runs on its tiny random model (2 layers, 4
 * heads, 10-token prompts): a dense mask over branches that join at different layers and positions,
 * and prefix rows (every branch its prompt's last position). Each prompt and branch is compared with
 * the family's float64 reference run of the whole prompt with that branch's hook_z patch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InstrumentedModel } from '../../src/engine/runtime/instrumented-model.js';
import type { PackedBranch, PackedRunRequest, TokenScores } from '../../src/engine/runtime/types.js';
import type { ReferenceTensor } from './reference-gpt2.js';

type ReferenceRun = Map<string, ReferenceTensor>;
type ReferenceScores = { logits: number[]; probs: number[] };

export interface PackedBranchFixture {
  model: InstrumentedModel;
  clean: ReferenceRun;
  corrupt: ReferenceRun;
  /** The reference's logits and probabilities of the scored tokens at the last position. */
  referenceScores(run: ReferenceRun): ReferenceScores;
  /** The reference run of `ids` with `heads`' hook_z at `layer` (at `positions`, default all) from `source`. */
  patchedReference(ids: readonly number[], source: ReferenceRun, layer: number, heads: readonly number[], positions?: readonly number[]): ReferenceRun;
}

export interface PackedBranchCases {
  clean: readonly number[];
  corrupt: readonly number[];
  tokens: readonly number[];
  /** With prefix rows, how many branches must move the target logit by more than 1e-3 (null: not checked). */
  prefixMoved: number | null;
}

export interface PackedBranchTools {
  /** Runs the clean and corrupted prompts with `branches`, scoring the cases' tokens. */
  run(branches: PackedBranch[]): Promise<{ prompts: TokenScores[]; branches: TokenScores[] }>;
  /** Scores within 1e-4 (logits, relative above 1) and 1e-5 (probabilities) of the expected ones. */
  assertScores(actual: TokenScores, expected: ReferenceScores, what: string): void;
}

/** Registers both cases; `fixture` is read when they run (after the suite's `before`). Returns the runner and check for a suite's own cases. */
export function packedBranchTests(fixture: () => PackedBranchFixture, cases: PackedBranchCases): PackedBranchTools {
  const { clean: CLEAN, corrupt: CORRUPT, tokens } = cases;
  const P = CLEAN.length;
  const assertScores = (actual: TokenScores, expected: ReferenceScores, what: string): void => {
    tokens.forEach((_, k) => {
      const want = expected.logits[k]!;
      assert.ok(Math.abs(actual.logits[k]! - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${what}: logit ${actual.logits[k]} vs reference ${want}`);
      assert.ok(Math.abs(actual.probs[k]! - expected.probs[k]!) <= 1e-5, `${what}: prob ${actual.probs[k]} vs reference ${expected.probs[k]}`);
    });
  };
  const run = (branches: PackedBranch[]): Promise<{ prompts: TokenScores[]; branches: TokenScores[] }> =>
    fixture().model.runPacked({ prompts: [CLEAN, CORRUPT], branches, scoreTokens: tokens } satisfies PackedRunRequest);
  const moved = (branches: PackedBranch[], result: { prompts: TokenScores[]; branches: TokenScores[] }): number[] =>
    branches.map((b, i) => Math.abs(result.branches[i]!.logits[0]! - result.prompts[b.prompt]!.logits[0]!));

  test('dense mask: every branch equals the whole prompt run with its patch, and the prompts their plain runs', async () => {
    const { clean, corrupt, referenceScores, patchedReference } = fixture();
    const branches = [
      // the last position, one head, joining at the last layer
      { prompt: 1, from: P - 1, layer: 1, zFrom: { prompt: 0, heads: [2] } },
      // one position in the middle (the rows after it run too), two heads (of one kv group), layer 0
      { prompt: 1, from: 4, layer: 0, zFrom: { prompt: 0, heads: [0, 1], positions: [4] } },
      // every position from the first difference on
      { prompt: 1, from: 1, layer: 1, zFrom: { prompt: 0, heads: [3] } },
      // the other way round, listed after a later layer's branch
      { prompt: 0, from: 6, layer: 0, zFrom: { prompt: 1, heads: [1, 2] } },
    ];
    const result = await run(branches);
    assertScores(result.prompts[0]!, referenceScores(clean), 'clean prompt');
    assertScores(result.prompts[1]!, referenceScores(corrupt), 'corrupted prompt');
    assertScores(result.branches[0]!, referenceScores(patchedReference(CORRUPT, clean, 1, [2], [P - 1])), 'branch 0');
    assertScores(result.branches[1]!, referenceScores(patchedReference(CORRUPT, clean, 0, [0, 1], [4])), 'branch 1');
    assertScores(result.branches[2]!, referenceScores(patchedReference(CORRUPT, clean, 1, [3])), 'branch 2');
    assertScores(result.branches[3]!, referenceScores(patchedReference(CLEAN, corrupt, 0, [1, 2], [6, 7, 8, 9])), 'branch 3');
    const m = moved(branches, result);
    // Not every one need move it: a sliding window can keep layer 0's position 4 from the last position's logits.
    assert.ok(m.filter((x) => x > 1e-2).length >= 2, `the patches move the target logit by ${m.join(', ')}`);
  });

  test('prefix rows (every branch its prompt last position) equal the patched runs', async () => {
    const { clean, corrupt, referenceScores, patchedReference } = fixture();
    const branches = [
      { prompt: 1, from: P - 1, layer: 0, zFrom: { prompt: 0, heads: [0, 3] } },
      { prompt: 0, from: P - 1, layer: 1, zFrom: { prompt: 1, heads: [2] } },
      { prompt: 1, from: P - 1, layer: 1, zFrom: { prompt: 0, heads: [1] } },
    ];
    const result = await run(branches);
    assertScores(result.prompts[0]!, referenceScores(clean), 'clean prompt');
    assertScores(result.prompts[1]!, referenceScores(corrupt), 'corrupted prompt');
    assertScores(result.branches[0]!, referenceScores(patchedReference(CORRUPT, clean, 0, [0, 3], [P - 1])), 'branch 0');
    assertScores(result.branches[1]!, referenceScores(patchedReference(CLEAN, corrupt, 1, [2], [P - 1])), 'branch 1');
    assertScores(result.branches[2]!, referenceScores(patchedReference(CORRUPT, clean, 1, [1], [P - 1])), 'branch 2');
    if (cases.prefixMoved !== null) {
      const m = moved(branches, result);
      assert.ok(m.filter((x) => x > 1e-3).length >= cases.prefixMoved, `the patches move the target logit by ${m.join(', ')}`);
    }
  });
  return { run, assertScores };
}
