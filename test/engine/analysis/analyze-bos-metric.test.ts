/**
 * analyze()'s BOS convention and metric on a seeded tiny random GPT-2 with GPT-2's tokenizer, run
 * through ONNX Runtime, against the independent float64 reference forward: a text prompt runs as
 * [BOS, ...prompt] (every analysis sees the BOS at position 0), ids run as given, a model without a
 * BOS gets none, and the census follows the same rule.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../../src/engine/analysis/analyze.js';
import { HeadCensusCache } from '../../../src/engine/analysis/head-census.js';
import { EngineError } from '../../../src/engine/errors.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import type { ModelInfo } from '../../../src/protocol/analysis.js';
import { referenceGpt2Forward, type ReferenceTensor } from '../../helpers/reference-gpt2.js';
import { randomModelFolder, type RandomModelFixture } from '../../helpers/model-fixtures.js';

const CONFIG = { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 };
const BOS = 50256;
const PROMPT = 'The war lasted from the year 1732 to 17';

function logitsAt(run: Map<string, ReferenceTensor>, position: number): Float64Array {
  const logits = run.get('logits')!;
  const V = logits.shape[1]!;
  return logits.data.slice(position * V, (position + 1) * V);
}

function softmax(logits: Float64Array): Float64Array {
  const max = logits.reduce((a, b) => Math.max(a, b), -Infinity);
  const exp = logits.map((x) => Math.exp(x - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((e) => e / sum);
}

/** Largest |a − b| over the reference's every layer's attention pattern [head, query, key]. */
function patternDiff(attention: Float32Array, run: Map<string, ReferenceTensor>, nLayers: number): number {
  let diff = 0;
  let offset = 0;
  for (let l = 0; l < nLayers; l++) {
    const want = run.get(`blocks.${l}.attn.hook_pattern`)!.data;
    for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(attention[offset + i]! - want[i]!));
    offset += want.length;
  }
  return diff;
}

describe('analyze: the BOS convention and the metric', () => {
  let fixture: RandomModelFixture;
  let model: InstrumentedModel;
  let noBos: InstrumentedModel;
  let tokenizer: PromptTokenizer;
  let modelInfo: ModelInfo;
  let ids: number[];

  before(async () => {
    fixture = await randomModelFolder('tiny', 5);
    const loaded = await loadModelFolder(fixture.dir);
    tokenizer = loaded.tokenizer;
    model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
    noBos = await InstrumentedModel.create({ ...loaded.model, config: { ...loaded.model.config, bosTokenId: null } }, { device: 'cpu' });
    const c = loaded.model.config;
    modelInfo = { id: 'tiny', displayName: 'tiny', nLayers: c.nLayers, nHeads: c.nHeads, dModel: c.dModel, dHead: c.dHead, dVocab: c.dVocab, nCtx: c.nCtx };
    ids = tokenizer.encode(PROMPT).ids;
  });
  after(async () => {
    await model.dispose();
    await noBos.dispose();
  });

  test('a text prompt runs as [BOS, ...prompt]: every output matches the reference on it, positions count the BOS', async () => {
    const result = await analyze(model, tokenizer, { prompt: PROMPT }, { modelInfo });
    assert.equal(result.prependBos, true);
    assert.deepEqual(result.tokens[0], { id: BOS, text: '<|endoftext|>', start: 0, end: 0, bos: true });
    assert.deepEqual(
      result.tokens.slice(1).map((t) => t.id),
      ids,
    );
    assert.equal(result.prompt, PROMPT);
    const n = ids.length + 1;
    const ref = referenceGpt2Forward(fixture.tensors, CONFIG, [BOS, ...ids]);
    assert.equal(result.attention.length, modelInfo.nLayers * modelInfo.nHeads * n * n);
    assert.ok(patternDiff(result.attention, ref, modelInfo.nLayers) < 1e-4);
    assert.equal(result.trace.position, n - 1);
    assert.equal(result.lens.position, n - 1);
    const logits = logitsAt(ref, n - 1);
    const top = result.predictions[0]!;
    assert.ok(Math.abs(top.logit - logits[top.tokenId]!) < 1e-4);
    assert.ok(Math.abs(top.prob - softmax(logits)[top.tokenId]!) < 1e-5);
    // Without a contrast the metric is log_softmax of the final logits at the position.
    assert.equal(result.metric.name, 'log_prob');
    assert.ok(Math.abs(result.metric.value - Math.log(softmax(logits)[result.trace.targetId]!)) < 1e-4);
  });

  test('a requested position counts the BOS as 0', async () => {
    const result = await analyze(model, tokenizer, { prompt: PROMPT, position: 3 }, { modelInfo });
    const logits = logitsAt(referenceGpt2Forward(fixture.tensors, CONFIG, [BOS, ...ids]), 3);
    assert.ok(Math.abs(result.predictions[0]!.logit - logits.reduce((a, b) => Math.max(a, b), -Infinity)) < 1e-4);
  });

  test('token ids are used exactly as given; prependBos false turns the BOS off; a model without one gets none', async () => {
    const ref = referenceGpt2Forward(fixture.tensors, CONFIG, ids);
    for (const [what, run] of [
      ['ids', () => analyze(model, tokenizer, { ids }, { modelInfo })],
      ['prependBos false', () => analyze(model, tokenizer, { prompt: PROMPT, prependBos: false }, { modelInfo })],
      ['no BOS token', () => analyze(noBos, tokenizer, { prompt: PROMPT }, { modelInfo })],
      ['no BOS token, asked for one', () => analyze(noBos, tokenizer, { prompt: PROMPT, prependBos: true }, { modelInfo })],
    ] as const) {
      const result = await run();
      assert.equal(result.prependBos, false, what);
      assert.deepEqual(
        result.tokens.map((t) => t.id),
        ids,
        what,
      );
      assert.ok(
        result.tokens.every((t) => t.bos === undefined),
        what,
      );
      assert.ok(patternDiff(result.attention, ref, modelInfo.nLayers) < 1e-4, what);
    }
  });

  test('the census follows the same rule and says so', async () => {
    const censusCache = new HeadCensusCache();
    const censusSettings = { batch: 1, halfLength: 4 };
    const on = await analyze(model, tokenizer, { prompt: PROMPT, census: true }, { modelInfo, censusCache, censusSettings });
    const off = await analyze(model, tokenizer, { prompt: PROMPT, census: true, prependBos: false }, { modelInfo, censusCache, censusSettings });
    const none = await analyze(noBos, tokenizer, { prompt: PROMPT, census: true }, { modelInfo, censusCache, censusSettings });
    assert.equal(on.census!.prependBos, true);
    assert.equal(off.census!.prependBos, false);
    assert.equal(none.census!.prependBos, false);
    // Different probes, different scores (cached apart).
    assert.notDeepEqual(
      on.census!.entries.map((e) => e.previous),
      off.census!.entries.map((e) => e.previous),
    );
  });

  test('with a contrast the metric is the logit difference; greater-than is the probability difference over "00".."99"', async () => {
    const ref = referenceGpt2Forward(fixture.tensors, CONFIG, [BOS, ...ids]);
    const logits = logitsAt(ref, ids.length);
    const target = tokenizer.encode('33').ids[0]!;
    const contrast = tokenizer.encode('01').ids[0]!;
    const diff = await analyze(model, tokenizer, { prompt: PROMPT, target: { id: target }, contrast: { id: contrast } }, { modelInfo });
    assert.equal(diff.metric.name, 'logit_diff');
    assert.ok(Math.abs(diff.metric.value - (logits[target]! - logits[contrast]!)) < 1e-4);
    const gt = await analyze(model, tokenizer, { prompt: PROMPT, metric: { kind: 'greater-than', startYear: 32 } }, { modelInfo });
    const p = softmax(logits);
    let pd = 0;
    for (let y = 0; y < 100; y++) pd += (y > 32 ? 1 : -1) * p[tokenizer.encode(String(y).padStart(2, '0')).ids[0]!]!;
    assert.deepEqual({ name: gt.metric.name, startYear: gt.metric.startYear }, { name: 'prob_diff_greater_than', startYear: 32 });
    assert.ok(Math.abs(gt.metric.value - pd) < 1e-5);
    await assert.rejects(
      analyze(model, tokenizer, { prompt: PROMPT, metric: { kind: 'greater-than', startYear: -1 } }, { modelInfo }),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT',
    );
  });
});
