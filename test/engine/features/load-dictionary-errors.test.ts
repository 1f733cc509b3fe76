/**
 * Bad dictionaries get typed errors naming the first problem: configs, hooks that the model does
 * not have, widths that do not match the model or the config, missing files and tensors, NaN in
 * encoders (at load) and in decoder rows (when read), gated SAEs, and labels files of another dictionary.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DictionaryModelConfig } from '../../../src/engine/features/dictionary-hooks.js';
import { loadDictionary } from '../../../src/engine/features/load-dictionary.js';
import { generateRandomDictionary } from '../../../src/engine/features/random-dictionary.js';
import { writeRandomDictionary } from '../../../src/engine/features/random-dictionary-writer.js';
import { writeSafetensorsFile, type TensorToWrite } from '../../../src/engine/model/safetensors-writer.js';

const MODEL: DictionaryModelConfig = { nLayers: 3, dModel: 8 };
const root = mkdtempSync(join(tmpdir(), 'ct-load-dictionary-errors-'));
after(() => rmSync(root, { recursive: true, force: true }));

type Rejection = (e: Error & { code?: string }) => boolean;
const rejects =
  (code: string, pattern: RegExp): Rejection =>
  (e) =>
    e.code === code && pattern.test(e.message);

const D = 8;
const N = 10;
function saeTensors(): Map<string, TensorToWrite> {
  const fill = (shape: number[], f: (i: number) => number): Float32Array => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i));
  const t = (name: string, shape: number[], f: (i: number) => number): [string, TensorToWrite] => [name, { name, dtype: 'F32', shape, data: fill(shape, f) }];
  return new Map([
    t('W_enc', [D, N], (i) => Math.sin(i)),
    t('W_dec', [N, D], (i) => Math.cos(i)),
    t('b_enc', [N], (i) => -0.1 * i),
    t('b_dec', [D], (i) => 0.01 * i),
  ]);
}

function saeConfig(): Record<string, unknown> {
  return {
    architecture: 'standard',
    d_in: D,
    d_sae: N,
    hook_name: 'blocks.1.hook_resid_pre',
    hook_layer: 1,
    activation_fn_str: 'relu',
    apply_b_dec_to_input: true,
    normalize_activations: 'none',
    model_name: 'test',
  };
}

/** A SAELens folder with the config and tensors after `edit`. */
async function saeFolder(edit: (cfg: Record<string, unknown>, tensors: Map<string, TensorToWrite>) => void = () => undefined): Promise<string> {
  const dir = mkdtempSync(join(root, 'sae-'));
  const cfg = saeConfig();
  const tensors = saeTensors();
  edit(cfg, tensors);
  writeFileSync(join(dir, 'cfg.json'), JSON.stringify(cfg));
  await writeSafetensorsFile(join(dir, 'sae_weights.safetensors'), [...tensors.values()]);
  return dir;
}

describe('SAELens: bad input', () => {
  it('a good folder loads (the baseline of the cases below)', async () => {
    const loaded = await loadDictionary(await saeFolder(), MODEL);
    assert.equal(loaded.layers[0]!.inputHook, 'blocks.1.hook_resid_pre');
    loaded.dispose();
  });

  const cases: Array<[string, (cfg: Record<string, unknown>, tensors: Map<string, TensorToWrite>) => void, Rejection, DictionaryModelConfig?]> = [
    ['d_in unlike the model', (c) => (c['d_in'] = 16), rejects('WRONG_SHAPE', /d_in is 16 but the model's d_model is 8/)],
    [
      'a hook of a layer the model lacks',
      (c) => ((c['hook_name'] = 'blocks.5.hook_resid_pre'), (c['hook_layer'] = 5)),
      rejects('BAD_CONFIG', /layer 5, but the model has 3 layers/),
    ],
    ['a per-head hook', (c) => (c['hook_name'] = 'blocks.1.attn.hook_z'), rejects('BAD_CONFIG', /"blocks\.1\.attn\.hook_z".*not a d_model-wide hook/)],
    ['an unknown hook', (c) => (c['hook_name'] = 'blocks.1.hook_nonsense'), rejects('BAD_CONFIG', /"blocks\.1\.hook_nonsense", which is no hook point/)],
    ['a global hook', (c) => (c['hook_name'] = 'hook_embed'), rejects('BAD_CONFIG', /not a per-layer hook/)],
    [
      'resid_mid of a parallel-residual model',
      (c) => (c['hook_name'] = 'blocks.1.hook_resid_mid'),
      rejects('BAD_CONFIG', /do not have/),
      { ...MODEL, positional: 'rotary', parallelResidual: true },
    ],
    ['hook_layer unlike hook_name', (c) => (c['hook_layer'] = 2), rejects('BAD_CONFIG', /hook_layer 2 does not match/)],
    ['a gated SAE', (c) => (c['architecture'] = 'gated'), rejects('UNSUPPORTED_ARCHITECTURE', /"gated"/)],
    ['topk without k', (c) => (c['activation_fn_str'] = 'topk'), rejects('BAD_CONFIG', /needs k/)],
    [
      'expected_average_only_in without its factor',
      (c) => (c['normalize_activations'] = 'expected_average_only_in'),
      rejects('BAD_CONFIG', /norm scaling factor/),
    ],
    ['layer_norm normalisation', (c) => (c['normalize_activations'] = 'layer_norm'), rejects('BAD_CONFIG', /"layer_norm" is not supported/)],
    ['no d_sae', (c) => delete c['d_sae'], rejects('BAD_CONFIG', /"d_sae" must be a positive integer/)],
    [
      'W_enc wider than d_sae',
      (_, t) => t.set('W_enc', { name: 'W_enc', dtype: 'F32', shape: [D, N + 1], data: new Float32Array(D * (N + 1)) }),
      rejects('WRONG_SHAPE', /"W_enc" is \[8, 11\].*\[8, 10\]/),
    ],
    [
      'W_dec transposed',
      (_, t) => t.set('W_dec', { name: 'W_dec', dtype: 'F32', shape: [D, N], data: new Float32Array(D * N) }),
      rejects('WRONG_SHAPE', /"W_dec" is \[8, 10\]/),
    ],
    ['no W_dec', (_, t) => t.delete('W_dec'), rejects('MISSING_TENSOR', /"W_dec"/)],
    ['jumprelu without a threshold', (c) => (c['architecture'] = 'jumprelu'), rejects('MISSING_TENSOR', /"threshold"/)],
    ['NaN in b_enc', (_, t) => (t.get('b_enc')!.data[2] = NaN), rejects('NON_FINITE', /"b_enc".*NaN at index 2/)],
    ['Infinity in W_enc', (_, t) => (t.get('W_enc')!.data[13] = Infinity), rejects('NON_FINITE', /"W_enc".*\[1, 3\]/)],
  ];
  for (const [what, edit, check, model] of cases) {
    it(what, async () => {
      await assert.rejects(loadDictionary(await saeFolder(edit), model ?? MODEL), check);
    });
  }

  it('expected_average_only_in with the factor given, in the options or in cfg.json', async () => {
    const dir = await saeFolder((c) => (c['normalize_activations'] = 'expected_average_only_in'));
    const loaded = await loadDictionary(dir, MODEL, { normScalingFactor: 2.5 });
    assert.deepEqual(loaded.layers[0]!.normalization, { kind: 'expected_average_only_in', inputScale: 2.5 });
    loaded.dispose();
    const inCfg = await loadDictionary(
      await saeFolder((c) => ((c['normalize_activations'] = 'expected_average_only_in'), (c['norm_scaling_factor'] = 0.5))),
      MODEL,
    );
    assert.deepEqual(inCfg.layers[0]!.normalization, { kind: 'expected_average_only_in', inputScale: 0.5 });
    inCfg.dispose();
  });

  it('NaN in a decoder row is found when that row is read', async () => {
    const loaded = await loadDictionary(await saeFolder((_, t) => (t.get('W_dec')!.data[4 * D + 2] = NaN)), MODEL);
    try {
      assert.equal(loaded.layers[0]!.decoder(0).rows([3, 5]).length, 2 * D);
      assert.throws(() => loaded.layers[0]!.decoder(0).rows([4]), rejects('NON_FINITE', /"W_dec \(row 4\)"/));
      assert.throws(() => loaded.layers[0]!.decoder(0).rows([N]), rejects('BAD_ARGUMENT', /Feature 10 is out of range/));
    } finally {
      loaded.dispose();
    }
  });

  it('missing and malformed files', async () => {
    const noWeights = mkdtempSync(join(root, 'no-weights-'));
    writeFileSync(join(noWeights, 'cfg.json'), JSON.stringify(saeConfig()));
    await assert.rejects(loadDictionary(noWeights, MODEL), rejects('MODEL_FILE_MISSING', /no sae_weights\.safetensors/));
    const badJson = mkdtempSync(join(root, 'bad-json-'));
    writeFileSync(join(badJson, 'cfg.json'), '{ "d_in": 8,');
    await assert.rejects(loadDictionary(badJson, MODEL), rejects('BAD_CONFIG', /not valid JSON/));
    await assert.rejects(loadDictionary(mkdtempSync(join(root, 'empty-')), MODEL), rejects('MODEL_FILE_MISSING', /no dictionary files/));
  });
});

/** A circuit-tracer folder: config text and per-layer files of a random transcoder set. */
async function transcoderFolder(config: string): Promise<string> {
  const dir = mkdtempSync(join(root, 'tc-'));
  const dictionary = generateRandomDictionary({ format: 'transcoder', layers: [0, 1], width: 6, activation: 'relu', seed: 3 }, MODEL);
  await writeRandomDictionary(dir, dictionary, { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out', modelName: 'test' });
  writeFileSync(join(dir, 'config.yaml'), config);
  return dir;
}

describe('circuit-tracer transcoders: bad input', () => {
  const header = 'model_name: "test"\nfeature_input_hook: "hook_resid_mid"\nfeature_output_hook: "mlp.hook_out"\n';
  const cases: Array<[string, string, Rejection]> = [
    ['no feature_input_hook', 'model_kind: transcoder_set\nfeature_output_hook: "hook_mlp_out"\n', rejects('BAD_CONFIG', /no "feature_input_hook"/)],
    [
      'an input hook the model lacks',
      header.replace('hook_resid_mid', 'hook_resid_middle'),
      rejects('BAD_CONFIG', /"blocks\.0\.hook_resid_middle", which is no hook point/),
    ],
    ['an unknown model_kind', `${header}model_kind: crosscoder\n`, rejects('BAD_CONFIG', /model_kind "crosscoder"/)],
    ['topk without k', `${header}activation: topk\n`, rejects('BAD_CONFIG', /topk needs a positive integer k/)],
    ['jump_relu without thresholds', `${header}activation: jump_relu\n`, rejects('MISSING_TENSOR', /no JumpReLU threshold/)],
    ['a tab-indented list', `${header}transcoders:\n\t- id: a\n`, rejects('BAD_CONFIG', /line 5: Tabs are not allowed/)],
    ['YAML aliases', `${header}extra: &anchor 3\nmore: *anchor\n`, rejects('BAD_CONFIG', /Alias resolution is disabled/)],
    [
      'a missing transcoder file',
      `${header}transcoders:\n  - id: a\n    layer: 0\n    filepath: "layer_7.safetensors"\n`,
      rejects('MODEL_FILE_MISSING', /layer_7\.safetensors/),
    ],
    [
      'two transcoders for one layer',
      `${header}transcoders:\n  - id: a\n    layer: 0\n    filepath: layer_0.safetensors\n  - id: b\n    layer: 0\n    filepath: layer_1.safetensors\n`,
      rejects('BAD_CONFIG', /two transcoders for layer 0/),
    ],
    [
      'more layers than the model',
      `${header}transcoders:\n${[0, 1, 2, 3].map((l) => `  - id: t${l}\n    layer: ${l}\n    filepath: layer_0.safetensors\n`).join('')}`,
      rejects('BAD_CONFIG', /transcoders for 4 layers but the model has 3/),
    ],
  ];
  for (const [what, config, check] of cases) {
    it(what, async () => {
      await assert.rejects(loadDictionary(await transcoderFolder(config), MODEL), check);
    });
  }

  it('a transcoder of another width of model', async () => {
    const dir = await transcoderFolder(`${header}model_kind: transcoder_set\n`);
    await assert.rejects(loadDictionary(dir, { nLayers: 3, dModel: 16 }), rejects('WRONG_SHAPE', /b_dec\) is 8 but the model's d_model is 16/));
  });

  it('a cross-layer transcoder of fewer layers than the model, or with a decoder file missing', async () => {
    const dir = mkdtempSync(join(root, 'clt-'));
    const dictionary = generateRandomDictionary({ format: 'clt', layers: [], width: 4, activation: 'relu', seed: 1 }, { nLayers: 2, dModel: 8 });
    await writeRandomDictionary(dir, dictionary, { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out', modelName: 'test' });
    await assert.rejects(loadDictionary(dir, MODEL), rejects('WRONG_SHAPE', /2 layers .* the model has 3/));
    rmSync(join(dir, 'W_dec_1.safetensors'));
    await assert.rejects(loadDictionary(dir, { nLayers: 2, dModel: 8 }), rejects('MODEL_FILE_MISSING', /W_dec_1\.safetensors/));
  });
});

describe('labels', () => {
  async function labelled(labels: string, name = 'neuronpedia.json'): Promise<string> {
    const dir = await saeFolder();
    writeFileSync(join(dir, name), labels);
    return dir;
  }

  it("Neuronpedia's explanation export beside the dictionary becomes Dictionary.labels", async () => {
    const exportText = JSON.stringify([
      {
        modelId: 'gpt2-small',
        layer: '1-res-jb',
        index: '7',
        description: ' the word "cat"',
        explanationModelName: 'gpt-4o-mini',
        typeName: 'oai_token-act-pair',
      },
      { modelId: 'gpt2-small', layer: '1-res-jb', index: '7', description: 'a second explanation of it' },
      { modelId: 'gpt2-small', layer: 1, index: 0, description: 'feature zero' },
    ]);
    const loaded = await loadDictionary(await labelled(exportText), MODEL);
    assert.deepEqual([...loaded.labels!].sort(), [
      ['1/0', 'feature zero'],
      ['1/7', ' the word "cat"'],
    ]);
    loaded.dispose();
    const jsonl = exportText.slice(1, -1).replace(/},{/g, '}\n{');
    const fromLines = await loadDictionary(await labelled(jsonl, 'explanations.jsonl'), MODEL);
    assert.equal(fromLines.labels!.get('1/0'), 'feature zero');
    fromLines.dispose();
  });

  it('a labels file of another dictionary is BAD_CONFIG naming the entry', async () => {
    const outOfRange = JSON.stringify([{ layer: '1-res-jb', index: '10', description: 'past the end' }]);
    await assert.rejects(loadDictionary(await labelled(outOfRange), MODEL), rejects('BAD_CONFIG', /feature 10 of layer 1, but that layer has 10 features/));
    const otherLayer = JSON.stringify([{ layer: '2-res-jb', index: '1', description: 'another layer' }]);
    await assert.rejects(loadDictionary(await labelled(otherLayer), MODEL), rejects('BAD_CONFIG', /layer 2, but the dictionary has layers 1/));
    await assert.rejects(loadDictionary(await labelled('not json'), MODEL), rejects('BAD_CONFIG', /not a Neuronpedia export/));
    await assert.rejects(
      loadDictionary(await labelled('[{"layer": 1, "index": 2}]'), MODEL),
      rejects('BAD_CONFIG', /entry 0 needs layer, index and description/),
    );
  });

  it('a labels file named in the options', async () => {
    const dir = await saeFolder();
    const file = join(mkdtempSync(join(root, 'labels-')), 'mine.json');
    writeFileSync(file, JSON.stringify([{ layer: 1, index: 2, description: 'two' }]));
    const loaded = await loadDictionary(dir, MODEL, { labelsFile: file });
    assert.equal(loaded.labels!.get('1/2'), 'two');
    loaded.dispose();
  });
});
