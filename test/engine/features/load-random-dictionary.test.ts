/**
 * Every format the random-dictionary generator writes loads back through loadDictionary with every
 * tensor as written (F16/BF16 files: the written values rounded to the stored precision, rounding
 * from its definition), the hooks made full per layer, the activation function and the decoders
 * read lazily row by row.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Dictionary } from '../../../src/engine/features/dictionary.js';
import type { DictionaryModelConfig } from '../../../src/engine/features/dictionary-hooks.js';
import { loadDictionary } from '../../../src/engine/features/load-dictionary.js';
import { generateRandomDictionary, type RandomDictionary, type RandomDictionarySpec } from '../../../src/engine/features/random-dictionary.js';
import { randomDictionaryProcessing, writeRandomDictionary, type RandomDictionaryFiles } from '../../../src/engine/features/random-dictionary-writer.js';
import { STORED_ROUNDING } from '../../helpers/stored-precision.js';

const MODEL: DictionaryModelConfig = { nLayers: 3, dModel: 8 };
const root = mkdtempSync(join(tmpdir(), 'ct-load-random-dictionary-'));
after(() => rmSync(root, { recursive: true, force: true }));

interface Case {
  name: string;
  spec: RandomDictionarySpec;
  files: Omit<RandomDictionaryFiles, 'modelName'>;
  /** The full hook names expected of layer l: input and outputs. */
  hooks: (layer: number) => { input: string; outputs: string[] };
}

const sae = (layer: number, hook: string) => ({ input: `blocks.${layer}.${hook}`, outputs: [`blocks.${layer}.${hook}`] });
const transcoderHooks = (layer: number) => ({ input: `blocks.${layer}.hook_resid_mid`, outputs: [`blocks.${layer}.hook_mlp_out`] });

const CASES: Case[] = [
  {
    name: 'SAELens, one relu SAE',
    spec: { format: 'saelens', layers: [1], width: 12, activation: 'relu', seed: 1 },
    files: { inputHook: 'hook_resid_pre', outputHook: 'hook_resid_pre' },
    hooks: (l) => sae(l, 'hook_resid_pre'),
  },
  {
    name: 'SAELens, a release of two topk SAEs stored as F16',
    spec: { format: 'saelens', layers: [0, 2], width: 10, activation: 'topk', k: 3, seed: 2 },
    files: { inputHook: 'hook_resid_post', outputHook: 'hook_resid_post', dtype: 'F16' },
    hooks: (l) => sae(l, 'hook_resid_post'),
  },
  {
    name: 'SAELens, jumprelu as BF16',
    spec: { format: 'saelens', layers: [0], width: 9, activation: 'jumprelu', seed: 3 },
    files: { inputHook: 'hook_mlp_out', outputHook: 'hook_mlp_out', dtype: 'BF16' },
    hooks: (l) => sae(l, 'hook_mlp_out'),
  },
  {
    name: 'circuit-tracer transcoders, relu with W_skip',
    spec: { format: 'transcoder', layers: [0, 1, 2], width: 11, activation: 'relu', seed: 4, skip: true },
    files: { inputHook: 'hook_resid_mid', outputHook: 'mlp.hook_out' },
    hooks: transcoderHooks,
  },
  {
    name: 'circuit-tracer transcoders, first layout (W_dec stored [d_model, d_sae])',
    spec: { format: 'transcoder', layers: [0, 1], width: 13, activation: 'relu', seed: 5 },
    files: { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out', legacyLayout: true },
    hooks: transcoderHooks,
  },
  {
    name: 'circuit-tracer transcoders, first layout with a square decoder',
    spec: { format: 'transcoder', layers: [1], width: 8, activation: 'relu', seed: 6 },
    files: { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out', legacyLayout: true },
    hooks: transcoderHooks,
  },
  {
    name: 'circuit-tracer transcoders, jumprelu on some layers, F16',
    spec: { format: 'transcoder', layers: [2, 0], width: 7, activation: 'jumprelu', seed: 7 },
    files: { inputHook: 'ln2.hook_normalized', outputHook: 'hook_mlp_out', dtype: 'F16' },
    hooks: (l) => ({ input: `blocks.${l}.ln2.hook_normalized`, outputs: [`blocks.${l}.hook_mlp_out`] }),
  },
  {
    name: 'circuit-tracer transcoders, topk with k in the config',
    spec: { format: 'transcoder', layers: [1], width: 10, activation: 'topk', k: 2, seed: 8 },
    files: { inputHook: 'mlp.hook_in', outputHook: 'hook_mlp_out' },
    hooks: (l) => ({ input: `blocks.${l}.mlp.hook_in`, outputs: [`blocks.${l}.hook_mlp_out`] }),
  },
  {
    name: 'cross-layer transcoder, relu',
    spec: { format: 'clt', layers: [], width: 6, activation: 'relu', seed: 9 },
    files: { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out' },
    hooks: (l) => ({ input: `blocks.${l}.hook_resid_mid`, outputs: Array.from({ length: 3 - l }, (_, j) => `blocks.${l + j}.hook_mlp_out`) }),
  },
  {
    name: 'cross-layer transcoder, jumprelu as BF16',
    spec: { format: 'clt', layers: [0, 1, 2], width: 5, activation: 'jumprelu', seed: 10 },
    files: { inputHook: 'ln2.hook_normalized', outputHook: 'mlp.hook_out', dtype: 'BF16' },
    hooks: (l) => ({ input: `blocks.${l}.ln2.hook_normalized`, outputs: Array.from({ length: 3 - l }, (_, j) => `blocks.${l + j}.hook_mlp_out`) }),
  },
];

function stored(values: Float32Array, dtype: 'F32' | 'F16' | 'BF16' | undefined): number[] {
  return Array.from(values, STORED_ROUNDING[dtype ?? 'F32']);
}

function checkAgainstWritten(loaded: Dictionary, written: RandomDictionary, c: Case): void {
  const dtype = c.files.dtype;
  const d = MODEL.dModel;
  const n = c.spec.width;
  assert.deepEqual(
    loaded.layers.map((l) => l.layer),
    written.layers.map((l) => l.layer),
  );
  assert.equal(loaded.kind, c.spec.format === 'saelens' ? 'sae' : c.spec.format === 'clt' ? 'cross_layer_transcoder' : 'transcoder');
  assert.equal(loaded.modelName, 'test-model');
  loaded.layers.forEach((layer, i) => {
    const w = written.layers[i]!;
    const hooks = c.hooks(layer.layer);
    assert.equal(layer.inputHook, hooks.input);
    assert.deepEqual(layer.outputHooks, hooks.outputs);
    assert.equal(layer.dIn, d);
    assert.equal(layer.dOut, d);
    assert.equal(layer.dSae, n);
    assert.deepEqual(Array.from(layer.W_enc), stored(w.W_enc, dtype), 'W_enc');
    assert.deepEqual(Array.from(layer.b_enc), stored(w.b_enc, dtype), 'b_enc');
    assert.equal(layer.b_dec.length, w.b_dec.length);
    layer.b_dec.forEach((b, j) => assert.deepEqual(Array.from(b), stored(w.b_dec[j]!, dtype), `b_dec ${j}`));
    if (c.spec.activation === 'jumprelu') {
      assert.equal(layer.activation.kind, 'jumprelu');
      if (layer.activation.kind === 'jumprelu') assert.deepEqual(Array.from(layer.activation.threshold), stored(w.threshold!, dtype));
    } else if (c.spec.activation === 'topk') {
      assert.deepEqual(layer.activation, { kind: 'topk', k: written.spec.k });
    } else {
      assert.deepEqual(layer.activation, { kind: 'relu' });
    }
    assert.equal(layer.applyBDecToInput, c.spec.format === 'saelens' && c.spec.activation !== 'jumprelu');
    assert.deepEqual(layer.normalization, { kind: 'none' });
    // SAELens's cfg.json names {center_writing_weights: false} (fold_ln left at TransformerLens's default); circuit-tracer's model is unprocessed.
    assert.deepEqual(
      layer.processing,
      c.spec.format === 'saelens' ? { centerWritingWeights: false, foldLn: true } : { centerWritingWeights: false, foldLn: false },
    );
    assert.deepEqual(layer.processing, randomDictionaryProcessing(c.spec.format));
    if (w.W_skip) assert.deepEqual(Array.from(layer.W_skip!), stored(w.W_skip, dtype), 'W_skip');
    else assert.equal(layer.W_skip, null);
    assert.equal(layer.outputHooks.length, w.W_dec.length);
    w.W_dec.forEach((dec, j) => {
      const decoder = layer.decoder(j);
      assert.equal(decoder.dSae, n);
      assert.equal(decoder.dOut, d);
      assert.deepEqual(Array.from(decoder.all()), stored(dec, dtype), `W_dec ${j}`);
      const asked = [n - 1, 0, 2, 2];
      const rows = decoder.rows(asked);
      asked.forEach((f, r) =>
        assert.deepEqual(Array.from(rows.subarray(r * d, (r + 1) * d)), stored(dec.subarray(f * d, (f + 1) * d), dtype), `row ${f} of W_dec ${j}`),
      );
    });
  });
}

describe('random dictionaries load back as written', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const dir = mkdtempSync(join(root, 'd-'));
      const written = generateRandomDictionary(c.spec, MODEL);
      await writeRandomDictionary(dir, written, { ...c.files, modelName: 'test-model' });
      const loaded = await loadDictionary(dir, MODEL);
      try {
        checkAgainstWritten(loaded, written, c);
        assert.equal(loaded.dModel, 8);
        assert.equal(loaded.labels, null);
      } finally {
        loaded.dispose();
      }
    });
  }

  it('a circuit-tracer config naming its transcoders by absolute path, from another folder', async () => {
    const dir = mkdtempSync(join(root, 'files-'));
    const spec: RandomDictionarySpec = { format: 'transcoder', layers: [0, 2], width: 5, activation: 'relu', seed: 13 };
    const written = generateRandomDictionary(spec, MODEL);
    await writeRandomDictionary(dir, written, { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out', modelName: 'test-model', legacyLayout: true });
    const configDir = mkdtempSync(join(root, 'config-'));
    const config = readFileSync(join(dir, 'transcoders.yaml'), 'utf8').replace(
      /filepath: "(layer_\d+\.safetensors)"/g,
      (_, file: string) => `filepath: "${join(dir, file)}"`,
    );
    assert.match(config, /filepath: "\//);
    writeFileSync(join(configDir, 'transcoders.yaml'), config);
    const loaded = await loadDictionary(join(configDir, 'transcoders.yaml'), MODEL);
    try {
      checkAgainstWritten(loaded, written, {
        name: 'absolute',
        spec,
        files: { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out', legacyLayout: true },
        hooks: transcoderHooks,
      });
    } finally {
      loaded.dispose();
    }
  });

  it('the same seed writes the same weights, another seed others', () => {
    const spec: RandomDictionarySpec = { format: 'transcoder', layers: [0], width: 6, activation: 'relu', seed: 11 };
    const a = generateRandomDictionary(spec, MODEL).layers[0]!;
    const b = generateRandomDictionary(spec, MODEL).layers[0]!;
    const other = generateRandomDictionary({ ...spec, seed: 12 }, MODEL).layers[0]!;
    assert.deepEqual(a, b);
    assert.notDeepEqual(Array.from(a.W_enc), Array.from(other.W_enc));
  });
});
