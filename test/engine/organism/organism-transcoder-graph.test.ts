/**
 * The organism's transcoders through the engine: they load through the dictionary loader with the
 * documented hooks, widths and labels; the engine's feature activations agree with the float64
 * encoding; and the attribution graph (circuit-tracer's method: attention and norms frozen) has the
 * shape the organism's mechanisms predict:
 *
 *   fact recall       " Paris" ← the fact feature at " is" ← the tokens " is" (same position) and
 *                     " France" (the position before, through the previous-token head's frozen attention)
 *   greater-than      "33" ← the greater-than feature (" 17" with the induction target "32") at the
 *                     last position ← the tokens " 17" (same position) and "32" (the earlier
 *                     position, through the induction head's frozen attention)
 *   induction         " mat" ← the token " mat" at the earlier position through the induction head's
 *                     frozen attention, and no feature: the monitor features ("previous token is X",
 *                     "votes for X") fire but write nothing, so they carry no influence
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAttributionGraph } from '../../../src/engine/features/attribution-graph/attribution-graph.js';
import type { AttributionGraphResult, GraphLink } from '../../../src/engine/features/attribution-graph/types.js';
import type { Dictionary } from '../../../src/engine/features/dictionary.js';
import { featureActivations } from '../../../src/engine/features/feature-activations.js';
import { loadDictionaryFromPath } from '../../../src/engine/features/load-dictionary.js';
import { loadModel, type LoadedModel } from '../../../src/engine/model/load-model.js';
import { CENTURIES, FACTS } from '../../../src/engine/organism/organism-design.js';
import { GREATER_THAN_NUMBERS } from '../../../src/engine/organism/organism-transcoder.js';
import { generateOrganismTranscoder, transcoderExplanations, writeTranscoderFolder } from '../../../src/engine/organism/transcoder-folder.js';
import { MatmulSessions } from '../../../src/engine/runtime/matmul-session.js';
import { referenceGpt2Forward } from '../../helpers/reference-gpt2.js';
import { gpt2HfTensorsFromCanonical } from '../../../src/engine/model/hf-gpt2-layout.js';
import { generateOrganism } from '../../../src/engine/organism/organism-folder.js';

const BOS = 50256;
const D = 256;
const root = mkdtempSync(join(tmpdir(), 'organism-transcoder-graph-'));
const transcoder = generateOrganismTranscoder();
let model: LoadedModel;
let dictionary: Dictionary;

before(async () => {
  await writeTranscoderFolder(join(root, 'transcoder'), transcoder);
  model = await loadModel({ kind: 'organism', dir: join(root, 'organism') }, { device: 'cpu', maxTokens: 1024, offline: true });
  dictionary = await loadDictionaryFromPath(join(root, 'transcoder'), model.runner.config);
});
after(async () => {
  dictionary?.dispose();
  await model?.runner.dispose();
  rmSync(root, { recursive: true, force: true });
});

const ids = (prompt: string): number[] => [BOS, ...model.tokenizer.encode(prompt).ids];
const token = (text: string): number => {
  const [id, ...rest] = model.tokenizer.encode(text).ids;
  assert.equal(rest.length, 0, `${JSON.stringify(text)} is one token`);
  return id!;
};

test('the written transcoders load through the dictionary loader with their hooks, widths and labels', () => {
  assert.equal(dictionary.kind, 'transcoder');
  assert.equal(dictionary.modelName, 'organism');
  assert.equal(dictionary.dModel, D);
  const T = transcoder.monitoredTokens.length;
  assert.deepEqual(
    dictionary.layers.map((l) => [
      l.layer,
      l.inputHook,
      l.outputHooks,
      l.dIn,
      l.dSae,
      l.dOut,
      l.activation.kind,
      l.W_skip,
      l.applyBDecToInput,
      l.normalization.kind,
    ]),
    [
      [0, 'blocks.0.ln2.hook_normalized', ['blocks.0.hook_mlp_out'], D, FACTS.length + T, D, 'relu', null, false, 'none'],
      [1, 'blocks.1.ln2.hook_normalized', ['blocks.1.hook_mlp_out'], D, CENTURIES.length * GREATER_THAN_NUMBERS + T, D, 'relu', null, false, 'none'],
    ],
  );
  for (const [i, layer] of dictionary.layers.entries()) {
    const built = transcoder.layers[i]!;
    assert.deepEqual(layer.W_enc, built.W_enc);
    assert.deepEqual(layer.b_enc, built.b_enc);
    assert.deepEqual(layer.decoder(0).all(), built.W_dec);
    assert.deepEqual(layer.b_dec[0], built.b_dec);
  }
  const explanations = transcoderExplanations(transcoder);
  assert.equal(dictionary.labels?.size, explanations.length);
  for (const e of explanations) assert.equal(dictionary.labels?.get(`${Number.parseInt(e.layer, 10)}/${e.index}`), e.description);
  assert.equal(dictionary.labels?.get('0/0'), 'fact: " France" then " is" → votes for " Paris"');
  const cat = transcoder.layers[0]!.features.find((f) => f.kind === 'previous-token' && f.token === token(' cat'))!;
  assert.equal(dictionary.labels?.get(`0/${cat.index}`), 'previous token is " cat"');
});

test('the engine’s feature activations on the organism are the float64 encoding’s', async () => {
  const { model: canonical } = generateOrganism();
  const tensors = new Map(gpt2HfTensorsFromCanonical(canonical.weights, canonical.config).map((t) => [t.name, { shape: t.shape, data: t.data }]));
  const matmul = await MatmulSessions.create();
  try {
    for (const prompt of ['The cat sat on the mat. The cat sat on the', 'The war lasted from the year 1732 to 17', 'The capital of France is']) {
      const x = ids(prompt);
      const { layers } = await featureActivations(model.runner, matmul, dictionary, x);
      const cache = referenceGpt2Forward(tensors, { n_layer: 2, n_head: 4, n_embd: D, layer_norm_epsilon: 1e-5 }, x);
      for (const view of layers) {
        const built = transcoder.layers[view.layer]!;
        // ReLU((x − mean) / sqrt(var + eps) · W_enc + b_enc) from the reference's resid_mid.
        const resid = cache.get(`blocks.${view.layer}.hook_resid_mid`)!.data;
        const expected: Array<[number, number, number]> = [];
        for (let p = 0; p < x.length; p++) {
          const row = resid.subarray(p * D, (p + 1) * D);
          const mean = row.reduce((s, v) => s + v, 0) / D;
          const s = Math.sqrt(row.reduce((acc, v) => acc + (v - mean) ** 2, 0) / D + 1e-5);
          for (let f = 0; f < built.dSae; f++) {
            let pre = built.b_enc[f]!;
            for (let i = 0; i < D; i++) pre += ((row[i]! - mean) / s) * built.W_enc[i * built.dSae + f]!;
            if (pre > 0) expected.push([p, f, pre]);
          }
        }
        const got = Array.from(view.active.positions, (p, i) => [p, view.active.features[i]!, view.active.activations[i]!] as const);
        assert.deepEqual(
          got.map(([p, f]) => [p, f]),
          expected.map(([p, f]) => [p, f]),
          `${prompt}: layer ${view.layer}'s active features`,
        );
        got.forEach(([, , a], i) =>
          assert.ok(Math.abs(a - expected[i]![2]) < 1e-3 * Math.max(1, expected[i]![2]), `${prompt}: activation ${a} vs ${expected[i]![2]}`),
        );
      }
    }
  } finally {
    await matmul.dispose();
  }
});

/** The links into `target`, strongest first. */
function inputs(graph: AttributionGraphResult, target: string): GraphLink[] {
  return graph.links.filter((l) => l.target === target).sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
}

async function graphOf(prompt: string): Promise<{ graph: AttributionGraphResult; x: number[] }> {
  const x = ids(prompt);
  const { result } = await buildAttributionGraph(model.runner, dictionary, x, (id) => model.tokenizer.tokenText(id));
  return { graph: result, x };
}

test('fact recall: " Paris" ← the fact feature ← " is" and, through the previous-token head, " France"', async () => {
  const { graph, x } = await graphOf('The capital of France is');
  const last = x.length - 1;
  assert.equal(graph.logits[0]!.token, token(' Paris'));
  const fact = `0_0_${last}`; // layer 0, feature 0 (" France" → " Paris"), the last position
  const intoLogit = inputs(graph, `3_${token(' Paris')}_${last}`);
  assert.equal(intoLogit[0]!.source, fact);
  // A full vote is worth VOTE_LOGIT = 15 logits.
  assert.ok(Math.abs(intoLogit[0]!.weight - 15) < 0.5, `fact → " Paris" ${intoLogit[0]!.weight}`);
  assert.ok(Math.abs(intoLogit[1]?.weight ?? 0) < 1, 'nothing else comes close');
  // Each of the neuron's two inputs adds NEURON_SHARPNESS = 10 to its pre-activation (10 + 10 − 15 = 5).
  const intoFact = inputs(graph, fact);
  assert.deepEqual(intoFact.map((l) => l.source).sort(), [`E_${token(' France')}_${last - 1}`, `E_${token(' is')}_${last}`].sort());
  for (const l of intoFact) assert.ok(Math.abs(l.weight - 10) < 0.1, `${l.source} → fact ${l.weight}`);
  assert.ok(graph.replacementScore > 0.99 && graph.completenessScore > 0.99, `${graph.replacementScore} ${graph.completenessScore}`);
});

test('greater-than: "33" ← the greater-than feature at the last position ← " 17" and, through the induction head, the earlier "32"', async () => {
  const { graph, x } = await graphOf('The war lasted from the year 1732 to 17');
  const last = x.length - 1;
  const earlier = x.indexOf(token('32'));
  assert.equal(graph.logits[0]!.token, token('33'));
  const feature = `1_${CENTURIES.indexOf(' 17') * GREATER_THAN_NUMBERS + 32}_${last}`; // (" 17", "32")
  const intoLogit = inputs(graph, `3_${token('33')}_${last}`);
  assert.equal(intoLogit[0]!.source, feature);
  assert.ok(intoLogit[0]!.weight > 10, `greater-than → "33" ${intoLogit[0]!.weight}`);
  assert.ok(Math.abs(intoLogit[1]?.weight ?? 0) < 1, 'nothing else comes close');
  const intoFeature = inputs(graph, feature);
  assert.deepEqual(
    intoFeature.slice(0, 2).map((l) => l.source),
    [`E_${token(' 17')}_${last}`, `E_${token('32')}_${earlier}`],
  );
  // " 17" gives the century's full 10; "32" reaches the last position only through the induction
  // head's (frozen) attention, as its copy: 0.8–0.9 of a vote, after the negative head's share.
  assert.ok(Math.abs(intoFeature[0]!.weight - 10) < 0.5, `" 17" → feature ${intoFeature[0]!.weight}`);
  assert.ok(intoFeature[1]!.weight > 7 && intoFeature[1]!.weight < 9.5, `"32" → feature ${intoFeature[1]!.weight}`);
  assert.ok(graph.replacementScore > 0.99 && graph.completenessScore > 0.99, `${graph.replacementScore} ${graph.completenessScore}`);
});

test('induction: " mat" ← the earlier " mat" through the induction head, and no feature carries influence', async () => {
  const { graph, x } = await graphOf('The cat sat on the mat. The cat sat on the');
  const last = x.length - 1;
  const earlier = x.indexOf(token(' mat'));
  assert.equal(graph.logits[0]!.token, token(' mat'));
  const intoLogit = inputs(graph, `3_${token(' mat')}_${last}`);
  assert.equal(intoLogit[0]!.source, `E_${token(' mat')}_${earlier}`);
  assert.ok(intoLogit[0]!.weight > 10, `earlier " mat" → logit ${intoLogit[0]!.weight}`);
  // The monitors fire ("previous token is X" at positions 2…, "votes for X" at the second "cat sat on the")
  // but write nothing: none is kept, and the error nodes carry nothing either.
  assert.equal(graph.counts.activeFeatures, x.length - 2 + 4);
  assert.deepEqual(
    graph.nodes.filter((n) => n.kind === 'feature' || n.kind === 'error'),
    [],
  );
  assert.equal(graph.replacementScore, 1);
});
