import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnalysisRunner } from '../../../src/engine/analysis/analysis-runner.js';
import {
  censusSequences,
  censusTokenRange,
  computeCensusScores,
  DEFAULT_CENSUS_SETTINGS,
  fitCensusSettings,
  HeadCensusCache,
  labelCensus,
} from '../../../src/engine/analysis/head-census.js';
import { EngineError } from '../../../src/engine/errors.js';
import type { ActivationCache, HookName } from '../../../src/engine/hooks.js';
import type { ModelConfig } from '../../../src/engine/model/config.js';
import type { AnalysisWeights } from '../../../src/engine/model/weights.js';
import type { ForwardOptions, ForwardResult } from '../../../src/engine/runtime/types.js';
import { mulberry32 } from '../../../src/engine/analysis/seeded-random.js';
import { detectorScore } from '../../fixtures/tl-semantics/transformer-lens-reference.js';
import { duplicateHead, inductionHead, patternOf, previousHead, uniformHead, type RowFn } from '../../helpers/synthetic-patterns.js';

const GPT2_SHAPE = { dVocab: 50257, nCtx: 1024, bosTokenId: 50256 };

test('census sequences: BOS, then R, then R again; seeded, distinct within R, inside the safe range', () => {
  const settings = { batch: 8, halfLength: 20, seed: 99 };
  const seqs = censusSequences(settings, GPT2_SHAPE);
  assert.equal(seqs.length, 8);
  const [lo, hi] = censusTokenRange(50257);
  for (const s of seqs) {
    assert.equal(s.length, 41);
    assert.equal(s[0], 50256);
    assert.deepEqual(s.slice(1, 21), s.slice(21));
    const block = s.slice(1, 21);
    assert.equal(new Set(block).size, 20);
    for (const id of block) assert.ok(id >= lo && id < hi && id !== 50256);
  }
  assert.notDeepEqual(seqs[0], seqs[1]);
  assert.deepEqual(censusSequences(settings, GPT2_SHAPE), seqs);
  assert.notDeepEqual(censusSequences({ ...settings, seed: 100 }, GPT2_SHAPE), seqs);
  // No BOS: R R only. Tiny vocabulary: the whole range.
  const tiny = censusSequences({ batch: 1, halfLength: 5, seed: 1 }, { dVocab: 16, nCtx: 16, bosTokenId: null });
  assert.equal(tiny[0]!.length, 10);
  assert.deepEqual(censusTokenRange(16), [0, 16]);
  assert.throws(() => censusSequences({ batch: 1, halfLength: 20, seed: 1 }, { dVocab: 16, nCtx: 64, bosTokenId: null }), EngineError);
  assert.throws(() => censusSequences({ batch: 1, halfLength: 20, seed: 1 }, { ...GPT2_SHAPE, nCtx: 40 }), EngineError);
});

/**
 * A runner whose layer-l head-h attention is a fixed rule applied to whatever tokens it is given,
 * so the census must find the rule; it answers only the pattern hooks and counts its forwards.
 */
class RuleRunner implements AnalysisRunner {
  readonly provider = 'rules';
  readonly config: ModelConfig;
  readonly weights = {} as AnalysisWeights; // the census reads no weights
  forwards = 0;
  requested: HookName[][] = [];
  constructor(private readonly layers: RowFn[][]) {
    this.config = {
      modelType: 'rules',
      nLayers: layers.length,
      nHeads: layers[0]!.length,
      dModel: 4,
      dHead: 2,
      dMlp: 16,
      dVocab: 50257,
      nCtx: 1024,
      eps: 1e-5,
      actFn: 'gelu_new',
      bosTokenId: 50256,
    };
  }
  async forward(ids: readonly number[], options: ForwardOptions = {}): Promise<ForwardResult> {
    this.forwards++;
    const hooks = options.hooks === 'all' || options.hooks === undefined ? [] : [...options.hooks];
    this.requested.push(hooks);
    const cache: ActivationCache = new Map();
    this.layers.forEach((heads, l) => cache.set(`blocks.${l}.attn.hook_pattern`, patternOf(heads, ids.length, ids)));
    return { cache, provider: this.provider, elapsedMs: 0 };
  }
}

test('the census finds each rule head with TransformerLens scores and labels it; other heads stay below threshold', async () => {
  const runner = new RuleRunner([
    [previousHead, uniformHead],
    [inductionHead, duplicateHead],
  ]);
  const settings = { batch: 3, halfLength: 10, seed: 5 };
  const scores = await computeCensusScores(runner, settings);
  assert.equal(runner.forwards, 3);
  assert.deepEqual(runner.requested[0], ['blocks.0.attn.hook_pattern', 'blocks.1.attn.hook_pattern']);
  const census = labelCensus(scores, 0.35);
  const N = 10;
  const ceilingPrev = (2 * N) / (2 * N + 1);
  const ceilingHalf = N / (2 * N + 1);
  const entry = (l: number, h: number) => census.entries.find((e) => e.layer === l && e.head === h)!;
  const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
  // Raw: TransformerLens's detector scores, at their ceilings. Normalised by the ceiling: 1.
  close(entry(0, 0).raw.previous, ceilingPrev);
  close(entry(0, 0).previous, 1);
  assert.equal(entry(0, 0).label, 'previous-token');
  close(entry(1, 0).raw.induction, ceilingHalf);
  close(entry(1, 0).induction, 1);
  assert.equal(entry(1, 0).label, 'induction');
  close(entry(1, 1).raw.duplicate, ceilingHalf);
  close(entry(1, 1).duplicate, 1);
  assert.equal(entry(1, 1).label, 'duplicate-token');
  assert.equal(entry(0, 1).label, 'diffuse');
  close(census.ceiling.previous, ceilingPrev);
  close(census.ceiling.duplicate, ceilingHalf);
  close(census.ceiling.induction, ceilingHalf);
  assert.deepEqual({ batch: census.batch, halfLength: census.halfLength, seed: census.seed, threshold: census.threshold }, { ...settings, threshold: 0.35 });
  // The threshold applies to the normalised score: a perfect induction head (raw ≈ 0.48) keeps its label at 0.6.
  assert.equal(labelCensus(scores, 0.6).entries.find((e) => e.layer === 1 && e.head === 0)!.label, 'induction');
});

test('census scores equal TransformerLens’s head_detector (float64 reference) on random patterns, raw and over the ceiling', async () => {
  const random = mulberry32(21);
  const randomRow: RowFn = (q) => {
    const row = Array.from({ length: q + 1 }, () => random() ** 4);
    const sum = row.reduce((a, b) => a + b, 0);
    return row.map((v) => v / sum);
  };
  const patterns: Float32Array[] = [];
  const runner = new RuleRunner([[randomRow, randomRow]]);
  const forward = runner.forward.bind(runner);
  runner.forward = async (ids, options) => {
    const result = await forward(ids, options);
    patterns.push(result.cache.get('blocks.0.attn.hook_pattern')!.data);
    return result;
  };
  const settings = { batch: 3, halfLength: 6, seed: 4 };
  const sequences = censusSequences(settings, runner.config);
  for (const prependBos of [true, false]) {
    patterns.length = 0;
    const seqs = censusSequences({ ...settings, prependBos }, runner.config);
    const census = labelCensus(await computeCensusScores(runner, { ...settings, prependBos }), 0.35);
    const N = settings.halfLength;
    const rows = prependBos ? 2 * N + 1 : 2 * N;
    const ceiling = { previous: (rows - 1) / rows, duplicate: N / rows, induction: N / rows };
    for (const kind of ['previous', 'duplicate', 'induction'] as const) {
      assert.ok(Math.abs(census.ceiling[kind] - ceiling[kind]) < 1e-12, `${kind} ceiling`);
      for (let h = 0; h < 2; h++) {
        const expected = seqs.reduce((s, ids, b) => s + detectorScore(patterns[b]!, h, ids, kind), 0) / seqs.length;
        const entry = census.entries[h]!;
        assert.ok(Math.abs(entry.raw[kind] - expected) < 1e-6, `H${h} ${kind} raw ${entry.raw[kind]} vs ${expected}`);
        assert.ok(Math.abs(entry[kind] - expected / ceiling[kind]) < 1e-6, `H${h} ${kind} normalised`);
      }
    }
  }
  assert.equal(sequences[0]![0], 50256);
});

test('HeadCensusCache computes once per runner and layout, relabels per threshold, and retries after a failure', async () => {
  const cache = new HeadCensusCache();
  const runner = new RuleRunner([[previousHead, inductionHead]]);
  const [a, b] = await Promise.all([cache.get(runner), cache.get(runner)]);
  assert.equal(runner.forwards, DEFAULT_CENSUS_SETTINGS.batch);
  assert.deepEqual(a, b);
  // Normalised scores: a perfect head scores 1, so only a threshold of 1 (strictly above) unlabels it.
  const relabelled = await cache.get(runner, { threshold: 1 });
  assert.equal(runner.forwards, DEFAULT_CENSUS_SETTINGS.batch);
  assert.equal(relabelled.threshold, 1);
  assert.equal(relabelled.entries[0]!.label, 'diffuse');
  assert.equal(a.entries[0]!.label, 'previous-token');
  await cache.get(runner, { seed: 7 });
  assert.equal(runner.forwards, 2 * DEFAULT_CENSUS_SETTINGS.batch);
  const other = new RuleRunner([[previousHead, inductionHead]]);
  await cache.get(other);
  assert.equal(other.forwards, DEFAULT_CENSUS_SETTINGS.batch);

  const controller = new AbortController();
  controller.abort();
  const third = new RuleRunner([[previousHead]]);
  await assert.rejects(cache.get(third, {}, controller.signal), (e: unknown) => e instanceof EngineError && e.code === 'CANCELLED');
  assert.equal(cache.has(third), false);
  await cache.get(third);
  assert.equal(third.forwards, DEFAULT_CENSUS_SETTINGS.batch);
});

test('the census block shrinks to fit a small context or vocabulary and reports the layout it used', async () => {
  assert.equal(fitCensusSettings({ halfLength: 20 }, { dVocab: 50257, nCtx: 16, bosTokenId: 50256 }).halfLength, 7);
  assert.equal(fitCensusSettings({ halfLength: 20 }, { dVocab: 50257, nCtx: 16, bosTokenId: null }).halfLength, 8);
  assert.equal(fitCensusSettings({ halfLength: 20 }, { dVocab: 6, nCtx: 1024, bosTokenId: 5 }).halfLength, 5);
  assert.equal(fitCensusSettings({ halfLength: 20 }, GPT2_SHAPE).halfLength, 20);
  assert.throws(() => fitCensusSettings({ halfLength: 20 }, { dVocab: 50257, nCtx: 4, bosTokenId: 50256 }), EngineError);
  const runner = new RuleRunner([[previousHead]]);
  (runner.config as { nCtx: number }).nCtx = 9;
  const census = await new HeadCensusCache().get(runner, { batch: 1 });
  assert.equal(census.halfLength, 4);
});
