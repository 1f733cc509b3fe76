import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analysisHooks, analyze, layerPattern } from '../../../src/engine/analysis/analyze.js';
import { HeadCensusCache } from '../../../src/engine/analysis/head-census.js';
import { attentionStats } from '../../../src/engine/analysis/head-metrics.js';
import { EngineError, type EngineErrorCode } from '../../../src/engine/errors.js';
import type { AnalysisLayerUpdate, ModelInfo } from '../../../src/protocol/analysis.js';
import { analysisFromJson, analysisToJson } from '../../../src/protocol/json.js';
import { randomGpt2, ReferenceRunner } from '../../helpers/random-gpt2-weights.js';
import { WordTokenizer } from '../../helpers/word-tokenizer.js';

const L = 2;
const H = 3;
const model = randomGpt2({ nLayers: L, nHeads: H, dModel: 12, vocab: 48, nCtx: 24, seed: 4, std: 0.8 });
const runner = new ReferenceRunner(model);
const tokenizer = new WordTokenizer(48);
const modelInfo: ModelInfo = { id: 'random', displayName: 'random GPT-2', nLayers: L, nHeads: H, dModel: 12, dHead: 4, dVocab: 48, nCtx: 24 };
const code = (c: EngineErrorCode) => (e: unknown) => e instanceof EngineError && e.code === c;

test('analyze returns every analysis of one prompt, consistent with the model', async () => {
  const updates: AnalysisLayerUpdate[] = [];
  const result = await analyze(runner, tokenizer, { prompt: 'w5 w9 w2 w5 w9', topK: 4 }, { modelInfo, onLayer: (u) => updates.push(u) });
  // A text prompt gets the model's BOS (here id 47) at position 0, so 5 words are 6 positions.
  const n = 6;
  assert.equal(result.tokens.length, n);
  assert.equal(result.prependBos, true);
  assert.deepEqual(result.tokens[0], { id: 47, text: ' w47', start: 0, end: 0, bos: true });
  assert.equal(result.device, 'reference');
  assert.equal(result.predictions.length, 4);
  assert.equal(result.predictionsPerPosition, null);
  // Default target: the top prediction; the trace is exact.
  assert.equal(result.trace.targetId, result.predictions[0]!.tokenId);
  assert.equal(result.trace.position, n - 1);
  assert.ok(Math.abs(result.trace.total - result.trace.actual) < 1e-4);
  // TransformerLens's convention by default: the logit minus the mean logit; 'raw' traces the logit itself.
  assert.equal(result.trace.dla, 'tl');
  const raw = await analyze(runner, tokenizer, { prompt: 'w5 w9 w2 w5 w9', topK: 4, dla: 'raw' }, { modelInfo });
  assert.equal(raw.trace.dla, 'raw');
  assert.ok(Math.abs(raw.trace.actual - result.predictions[0]!.logit) < 1e-6);
  assert.ok(Math.abs(raw.trace.total - raw.trace.actual) < 1e-4);
  // The lens ends on the model's own prediction.
  assert.equal(result.lens.layers.length, L + 1);
  assert.deepEqual(
    result.lens.layers.at(-1)!.top.map((p) => p.tokenId),
    result.predictions.map((p) => p.tokenId),
  );
  assert.equal(result.lens.layers.at(-1)!.targetRank, 0);
  // Heads: layer-major, metrics match the patterns, DLA matches the trace.
  assert.equal(result.heads.length, L * H);
  assert.equal(result.attention.length, L * H * n * n);
  result.heads.forEach((h, i) => {
    assert.equal(h.name, `L${Math.floor(i / H)}H${i % H}`);
    assert.deepEqual(
      { entropy: h.entropy, entropyNormalized: h.entropyNormalized, concentration: h.concentration },
      attentionStats(layerPattern(result, h.layer), h.head),
    );
    assert.equal(h.dla, result.trace.heads[i]);
    assert.ok(h.outputNorm > 0);
    assert.ok(h.scores.previous !== null && h.scores.duplicate !== null && h.scores.induction !== null);
  });
  // Streamed patterns are the result's patterns, one update per layer, in order.
  assert.deepEqual(
    updates.map((u) => [u.layer, u.nLayers]),
    [
      [0, L],
      [1, L],
    ],
  );
  updates.forEach((u) => assert.deepEqual(u.pattern, layerPattern(result, u.layer).data));
  // Flow: n × n, each query row carries L·H units of attention.
  for (let q = 0; q < n; q++) assert.ok(Math.abs(result.flow.total.subarray(q * n, (q + 1) * n).reduce((a, b) => a + b, 0) - L * H) < 1e-4);
  assert.equal(result.flow.perLayer, null);
  assert.equal(result.census, null);
  assert.equal(result.threshold, 0.35);
});

test('analyze honours target, contrast, position, perPosition, census and threshold', async () => {
  const censusCache = new HeadCensusCache();
  const result = await analyze(
    runner,
    tokenizer,
    { ids: [5, 9, 2, 5, 9, 1], target: { text: ' w7' }, contrast: { id: 3 }, position: 3, perPosition: true, census: true, threshold: 0.5 },
    { modelInfo, censusCache, censusSettings: { batch: 2, halfLength: 5 } },
  );
  assert.equal(result.prompt, ' w5 w9 w2 w5 w9 w1');
  assert.equal(result.trace.position, 3);
  assert.equal(result.trace.metric, 'logit_diff');
  assert.equal(result.trace.targetId, 7);
  assert.equal(result.trace.contrastId, 3);
  assert.ok(Math.abs(result.trace.total - result.trace.actual) < 1e-4);
  assert.equal(result.lens.targetId, 7);
  assert.equal(result.lens.perPosition!.length, L + 1);
  assert.equal(result.lens.perPosition![0]!.length, 6);
  assert.equal(result.predictionsPerPosition!.length, 6);
  assert.deepEqual(result.predictionsPerPosition![3], result.predictions);
  assert.equal(result.flow.perLayer!.length, L * 36);
  assert.equal(result.census!.entries.length, L * H);
  assert.equal(result.census!.threshold, 0.5);
  assert.equal(result.census!.batch, 2);
  assert.equal(result.threshold, 0.5);
  assert.ok(censusCache.has(runner, { batch: 2, halfLength: 5 }));
});

test('analyze requests only the hooks it reads, and logits only at the traced position unless every position is shown', async () => {
  const asked: Array<Parameters<typeof runner.forward>[1]> = [];
  const spy = {
    config: runner.config,
    weights: runner.weights,
    provider: runner.provider,
    forward: (ids: readonly number[], o?: Parameters<typeof runner.forward>[1]) => (asked.push(o), runner.forward(ids, o)),
  };
  const single = await analyze(spy, tokenizer, { ids: [1, 2, 3], position: 1 }, { modelInfo });
  assert.deepEqual(asked[0]!.hooks, analysisHooks(L));
  assert.ok(!(asked[0]!.hooks as string[]).some((h) => h.endsWith('hook_attn_out') || h.endsWith('hook_resid_mid')));
  assert.deepEqual(asked[0]!.logitPositions, [1]);
  const every = await analyze(spy, tokenizer, { ids: [1, 2, 3], position: 1, perPosition: true }, { modelInfo });
  assert.equal(asked[1]!.logitPositions, undefined);
  assert.deepEqual(single.predictions, every.predictions);
  assert.deepEqual(single.trace, every.trace);
});

test('analyze rejects bad requests with typed errors before running the model', async () => {
  const before = runner.forwards;
  await assert.rejects(analyze(runner, tokenizer, { prompt: '' }, { modelInfo }), code('EMPTY_PROMPT'));
  await assert.rejects(analyze(runner, tokenizer, { ids: new Array(25).fill(1) }, { modelInfo }), code('PROMPT_TOO_LONG'));
  await assert.rejects(analyze(runner, tokenizer, { ids: [1, 2, 3] }, { modelInfo, maxTokens: 2 }), code('PROMPT_TOO_LONG'));
  await assert.rejects(analyze(runner, tokenizer, { ids: [1, 2], target: { text: ' x7' } }, { modelInfo }), code('NOT_SINGLE_TOKEN'));
  await assert.rejects(analyze(runner, tokenizer, { ids: [1, 2], contrast: { text: 'w1 w2' } }, { modelInfo }), code('NOT_SINGLE_TOKEN'));
  await assert.rejects(analyze(runner, tokenizer, { ids: [1, 2], position: 2 }, { modelInfo }), code('BAD_ARGUMENT'));
  await assert.rejects(analyze(runner, tokenizer, { ids: [1, 2], topK: 0 }, { modelInfo }), code('BAD_ARGUMENT'));
  await assert.rejects(analyze(runner, tokenizer, { ids: [1, 2], threshold: 2 }, { modelInfo }), code('BAD_ARGUMENT'));
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(analyze(runner, tokenizer, { ids: [1, 2] }, { modelInfo, signal: controller.signal }), code('CANCELLED'));
  assert.equal(runner.forwards, before);
});

test('a one-token prompt analyses without undefined numbers: scores null, labels no evidence', async () => {
  const result = await analyze(runner, tokenizer, { ids: [7] }, { modelInfo });
  for (const h of result.heads) {
    assert.deepEqual(h.scores, { previous: null, duplicate: null, induction: null });
    assert.equal(h.label, 'no evidence');
    assert.equal(h.entropy, 0);
    assert.equal(h.concentration, 1);
  }
  assert.ok(Math.abs(result.trace.total - result.trace.actual) < 1e-4);
});

test('the JSON form round-trips through JSON.stringify with every array and its shape', async () => {
  const result = await analyze(
    runner,
    tokenizer,
    { ids: [5, 9, 2, 5], perPosition: true, census: true },
    { modelInfo, censusCache: new HeadCensusCache(), censusSettings: { batch: 1, halfLength: 4 } },
  );
  const json = analysisToJson(result);
  assert.deepEqual(json.attention.shape, [L, H, 4, 4]);
  assert.deepEqual(json.trace.headBySource.shape, [L, H, 4]);
  const attn = json.attention.data as number[][][][];
  assert.equal(attn[1]![2]![3]![1], result.attention[((1 * H + 2) * 4 + 3) * 4 + 1]);
  const back = analysisFromJson(JSON.parse(JSON.stringify(json)));
  assert.deepEqual(back, result);
  const broken = JSON.parse(JSON.stringify(json));
  broken.trace.heads.data.pop();
  assert.throws(() => analysisFromJson(broken), /trace\.heads/);
});
