/**
 * Interventions on a graph's features (graph-intervention.ts) on a tiny random GPT-2, against the
 * float64 reference forward (test/helpers/reference-gpt2.ts) with the same edit written out: the
 * edited feature's decoder row times its activation change added to hook_mlp_out at its position,
 * and, with attention frozen, every layer's hook_pattern replaced by the clean run's (circuit-tracer's
 * freeze_attention). The logits after the edit equal the reference's to 1e-4; the comparison lists
 * every logit target of the graph with its actual and predicted changes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAttributionGraph, type AttributionGraphRun } from '../../../../src/engine/features/attribution-graph/attribution-graph.js';
import { interveneOnGraph } from '../../../../src/engine/features/attribution-graph/graph-intervention.js';
import type { Dictionary } from '../../../../src/engine/features/dictionary.js';
import { writeHfFolder } from '../../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../../src/engine/model/load-folder.js';
import { generateRandomGpt2 } from '../../../../src/engine/model/random-gpt2.js';
import { MatmulSessions } from '../../../../src/engine/runtime/matmul-session.js';
import { InstrumentedModel } from '../../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { randomTranscoder } from '../../../helpers/attribution-graph-fixtures.js';
import { referenceGpt2Forward, type ReferenceTensor, type ReferenceWeightTensor } from '../../../helpers/reference-gpt2.js';

const PROMPT = [50256, 464, 3797, 3332, 319, 262];
const CONFIG = { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 };

describe('graph interventions (tiny GPT-2)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-graph-intervene-'));
  let runner: InstrumentedModel;
  let matmul: MatmulSessions;
  let dictionary: Dictionary;
  let graph: AttributionGraphRun;
  let weights: Map<string, ReferenceWeightTensor>;

  before(async () => {
    const model = generateRandomGpt2({ preset: 'tiny' }, 3);
    // Sharper attention, so that freezing it matters.
    const tensors = model.tensors.map((t) => (t.name.endsWith('attn.c_attn.weight') ? { ...t, data: t.data.map((x, i) => (i % 192 < 128 ? x * 5 : x)) } : t));
    await writeHfFolder(dir, { config: model.config, tensors, tokenizerJson: loadGpt2TokenizerJson() });
    weights = new Map(tensors.map((t) => [t.name, { shape: t.shape, data: t.data }]));
    runner = await InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' });
    matmul = await MatmulSessions.create();
    dictionary = randomTranscoder({ nLayers: 2, dModel: 64, dSae: 48, seed: 1 });
    graph = await buildAttributionGraph(runner, dictionary, PROMPT, String);
  });
  after(async () => {
    await matmul?.dispose();
    await runner?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The reference's last-position logits with feature (layer 0, f) at position p moved by `delta`, attention frozen or not. */
  function referenceLogits(f: number, p: number, delta: number, freeze: boolean): Float64Array {
    const clean = referenceGpt2Forward(weights, CONFIG, PROMPT);
    const row = dictionary.layers[0]!.decoder(0).rows([f]);
    const out = referenceGpt2Forward(weights, CONFIG, PROMPT, {
      intervene: (name: string, t: ReferenceTensor): ReferenceTensor | void => {
        if (freeze && name.endsWith('attn.hook_pattern')) return { shape: t.shape, data: Float64Array.from(clean.get(name)!.data) };
        if (name === 'blocks.0.hook_mlp_out') {
          const data = Float64Array.from(t.data);
          for (let j = 0; j < 64; j++) data[p * 64 + j]! += delta * row[j]!;
          return { shape: t.shape, data };
        }
      },
    });
    const logits = out.get('logits')!;
    const V = logits.shape[1]!;
    return logits.data.subarray((PROMPT.length - 1) * V, PROMPT.length * V);
  }

  for (const freezeAttention of [true, false]) {
    test(`ablating a layer-0 feature ${freezeAttention ? 'with attention frozen' : 'with attention recomputed'} equals the reference run`, async () => {
      const { features } = graph.replacement;
      // A feature at an early position, so that attention carries its change to the last one.
      const i = Array.from({ length: features.count }, (_, k) => k).find((k) => features.layer[k] === 0 && features.position[k] === 2)!;
      assert.ok(i !== undefined);
      const f = features.feature[i]!;
      const p = features.position[i]!;
      const result = await interveneOnGraph(runner, matmul, dictionary, graph, [{ layer: 0, feature: f, positions: [p], kind: 'set', value: 0 }], String, {
        freezeAttention,
      });
      assert.equal(result.freezeAttention, freezeAttention);
      assert.equal(result.applied.length, 1);
      assert.ok(Math.abs(result.applied[0]!.before - features.activation[i]!) < 1e-4);
      const expected = referenceLogits(f, p, -features.activation[i]!, freezeAttention);
      let mean = 0;
      for (const v of expected) mean += v / expected.length;
      assert.equal(result.logits.length, graph.replacement.logits.tokens.length);
      for (const l of result.logits) {
        const want = expected[l.token]! - mean;
        assert.ok(Math.abs(l.intervened - want) <= 1e-4 * Math.max(1, Math.abs(want)), `token ${l.token}: ${l.intervened} vs reference ${want}`);
        assert.ok(Number.isFinite(l.predictedDirect) && Number.isFinite(l.predictedPropagated));
      }
      assert.deepEqual(result.notInGraph, []);
    });
  }

  test('the frozen and recomputed runs differ (attention carries the change)', async () => {
    const frozen = referenceLogits(graph.replacement.features.feature[0]!, graph.replacement.features.position[0]!, -5, true);
    const free = referenceLogits(graph.replacement.features.feature[0]!, graph.replacement.features.position[0]!, -5, false);
    let diff = 0;
    for (let t = 0; t < frozen.length; t++) diff = Math.max(diff, Math.abs(frozen[t]! - free[t]!));
    assert.ok(diff > 1e-3, String(diff));
  });
});
