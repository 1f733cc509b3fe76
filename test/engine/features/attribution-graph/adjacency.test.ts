/**
 * The attribution graph's adjacency against the float64 reference written from the definition
 * (test/helpers/reference-attribution-graph.ts: each direct effect pushed forwards through the
 * frozen linear replacement model; none of the engine's code), on random GPT-2 and Llama-family
 * models with random transcoders of every input hook, per-layer and cross-layer, with and without a
 * skip path; and completeness: every target's direct effects plus its bias (the affine model with
 * every source at zero) equal its pre-activation (features) or demeaned logit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAttributionGraph, type AttributionGraphRun } from '../../../../src/engine/features/attribution-graph/attribution-graph.js';
import { writeHfFolder } from '../../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../../src/engine/model/load-folder.js';
import { generateRandomGpt2 } from '../../../../src/engine/model/random-gpt2.js';
import { generateRandomLlama } from '../../../../src/engine/model/random-llama.js';
import type { HfTensor } from '../../../../src/engine/model/hf-gpt2-layout.js';
import { InstrumentedModel } from '../../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { randomTranscoder, type RandomTranscoderSpec } from '../../../helpers/attribution-graph-fixtures.js';
import { referenceGpt2Forward, type ReferenceTensor, type ReferenceWeightTensor } from '../../../helpers/reference-gpt2.js';
import { referenceLlamaForward } from '../../../helpers/reference-llama.js';
import { referenceGptNeoxForward } from '../../../helpers/reference-gpt-neox.js';
import { referenceGemmaForward } from '../../../helpers/reference-gemma.js';
import { generateRandomGptNeox } from '../../../../src/engine/model/random-gpt-neox.js';
import { generateRandomGemma } from '../../../../src/engine/model/random-gemma.js';
import {
  gemmaLinearModel,
  gpt2LinearModel,
  gptNeoxLinearModel,
  llamaLinearModel,
  referenceAttributionGraph,
  type ReferenceGraph,
  type ReferenceLinearModel,
} from '../../../helpers/reference-attribution-graph.js';

const BOS = 50256;
const PROMPT = [BOS, 464, 3797, 3332, 319, 262];

interface Case {
  name: string;
  tensors: HfTensor[];
  config: Record<string, unknown>;
  linear: (w: Map<string, ReferenceWeightTensor>) => ReferenceLinearModel;
  forward: (w: Map<string, ReferenceWeightTensor>, ids: readonly number[]) => Map<string, ReferenceTensor>;
  transcoder: Omit<RandomTranscoderSpec, 'nLayers' | 'dModel'>;
  ids: number[];
}

function gpt2Case(name: string, transcoder: Case['transcoder'], ids = PROMPT): Case {
  const model = generateRandomGpt2({ preset: 'tiny' }, 3);
  const config = { n_layer: 2, n_head: 4, n_embd: 64, layer_norm_epsilon: 1e-5 };
  return {
    name,
    tensors: model.tensors,
    config: model.config as unknown as Record<string, unknown>,
    linear: (w) => gpt2LinearModel(w, config, BOS),
    forward: (w, x) => referenceGpt2Forward(w, config, x),
    transcoder,
    ids,
  };
}

function llamaCase(name: string, transcoder: Case['transcoder']): Case {
  const model = generateRandomLlama('llama', 'tiny', 4);
  const config = { ...model.config, bos_token_id: PROMPT[0] } as Record<string, unknown>;
  return {
    name,
    tensors: model.tensors,
    config,
    linear: (w) => llamaLinearModel(w, config),
    forward: (w, x) => referenceLlamaForward(w, config, x),
    transcoder,
    ids: PROMPT,
  };
}

/** The reference adjacency restricted to the visited features (and every error, token and logit node). */
function restricted(reference: ReferenceGraph, selected: readonly number[]): { matrix: Float64Array; nodes: number } {
  const nF = reference.features.length;
  const keep = [...selected, ...Array.from({ length: reference.nodes - nF }, (_, i) => nF + i)];
  const m = keep.length;
  const matrix = new Float64Array(m * m);
  keep.forEach((r, i) => keep.forEach((c, j) => (matrix[i * m + j] = reference.adjacency[r * reference.nodes + c]!)));
  return { matrix, nodes: m };
}

function neoxCase(name: string, parallelResidual: boolean, transcoder: Case['transcoder']): Case {
  const model = generateRandomGptNeox('tiny', 6, { parallelResidual });
  const config = { ...model.config } as Record<string, unknown>;
  return {
    name,
    tensors: model.tensors,
    config,
    linear: (w) => gptNeoxLinearModel(w, config),
    forward: (w, x) => referenceGptNeoxForward(w, config, x),
    transcoder,
    ids: PROMPT.slice(1),
  };
}

function gemmaCase(name: string, transcoder: Case['transcoder']): Case {
  const model = generateRandomGemma('gemma3_text', 'tiny', 7);
  const config = { ...model.config, bos_token_id: PROMPT[0] } as Record<string, unknown>;
  return {
    name,
    tensors: model.tensors,
    config,
    linear: (w) => gemmaLinearModel(w, config),
    forward: (w, x) => referenceGemmaForward(w, config, x).hooks,
    transcoder,
    ids: PROMPT,
  };
}

const CASES: Case[] = [
  gpt2Case('GPT-2, ln2.hook_normalized, ReLU', { dSae: 48, seed: 1 }),
  gpt2Case('GPT-2, mlp.hook_in, JumpReLU, skip', { dSae: 48, seed: 2, input: 'mlp.hook_in', activation: 'jumprelu', skip: true }),
  gpt2Case('GPT-2, cross-layer, hook_resid_mid, no BOS', { dSae: 40, seed: 3, input: 'hook_resid_mid', crossLayer: true, encoderBias: 0 }, PROMPT.slice(1)),
  gpt2Case('GPT-2, hook_resid_mid centred (center_writing_weights), skip', {
    dSae: 48,
    seed: 9,
    input: 'hook_resid_mid',
    skip: true,
    encoderBias: 0,
    processing: { centerWritingWeights: true, foldLn: true },
  }),
  gpt2Case('GPT-2, ln2.hook_normalized without fold_ln (after the weights)', {
    dSae: 48,
    seed: 10,
    processing: { centerWritingWeights: false, foldLn: false },
  }),
  llamaCase('Llama, hook_resid_mid with center_writing_weights (RMSNorm: not centred)', {
    dSae: 48,
    seed: 11,
    input: 'hook_resid_mid',
    encoderBias: 0,
    processing: { centerWritingWeights: true, foldLn: false },
  }),
  llamaCase('Llama (GQA), ln2.hook_normalized, TopK, skip', { dSae: 48, seed: 4, activation: 'topk', skip: true }),
  llamaCase('Llama, mlp.hook_in, cross-layer', { dSae: 40, seed: 5, input: 'mlp.hook_in', crossLayer: true }),
  neoxCase('GPT-NeoX, parallel residual, ln2.hook_normalized, skip', true, { dSae: 48, seed: 6, skip: true }),
  neoxCase('GPT-NeoX, sequential residual, mlp.hook_in', false, { dSae: 48, seed: 7, input: 'mlp.hook_in' }),
  gemmaCase('Gemma 3 (post-attention norm), ln2.hook_normalized, JumpReLU', { dSae: 48, seed: 8, activation: 'jumprelu' }),
];

for (const c of CASES) {
  describe(`attribution graph: ${c.name}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'ct-graph-'));
    let runner: InstrumentedModel;
    let run: AttributionGraphRun;
    let reference: ReferenceGraph;

    before(async () => {
      await writeHfFolder(dir, { config: c.config, tensors: c.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      const loaded = await loadModelFolder(dir);
      runner = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
      if (c.config['bos_token_id'] !== undefined) (runner.config as { bosTokenId: number | null }).bosTokenId = c.config['bos_token_id'] as number;
      const { nLayers, dModel } = runner.config;
      const dictionary = randomTranscoder({ nLayers, dModel, ...c.transcoder });
      run = await buildAttributionGraph(runner, dictionary, c.ids, (id) => `t${id}`, { maxFeatureNodes: 100000, batchSize: 7 });
      const weights = new Map(c.tensors.map((t) => [t.name, { shape: t.shape, data: t.data }]));
      reference = referenceAttributionGraph(c.linear(weights), c.forward(weights, c.ids), c.ids, dictionary);
    });
    after(async () => {
      await runner?.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    test('the same active features and logit targets as the reference', () => {
      const { features } = run.replacement;
      assert.ok(features.count >= 10, `too few active features (${features.count}) for the test to say anything`);
      assert.equal(features.count, reference.features.length);
      reference.features.forEach((f, i) => {
        assert.deepEqual([features.layer[i], features.position[i], features.feature[i]], [f.layer, f.position, f.feature], `feature ${i}`);
        assert.ok(Math.abs(features.activation[i]! - f.activation) <= 1e-4 * Math.max(1, Math.abs(f.activation)));
      });
      assert.deepEqual(run.replacement.logits.tokens, reference.logitTokens);
      assert.equal(run.adjacency.selectedFeatures.length, features.count, 'every feature visited');
    });

    test('adjacency equals the reference to 1e-4 of its largest entry', () => {
      const n = reference.nodes;
      assert.equal(run.adjacency.nodes, n);
      let largest = 0;
      for (const v of reference.adjacency) largest = Math.max(largest, Math.abs(v));
      let worst = 0;
      let at = -1;
      for (let i = 0; i < n * n; i++) {
        const d = Math.abs(run.adjacency.matrix[i]! - reference.adjacency[i]!);
        if (d > worst) {
          worst = d;
          at = i;
        }
      }
      assert.ok(largest > 0);
      assert.ok(worst <= 1e-4 * largest, `largest difference ${worst} at [${Math.floor(at / n)}, ${at % n}] (largest entry ${largest})`);
    });

    test('linearity: ablating a feature in the linearised model changes every target by exactly its direct effect', () => {
      const n = reference.nodes;
      const nLogits = run.replacement.logits.tokens.length;
      const targets = [...Array.from({ length: reference.features.length }, (_, i) => i), ...Array.from({ length: nLogits }, (_, k) => n - nLogits + k)];
      const full = reference.ablatedValues(new Set());
      for (const t of targets)
        assert.ok(Math.abs(full[t]! - reference.value[t]!) <= 1e-6 * Math.max(1, Math.abs(reference.value[t]!)), 'the affine model is the clean run');
      let largest = 0;
      for (const v of run.adjacency.matrix) largest = Math.max(largest, Math.abs(v));
      // Features of the first layer, one at each of several positions: each has later targets.
      const picks = reference.features
        .flatMap((f, i) => (f.layer === 0 ? [i] : []))
        .filter((_, j) => j % 7 === 0)
        .slice(0, 4);
      assert.ok(picks.length > 0);
      for (const s of picks) {
        const ablated = reference.ablatedValues(new Set([s]));
        let moved = 0;
        for (const t of targets) {
          const change = full[t]! - ablated[t]!;
          moved = Math.max(moved, Math.abs(change));
          const effect = run.adjacency.matrix[t * n + s]!;
          assert.ok(Math.abs(change - effect) <= 1e-4 * largest, `feature ${s} → node ${t}: change ${change}, direct effect ${effect}`);
        }
        assert.ok(moved > 0, `ablating feature ${s} changes something`);
      }
    });

    test('with a cap on features visited: the features of most influence on the logits first, their rows as the reference’s', async () => {
      const { nLayers, dModel } = runner.config;
      const dictionary = randomTranscoder({ nLayers, dModel, ...c.transcoder });
      const cap = 5;
      const capped = await buildAttributionGraph(runner, dictionary, c.ids, (id) => `t${id}`, { maxFeatureNodes: cap });
      // One ranking, after the logit rows only: influence = Σ_logits p · |A[logit, f]| / Σ_sources |A[logit, ·]|.
      const n = reference.nodes;
      const nF = reference.features.length;
      const logitStart = n - reference.logitTokens.length;
      const influence = new Float64Array(nF);
      reference.logitTokens.forEach((_, k) => {
        const row = (logitStart + k) * n;
        let sum = 0;
        for (let j = 0; j < n; j++) sum += Math.abs(reference.adjacency[row + j]!);
        for (let f = 0; f < nF; f++) influence[f]! += (reference.logitProbabilities[k]! * Math.abs(reference.adjacency[row + f]!)) / Math.max(sum, 1e-8);
      });
      const expected = Array.from({ length: nF }, (_, f) => f)
        .sort((a, b) => influence[b]! - influence[a]! || a - b)
        .slice(0, cap)
        .sort((a, b) => a - b);
      assert.deepEqual([...capped.adjacency.selectedFeatures], expected);
      const sub = restricted(reference, expected);
      let largest = 0;
      for (const v of sub.matrix) largest = Math.max(largest, Math.abs(v));
      for (let i = 0; i < sub.matrix.length; i++) assert.ok(Math.abs(capped.adjacency.matrix[i]! - sub.matrix[i]!) <= 1e-4 * largest, `entry ${i}`);
    });

    test('completeness: direct effects plus bias equal each target’s pre-activation and demeaned logit', () => {
      const n = reference.nodes;
      const targets = [
        ...Array.from({ length: run.replacement.features.count }, (_, i) => i),
        ...run.replacement.logits.tokens.map((_, k) => n - run.replacement.logits.tokens.length + k),
      ];
      for (const t of targets) {
        let sum = reference.bias[t]!;
        for (let s = 0; s < n; s++) sum += run.adjacency.matrix[t * n + s]!;
        const engineValue =
          t < run.replacement.features.count
            ? run.replacement.features.preActivation[t]!
            : run.replacement.logits.values[t - (n - run.replacement.logits.tokens.length)]!;
        assert.ok(Math.abs(sum - reference.value[t]!) <= 1e-4 * Math.max(1, Math.abs(reference.value[t]!)), `node ${t}: ${sum} vs ${reference.value[t]}`);
        assert.ok(
          Math.abs(engineValue - reference.value[t]!) <= 1e-4 * Math.max(1, Math.abs(reference.value[t]!)),
          `node ${t}: engine value ${engineValue} vs ${reference.value[t]}`,
        );
      }
    });
  });
}
