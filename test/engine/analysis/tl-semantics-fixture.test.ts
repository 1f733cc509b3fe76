/**
 * The engine's analyze output on the induction preset and the seeded random GPT-2 (tiny, seed 7)
 * against expected values computed once in float64 with TransformerLens's semantics
 * (test/fixtures/tl-semantics/generate.ts, from transformer-lens-reference.ts). A change of
 * convention (what a head's DLA includes, the centred unembedding, the head-class definitions)
 * fails here even if every internal consistency check still holds.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { analyze } from '../../../src/engine/analysis/analyze.js';
import { generateRandomGpt2 } from '../../../src/engine/model/random-gpt2.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import type { AnalysisResult, DlaMode, ModelInfo } from '../../../src/protocol/analysis.js';

interface FixtureTrace {
  heads: number[];
  mlp: number[];
  embed: number;
  posEmbed: number;
  bias: number;
  total: number;
  actual: number;
}
interface Fixture {
  model: { preset: 'tiny'; seed: number };
  ids: number[];
  position: number;
  targetId: number;
  contrastId: number;
  modes: Record<DlaMode, { logit: FixtureTrace; logitDiff: FixtureTrace; lensTargetProb: number[] }>;
  headScores: Array<{ layer: number; head: number; previous: number | null; duplicate: number | null; induction: number | null }>;
}

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/tl-semantics/induction-tiny.json', import.meta.url), 'utf8')) as Fixture;
const model = generateRandomGpt2({ preset: fixture.model.preset }, fixture.model.seed);
const { nLayers, nHeads, dModel, dHead, dVocab, nCtx } = model.modelConfig;
const modelInfo: ModelInfo = { id: 'random-tiny', displayName: 'random GPT-2 tiny', nLayers, nHeads, dModel, dHead, dVocab, nCtx };
/** The prompt comes as ids and the tokens as ids: the analyses need token texts only for display. */
const idTokenizer: PromptTokenizer = {
  vocabSize: dVocab,
  encode: () => {
    throw new Error('the fixture gives ids');
  },
  decode: (ids) => ids.join(' '),
  tokenText: (id) => `#${id}`,
};
const TOL = 1e-4;
let engine: InstrumentedModel;

before(async () => {
  engine = await InstrumentedModel.create({ config: model.modelConfig, weights: model.weights }, { device: 'cpu', threads: 1 });
});
after(async () => {
  await engine.dispose();
});

async function run(dla: DlaMode, contrast: boolean): Promise<AnalysisResult> {
  return analyze(
    engine,
    idTokenizer,
    { ids: fixture.ids, target: { id: fixture.targetId }, ...(contrast ? { contrast: { id: fixture.contrastId } } : {}), dla, topK: 1 },
    { modelInfo },
  );
}

const close = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: engine ${actual} vs fixture ${expected}`);

for (const dla of ['tl', 'raw'] as const) {
  for (const contrast of [false, true]) {
    test(`DLA (${dla}, ${contrast ? 'logit difference' : 'logit'}) matches the TransformerLens fixture to 1e-4`, async () => {
      const result = await run(dla, contrast);
      const expected = fixture.modes[dla][contrast ? 'logitDiff' : 'logit'];
      assert.equal(result.tokens.length, fixture.ids.length, 'ids are used as given, no BOS');
      assert.equal(result.trace.position, fixture.position);
      assert.equal(result.trace.dla, dla);
      expected.heads.forEach((v, i) => close(result.trace.heads[i]!, v, `L${Math.floor(i / nHeads)}H${i % nHeads}`));
      expected.mlp.forEach((v, l) => close(result.trace.mlp[l]!, v, `mlp${l}`));
      close(result.trace.embed, expected.embed, 'embed');
      close(result.trace.posEmbed!, expected.posEmbed, 'pos_embed');
      close(result.trace.bias, expected.bias, 'bias');
      close(result.trace.total, expected.total, 'total');
      close(result.trace.actual, expected.actual, 'actual');
      // The lens: probabilities near 1/vocab here, so compared as log-probabilities.
      result.lens.layers.forEach((layer, d) => {
        const want = fixture.modes[dla].lensTargetProb[d]!;
        assert.ok(Math.abs(Math.log(layer.targetProb) - Math.log(want)) <= TOL, `lens ${layer.label}: ${layer.targetProb} vs ${want}`);
      });
      for (const s of fixture.headScores) {
        const head = result.heads.find((h) => h.layer === s.layer && h.head === s.head)!;
        for (const k of ['previous', 'duplicate', 'induction'] as const) {
          if (s[k] === null) assert.equal(head.scores[k], null);
          else close(head.scores[k]!, s[k], `${head.name} ${k}`);
        }
      }
    });
  }
}

test('the fixture tells the two conventions apart by well over its tolerance', () => {
  const { tl, raw } = fixture.modes;
  const largest = (a: number[], b: number[]): number => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
  // Folded value biases move between heads and bias in both metrics; the centred unembedding shifts the logit.
  assert.ok(largest(tl.logitDiff.heads, raw.logitDiff.heads) > 10 * TOL);
  assert.ok(Math.abs(tl.logitDiff.total - raw.logitDiff.total) < 1e-9, 'the logit difference is the same in both');
  assert.ok(Math.abs(tl.logit.actual - raw.logit.actual) > 5 * TOL);
});
