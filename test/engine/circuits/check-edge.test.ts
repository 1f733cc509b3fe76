/**
 * A circuit edge checked by path patching on the organism (Engine.checkEdge's checkEdge): the
 * induction head's path to the logits and the previous-token head's path to the induction head's
 * key, against the float64 re-run of path patching's definition (test/helpers/reference-path-patching.ts),
 * and the edges path patching cannot check.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkEdge, edgeReceivers } from '../../../src/engine/circuits/check-edge.js';
import { EngineError } from '../../../src/engine/errors.js';
import { gpt2HfTensorsFromCanonical } from '../../../src/engine/model/hf-gpt2-layout.js';
import { generateOrganism } from '../../../src/engine/organism/index.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadTokenizer } from '../../../src/engine/tokenizer/tokenizer.js';
import type { EdgeCheckRequest } from '../../../src/protocol/circuit.js';
import { referenceGpt2Forward, type ReferenceGpt2Config } from '../../helpers/reference-gpt2.js';
import { referencePathPatching, type ReferenceForward } from '../../helpers/reference-path-patching.js';

describe('checking a circuit edge by path patching on the organism', () => {
  const organism = generateOrganism();
  const hf = gpt2HfTensorsFromCanonical(organism.model.weights, organism.model.config).filter((t) => !t.name.endsWith('.attn.bias'));
  const weights = new Map(hf.map((t) => [t.name, { shape: t.shape, data: t.data }]));
  const { nLayers, nHeads, dModel } = organism.model.config;
  const refConfig: ReferenceGpt2Config = { n_layer: nLayers, n_head: nHeads, n_embd: dModel, layer_norm_epsilon: organism.model.config.eps };
  const forward: ReferenceForward = (ids, intervene) => referenceGpt2Forward(weights, refConfig, ids, intervene ? { intervene } : {});
  const tokenizer = loadTokenizer(organism.tokenizerJson);
  let model: InstrumentedModel;
  const BOS = 50256;
  const clean = [BOS, ...tokenizer.encode('The cat sat on the mat. The cat sat on the').ids];
  const corrupt = [BOS, ...tokenizer.encode('The dog ran by a rug. The cat sat on the').ids];
  const [target] = tokenizer.encode(' mat').ids;
  const [contrast] = tokenizer.encode(' rug').ids;
  const request = (from: string, to: string): EdgeCheckRequest => ({
    cleanIds: clean,
    corruptIds: corrupt,
    target: { id: target! },
    contrast: { id: contrast! },
    from,
    to,
  });

  before(async () => {
    model = await InstrumentedModel.create(organism.model, { device: 'cpu' });
  });
  after(() => model.dispose());

  for (const [from, to, receivers] of [
    ['L1H0', 'logits', 'logits'],
    ['L0H0', 'L1H0.k', [{ layer: 1, head: 0, input: 'k' }]],
  ] as const) {
    test(`${from} → ${to} equals the reference's path patching of ${from}`, async () => {
      const check = await checkEdge(model, tokenizer, request(from, to));
      const ref = referencePathPatching(forward, { nLayers, nHeads }, clean, corrupt, receivers === 'logits' ? 'logits' : [...receivers], target!, contrast!);
      const sender = ref.entries.find((e) => `L${e.layer}H${e.head}` === from)!;
      const span = ref.cleanLogitDiff - ref.corruptLogitDiff;
      assert.ok(Math.abs(span) > 1, `the corruption must move the logit difference (${span})`);
      assert.ok(Math.abs(check.logitDiff - sender.logitDiff) <= 1e-5 * Math.abs(span), `${check.logitDiff} vs ${sender.logitDiff}`);
      assert.ok(Math.abs(check.normalized! - (sender.logitDiff - ref.cleanLogitDiff) / span) <= 2e-5);
      assert.ok(check.normalized! < -0.1, `the documented path carries part of the difference (${check.normalized})`);
      assert.equal(check.receivers, receivers === 'logits' ? 'logits' : 'L1H0:k');
      assert.deepEqual([check.from, check.to], [from, to]);
    });
  }

  test('edges path patching cannot check are typed errors naming them', async () => {
    const fails = async (from: string, to: string, pattern: RegExp): Promise<void> => {
      await assert.rejects(
        checkEdge(model, tokenizer, request(from, to)),
        (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT' && pattern.test(e.message),
      );
    };
    await fails('embed', 'logits', /out of a head .*"embed"/);
    await fails('L0H0', 'mlp1', /into the logits or a head's q, k or v input, not into "mlp1"/);
    await fails('L1H0', 'L1H1.q', /sender|earlier|before/i);
    assert.equal(edgeReceivers('L3KV1.v'), 'L3H1:v', 'a key/value head is named by its number, as hook_v indexes it');
  });
});
