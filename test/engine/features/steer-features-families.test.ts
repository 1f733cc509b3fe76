/**
 * Feature steering on the rotary families (Llama, Gemma 2 with its post-MLP norm, a parallel-residual
 * GPT-NeoX): scaling a transcoder feature of layer 0 (reading mlp.hook_in from the MLP's norm) at
 * every position equals the family's float64 reference forward with hook_mlp_out changed by hand,
 * at 1e-4 relative; and a cross-layer transcoder's edit, written to both layers' hook_mlp_out, too.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { steerFeatures } from '../../../src/engine/features/steer-features.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGemma } from '../../../src/engine/model/random-gemma.js';
import { generateRandomGptNeox } from '../../../src/engine/model/random-gpt-neox.js';
import { generateRandomLlama, type RandomLlama } from '../../../src/engine/model/random-llama.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { MatmulSessions } from '../../../src/engine/runtime/matmul-session.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { randomCrossLayerTranscoder, randomTranscoders, type FixtureLayer } from '../../helpers/dictionary-fixtures.js';
import { referenceEncode, referenceMlpInput, type ReferenceNormFamily } from '../../helpers/reference-features.js';
import type { ReferenceHookCallback, ReferenceTensor, ReferenceWeightTensor } from '../../helpers/reference-gpt2.js';
import { referenceGemmaForward } from '../../helpers/reference-gemma.js';
import { referenceGptNeoxForward } from '../../helpers/reference-gpt-neox.js';
import { referenceLlamaForward } from '../../helpers/reference-llama.js';

const IDS = [464, 3797, 3332, 319, 262, 2603, 13, 383];
const P = IDS.length;
const D = 64;

type Forward = (intervene?: ReferenceHookCallback) => Map<string, ReferenceTensor>;

interface Family {
  family: ReferenceNormFamily;
  random: () => RandomLlama;
  forward: (tensors: Map<string, ReferenceWeightTensor>, config: Record<string, unknown>) => Forward;
  eps: (config: Record<string, unknown>) => number;
}

const FAMILIES: Family[] = [
  {
    family: 'llama',
    random: () => generateRandomLlama('llama', 'tiny', 12),
    forward: (t, c) => (intervene) => referenceLlamaForward(t, c, IDS, intervene ? { intervene } : {}),
    eps: (c) => c['rms_norm_eps'] as number,
  },
  {
    family: 'gemma',
    random: () => generateRandomGemma('gemma2', 'tiny', 13),
    forward: (t, c) => (intervene) => referenceGemmaForward(t, c, IDS, intervene ? { intervene } : {}).hooks,
    eps: (c) => (c['rms_norm_eps'] as number | undefined) ?? 1e-6,
  },
  {
    family: 'neox',
    random: () => generateRandomGptNeox('tiny', 14),
    forward: (t, c) => (intervene) => referenceGptNeoxForward(t, c, IDS, intervene ? { intervene } : {}),
    eps: (c) => (c['layer_norm_eps'] as number | undefined) ?? 1e-5,
  },
];

function relativeDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0,
    scale = 1;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

for (const f of FAMILIES) {
  describe(`feature steering on a tiny random ${f.family}`, () => {
    let model: InstrumentedModel;
    let matmul: MatmulSessions;
    let forward: Forward;
    let tensors: Map<string, ReferenceWeightTensor>;
    let eps: number;
    before(async () => {
      const random = f.random();
      tensors = new Map(random.tensors.map((t) => [t.name, t]));
      forward = f.forward(tensors, random.config);
      eps = f.eps(random.config);
      const dir = mkdtempSync(join(tmpdir(), `ct-steer-${f.family}-`));
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      model = await InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' });
      matmul = await MatmulSessions.create(1);
    });
    after(async () => {
      await model.dispose();
      await matmul.dispose();
    });

    const lastLogits = (hooks: Map<string, ReferenceTensor>): Float64Array => {
      const V = hooks.get('logits')!.shape[1]!;
      return hooks.get('logits')!.data.subarray((P - 1) * V, P * V);
    };
    /** hook += Σ_p weights[p] · row at position p, for each (hook, row, weights). */
    const adding =
      (edits: ReadonlyArray<{ hook: string; row: Float32Array; weights: Float64Array }>): ReferenceHookCallback =>
      (name, t) => {
        for (const e of edits)
          if (e.hook === name) for (let p = 0; p < P; p++) for (let i = 0; i < D; i++) t.data[p * D + i] = t.data[p * D + i]! + e.weights[p]! * e.row[i]!;
      };
    const strongest = (acts: Float64Array, F: number): number => {
      let best = 0;
      for (let g = 1; g < F; g++) if (acts[(P - 1) * F + g]! > acts[(P - 1) * F + best]!) best = g;
      return best;
    };

    test('scaling a layer-0 transcoder feature everywhere equals the reference with hook_mlp_out changed by hand', async () => {
      const transcoders = randomTranscoders(2, D, 24, 21);
      const layer = transcoders.layers[0]! as FixtureLayer;
      const enc = referenceEncode(layer, referenceMlpInput(f.family, tensors, forward(), 0, eps, true), P);
      const feature = strongest(enc.acts, 24);
      const weights = Float64Array.from({ length: P }, (_, p) => 2 * enc.acts[p * 24 + feature]!);
      const expected = lastLogits(
        forward(adding([{ hook: 'blocks.0.hook_mlp_out', row: layer.decoders[0]!.subarray(feature * D, (feature + 1) * D), weights }])),
      );
      const run = await steerFeatures(model, matmul, transcoders, IDS, [{ layer: 0, feature, kind: 'scale', factor: 3 }]);
      assert.ok(relativeDiff(run.before, lastLogits(forward())) <= 1e-4);
      assert.ok(relativeDiff(run.after, expected) <= 1e-4, `steered logits differ by ${relativeDiff(run.after, expected)}`);
      assert.ok(relativeDiff(run.after, run.before) > 1e-4, 'the edit moves the logits');
    });

    test("a cross-layer transcoder's edit writes every output layer", async () => {
      const clt = randomCrossLayerTranscoder(2, D, 16, 31);
      const layer = clt.layers[0]! as FixtureLayer;
      const enc = referenceEncode(layer, referenceMlpInput(f.family, tensors, forward(), 0, eps, true), P);
      const feature = 4;
      const weights = Float64Array.from({ length: P }, (_, p) => (p === P - 1 ? 5 : 0));
      const row = (o: number): Float32Array => layer.decoders[o]!.subarray(feature * D, (feature + 1) * D);
      const expected = lastLogits(
        forward(
          adding([
            { hook: 'blocks.0.hook_mlp_out', row: row(0), weights },
            { hook: 'blocks.1.hook_mlp_out', row: row(1), weights },
          ]),
        ),
      );
      const run = await steerFeatures(model, matmul, clt, IDS, [{ layer: 0, feature, kind: 'add', value: 5, positions: [P - 1] }]);
      assert.ok(Math.abs(run.applied[0]!.before - enc.acts[(P - 1) * 16 + feature]!) <= 1e-4);
      assert.ok(relativeDiff(run.after, expected) <= 1e-4, `steered logits differ by ${relativeDiff(run.after, expected)}`);
    });
  });
}
