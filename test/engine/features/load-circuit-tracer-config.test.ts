/**
 * circuit-tracer's transcoder configs in both forms (its first release's list of {id, layer,
 * filepath}, the hub config.yaml with model_kind and a list of paths), the YAML they are written
 * in (comments, quotes, block lists at either indentation), hf:// references, and the hub sources
 * loadDictionary accepts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCircuitTracerConfig, parseHfUri } from '../../../src/engine/features/circuit-tracer-config.js';
import { fullHookName } from '../../../src/engine/features/dictionary-hooks.js';
import { parseHubSource } from '../../../src/engine/features/dictionary-hub.js';
import { parseConfigYaml } from '../../../src/engine/features/config-yaml.js';

describe("circuit-tracer's configs", () => {
  it("the first release's form: a list of {id, layer, filepath} entries, W_dec stored transposed", () => {
    const text = [
      '# Transcoders for a test model',
      'model_name: "org/model-1B"',
      'feature_input_hook: "hook_resid_mid"',
      "feature_output_hook: 'mlp.hook_out'   # the MLP's output",
      '',
      'transcoders:',
      '  - id: "model-relu-1"',
      '    layer: 1',
      '    filepath: "hf://org/transcoders/layer_1.safetensors?revision=new-training"',
      '',
      '  - id: "model-relu-0"',
      '    layer: 0',
      '    filepath: layer_0.safetensors',
    ].join('\n');
    const config = parseCircuitTracerConfig(text, 'test.yaml');
    assert.deepEqual(config, {
      kind: 'transcoder_set',
      modelName: 'org/model-1B',
      inputHook: 'hook_resid_mid',
      outputHook: 'mlp.hook_out',
      transcoders: [
        { layer: 0, path: 'layer_0.safetensors' },
        { layer: 1, path: 'hf://org/transcoders/layer_1.safetensors?revision=new-training' },
      ],
      transposedDecoders: true,
      activation: null,
      k: null,
    });
  });

  it('the hub config.yaml: model_kind, activation and k, a list of paths indexed by layer, or none', () => {
    const text = [
      'model_name: google/gemma-2-2b',
      'model_kind: transcoder_set',
      'feature_input_hook: ln2.hook_normalized',
      'feature_output_hook: hook_mlp_out',
      'activation: topk',
      'k: 64',
      'transcoders:',
      '- hf://google/gemma-scope-2b-pt-transcoders/layer_0/width_16k/average_l0_76/params.npz',
      '- "layer_1.safetensors"',
    ].join('\n');
    const config = parseCircuitTracerConfig(text, 'config.yaml');
    assert.equal(config.activation, 'topk');
    assert.equal(config.k, 64);
    assert.equal(config.transposedDecoders, false);
    assert.deepEqual(config.transcoders, [
      { layer: 0, path: 'hf://google/gemma-scope-2b-pt-transcoders/layer_0/width_16k/average_l0_76/params.npz' },
      { layer: 1, path: 'layer_1.safetensors' },
    ]);
    const clt = parseCircuitTracerConfig(
      'model_kind: cross_layer_transcoder\nfeature_input_hook: hook_resid_mid\nfeature_output_hook: hook_mlp_out\n',
      'clt.yaml',
    );
    assert.equal(clt.kind, 'cross_layer_transcoder');
    assert.equal(clt.transcoders, null);
  });

  it('YAML through the yaml library: scalars, quotes, flow lists, comments; malformed files and non-mappings refused by line', () => {
    assert.deepEqual(parseConfigYaml("a: 1\nb: 'it''s'\nc: \"x # not a comment\"\nd: [1, two, 3.5]\ne: true\nf: ~\ng: plain text # comment\n", 'y'), {
      a: 1,
      b: "it's",
      c: 'x # not a comment',
      d: [1, 'two', 3.5],
      e: true,
      f: null,
      g: 'plain text',
    });
    for (const [text, pattern] of [
      ['a: "open\n', /^y\.yaml, line \d: Missing closing "quote\./],
      ['a: 1\na: 2\n', /^y\.yaml, line 2: .*unique/i],
      ['list:\n  - a: 1\n   b: 2\n', /^y\.yaml, line 3: /],
      ['just text\n', /not a mapping/],
      ['- a\n- b\n', /not a mapping/],
      ['base: &x [1]\nother: *x\n', /^y\.yaml: .*alias/i],
    ] as const) {
      assert.throws(
        () => parseConfigYaml(text, 'y.yaml'),
        (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && pattern.test(e.message),
        text,
      );
    }
  });

  it("short hook names made full per layer (mlp.hook_out is TransformerLens's hook_mlp_out)", () => {
    assert.equal(fullHookName('mlp.hook_out', 3), 'blocks.3.hook_mlp_out');
    assert.equal(fullHookName('hook_mlp_out', 3), 'blocks.3.hook_mlp_out');
    assert.equal(fullHookName('ln2.hook_normalized', 0), 'blocks.0.ln2.hook_normalized');
    assert.equal(fullHookName('mlp.hook_in', 2), 'blocks.2.mlp.hook_in');
    assert.equal(fullHookName('hook_resid_mid', 5), 'blocks.5.hook_resid_mid');
  });
});

describe('hub references', () => {
  it('hf:// file references', () => {
    assert.deepEqual(parseHfUri('hf://mntss/skip-transcoder/layer_3.safetensors?revision=new-training', 'c'), {
      repo: 'mntss/skip-transcoder',
      path: 'layer_3.safetensors',
      revision: 'new-training',
    });
    assert.deepEqual(parseHfUri('hf://google/gemma-scope/layer_0/width_16k/params.npz', 'c'), {
      repo: 'google/gemma-scope',
      path: 'layer_0/width_16k/params.npz',
      revision: null,
    });
    assert.throws(
      () => parseHfUri('hf://just-a-name', 'c'),
      (e: Error & { code?: string }) => e.code === 'BAD_CONFIG',
    );
  });

  it('dictionary sources: owner/name[/sub/folder][@revision], hf://…?revision=, and the options', () => {
    assert.deepEqual(parseHubSource('jbloom/GPT2-Small-SAEs-Reformatted/blocks.8.hook_resid_pre'), {
      repo: 'jbloom/GPT2-Small-SAEs-Reformatted',
      subfolder: 'blocks.8.hook_resid_pre',
      revision: 'main',
    });
    assert.deepEqual(parseHubSource('google/gemma-scope-2b-pt-res/layer_5/width_16k/average_l0_71@v1'), {
      repo: 'google/gemma-scope-2b-pt-res',
      subfolder: 'layer_5/width_16k/average_l0_71',
      revision: 'v1',
    });
    assert.deepEqual(parseHubSource('hf://mntss/clt-gemma?revision=abc'), { repo: 'mntss/clt-gemma', subfolder: '', revision: 'abc' });
    assert.deepEqual(parseHubSource('owner/name', { subfolder: 'a/b', revision: 'dev' }), { repo: 'owner/name', subfolder: 'a/b', revision: 'dev' });
    assert.equal(parseHubSource('./local/folder'), null);
    assert.throws(
      () => parseHubSource('owner/name/../../etc'),
      (e: Error & { code?: string }) => e.code === 'BAD_ARGUMENT',
    );
  });
});
