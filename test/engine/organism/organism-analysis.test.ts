/**
 * The analyses on the built-in model organism, whose heads have documented roles
 * (src/engine/organism/organism-design.ts): the census and the prompt's head classes must name
 * them, and the circuit trace must find the induction circuit and the negative head.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/engine/analysis/analyze.js';
import { HeadCensusCache } from '../../../src/engine/analysis/head-census.js';
import { ORGANISM_HEADS, generateOrganism, organismHead } from '../../../src/engine/organism/index.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadTokenizer } from '../../../src/engine/tokenizer/tokenizer.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import type { AnalysisResult, ModelInfo } from '../../../src/protocol/analysis.js';

const INDUCTION_PRESET = 'The cat sat on the mat. The cat sat on the';
let runner: InstrumentedModel;
let tokenizer: PromptTokenizer;
let modelInfo: ModelInfo;
let preset: AnalysisResult;

before(async () => {
  const { model, tokenizerJson } = generateOrganism();
  runner = await InstrumentedModel.create(model, { device: 'cpu' });
  tokenizer = loadTokenizer(tokenizerJson);
  const c = model.config;
  modelInfo = {
    id: 'organism',
    displayName: 'organism',
    nLayers: c.nLayers,
    nHeads: c.nHeads,
    dModel: c.dModel,
    dHead: c.dHead,
    dVocab: c.dVocab,
    nCtx: c.nCtx,
  };
  preset = await analyze(runner, tokenizer, { prompt: INDUCTION_PRESET, census: true }, { modelInfo, censusCache: new HeadCensusCache() });
});
after(async () => {
  await runner.dispose();
});

test('the census labels every organism head as documented, and no other head is above threshold', () => {
  const census = preset.census!;
  assert.equal(census.entries.length, ORGANISM_HEADS.length);
  for (const documented of ORGANISM_HEADS) {
    const entry = census.entries.find((e) => e.layer === documented.layer && e.head === documented.head)!;
    assert.equal(entry.label, documented.expectedLabel, `L${documented.layer}H${documented.head} (${documented.role}): ${JSON.stringify(entry)}`);
    if (documented.expectedLabel === 'diffuse') {
      for (const score of [entry.previous, entry.duplicate, entry.induction])
        assert.ok(score <= census.threshold, `L${documented.layer}H${documented.head} scores ${score}`);
    }
  }
});

test('on the induction preset, the prompt’s own head classes name the previous-token, duplicate-token and induction heads', () => {
  for (const role of ['previous-token', 'duplicate-token', 'induction'] as const) {
    const documented = organismHead(role);
    const head = preset.heads.find((h) => h.layer === documented.layer && h.head === documented.head)!;
    assert.equal(head.label, documented.expectedLabel, `${head.name}: ${JSON.stringify(head.scores)}`);
  }
});

test('the circuit trace of the induction preset predicts " mat", ranks the induction head first and the negative head negative', () => {
  assert.equal(preset.predictions[0]!.token, ' mat');
  const trace = preset.trace;
  assert.equal(trace.target, ' mat');
  assert.ok(Math.abs(trace.total - trace.actual) < 1e-4);
  const heads = trace.components.filter((c) => c.kind === 'head');
  const induction = organismHead('induction');
  assert.equal(heads[0]!.name, `L${induction.layer}H${induction.head}`, `heads by |DLA|: ${heads.map((h) => `${h.name} ${h.value.toFixed(2)}`).join(', ')}`);
  assert.ok(heads[0]!.value > 0);
  const negative = organismHead('negative');
  const negativeValue = trace.heads[negative.layer * modelInfo.nHeads + negative.head]!;
  assert.ok(negativeValue < 0, `the negative head's DLA is ${negativeValue}`);
  // The induction head draws its contribution from the first " mat" (the token after the earlier " the").
  const n = preset.tokens.length;
  const split = trace.headBySource.subarray(
    (induction.layer * modelInfo.nHeads + induction.head) * n,
    (induction.layer * modelInfo.nHeads + induction.head + 1) * n,
  );
  const firstMat = preset.tokens.findIndex((t) => t.text === ' mat');
  let best = 0;
  for (let k = 1; k < n; k++) if (split[k]! > split[best]!) best = k;
  assert.equal(best, firstMat);
  // And the lens sees " mat" appear only after the induction layer.
  assert.equal(preset.lens.layers.at(-1)!.targetRank, 0);
  assert.ok(preset.lens.layers[0]!.targetRank > 0);
});

test('with " rug" as contrast the trace is a logit difference that sums exactly', async () => {
  const result = await analyze(runner, tokenizer, { prompt: INDUCTION_PRESET, target: { text: ' mat' }, contrast: { text: ' rug' } }, { modelInfo });
  assert.equal(result.trace.metric, 'logit_diff');
  assert.ok(Math.abs(result.trace.total - result.trace.actual) < 1e-4);
  assert.ok(result.trace.total > 0);
  const induction = organismHead('induction');
  assert.equal(result.trace.components.filter((c) => c.kind === 'head')[0]!.name, `L${induction.layer}H${induction.head}`);
});
