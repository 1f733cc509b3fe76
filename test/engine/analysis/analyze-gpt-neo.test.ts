/**
 * analyze() on a tiny random GPT-Neo (a global layer, then a local one of window 4) run by the
 * engine: predictions match the float64 reference forward, DLA sums to the actual logit and logit
 * difference, the lens ends on the model's prediction, the attention it reports keeps the window,
 * and every head gets its metrics and class scores.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, layerPattern } from '../../../src/engine/analysis/analyze.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import type { ModelInfo } from '../../../src/protocol/analysis.js';
import { gptNeoFolder, type GptNeoFixture } from '../../helpers/gpt-neo-fixtures.js';
import { referenceGptNeoForward } from '../../helpers/reference-gpt-neo.js';

const PROMPT = 'The cat sat on the mat. The cat sat on the';
const WINDOW = 4;
let fixture: GptNeoFixture;
let model: InstrumentedModel;
let tokenizer: PromptTokenizer;
let modelInfo: ModelInfo;

before(async () => {
  fixture = await gptNeoFolder(7);
  const loaded = await loadModelFolder(fixture.dir);
  tokenizer = loaded.tokenizer;
  model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
  const c = loaded.model.config;
  modelInfo = {
    id: 'tiny-neo',
    displayName: 'tiny GPT-Neo',
    nLayers: c.nLayers,
    nHeads: c.nHeads,
    dModel: c.dModel,
    dHead: c.dHead,
    dVocab: c.dVocab,
    nCtx: c.nCtx,
  };
});
after(() => model.dispose());

test('analyze: predictions as the reference, exact DLA, the lens ending on the prediction, windowed attention, head classes', async () => {
  const result = await analyze(model, tokenizer, { prompt: PROMPT, topK: 5, dla: 'raw' }, { modelInfo });
  const ids = result.tokens.map((t) => t.id);
  const n = ids.length;
  assert.ok(n > WINDOW + 2, 'the prompt reaches past the window');
  const V = modelInfo.dVocab;
  const reference = referenceGptNeoForward(fixture.tensors, fixture.referenceConfig, ids);
  const last = reference.get('logits')!.data.subarray((n - 1) * V, n * V);
  const best = last.reduce((b, x, i) => (x > last[b]! ? i : b), 0);
  assert.equal(result.predictions[0]!.tokenId, best);
  for (const p of result.predictions) assert.ok(Math.abs(p.logit - last[p.tokenId]!) < 1e-4, `prediction ${p.tokenId}`);

  assert.equal(result.trace.targetId, best);
  assert.ok(Math.abs(result.trace.actual - last[best]!) < 1e-4);
  assert.ok(Math.abs(result.trace.total - result.trace.actual) < 1e-4, `DLA ${result.trace.total} vs logit ${result.trace.actual}`);
  const contrastId = result.predictions[1]!.tokenId;
  const diff = await analyze(model, tokenizer, { prompt: PROMPT, contrast: { id: contrastId } }, { modelInfo });
  assert.ok(Math.abs(diff.trace.total - (last[best]! - last[contrastId]!)) < 1e-4, 'DLA of the logit difference');

  assert.equal(result.lens.layers.length, modelInfo.nLayers + 1);
  assert.deepEqual(
    result.lens.layers.at(-1)!.top.map((p) => p.tokenId),
    result.predictions.map((p) => p.tokenId),
  );

  // The local layer's attention (layer 1) is zero more than WINDOW - 1 keys back; the global one's is not.
  const local = layerPattern(result, 1).data;
  const global = layerPattern(result, 0).data;
  for (let h = 0; h < modelInfo.nHeads; h++) {
    assert.equal(local[(h * n + (n - 1)) * n]!, 0);
    assert.ok(global[(h * n + (n - 1)) * n]! > 0);
    assert.ok(local[(h * n + (n - 1)) * n + (n - WINDOW)]! > 0);
  }
  assert.equal(result.heads.length, modelInfo.nLayers * modelInfo.nHeads);
  for (const head of result.heads) {
    assert.ok(Number.isFinite(head.entropy) && head.outputNorm > 0, head.name);
    assert.ok(head.scores.previous !== null && head.scores.duplicate !== null && head.scores.induction !== null, head.name);
  }
});
