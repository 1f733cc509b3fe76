/**
 * Gemma models through the CLI and the loader: random-model --arch gemma2|gemma3 writes the HF
 * layout, run writes TransformerLens-named tensors (with ln1_post/ln2_post scales), analyze says it
 * attributes the pre-softcap logit of a soft-capped model, patch runs, and broken configs or tensors
 * get typed errors naming what is wrong.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/engine/cli/main.js';
import { allHookNames } from '../../../src/engine/hooks.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGemma } from '../../../src/engine/model/random-gemma.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await main(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

for (const [arch, modelType, architecture] of [
  ['gemma2', 'gemma2', 'Gemma2ForCausalLM'],
  ['gemma3', 'gemma3_text', 'Gemma3ForCausalLM'],
] as const) {
  test(`random-model --arch ${arch} writes the HF layout; run, analyze and patch run on it`, async () => {
    const dir = mkdtempSync(join(tmpdir(), `ct-${arch}-cli-`));
    const made = await cli(['random-model', '--arch', arch, '--preset', 'tiny', '--seed', '3', '--out', dir]);
    assert.equal(made.code, 0, made.err);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config['model_type'], modelType);
    assert.deepEqual(config['architectures'], [architecture]);
    const weights = readSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors');
    assert.deepEqual(weights.get('model.layers.1.self_attn.k_proj.weight').shape, [48, 64]); // 2 kv heads x head_dim 24
    assert.deepEqual(weights.get('model.layers.0.pre_feedforward_layernorm.weight').shape, [64]);
    assert.ok(!weights.tensors.has('lm_head.weight'), 'tied to model.embed_tokens.weight');

    const file = join(dir, 'cache.safetensors');
    const run = await cli(['run', '--model', dir, '--prompt', 'The cat sat on the mat', '--hooks', 'all', '--out', file]);
    assert.equal(run.code, 0, run.err);
    const cache = readSafetensors(readFileSync(file), file);
    assert.deepEqual([...cache.tensors.keys()].sort(), [...allHookNames(2, 'gemma')].sort());
    assert.deepEqual(cache.get('blocks.0.attn.hook_k').shape, [1, 7, 2, 24]);
    assert.deepEqual(cache.get('blocks.1.ln1_post.hook_scale').shape, [1, 7, 1]);
    assert.deepEqual(cache.get('blocks.1.ln2_post.hook_scale').shape, [1, 7, 1]);

    const analyze = await cli(['analyze', '--model', dir, '--prompt', 'The cat sat on the mat. The cat', '--json']);
    assert.equal(analyze.code, 0, analyze.err);
    const analysis = JSON.parse(analyze.out) as { trace: { total: number; actual: number; logitSoftcap: number | null; components: Array<{ name: string }> } };
    assert.equal(analysis.trace.logitSoftcap, arch === 'gemma2' ? 5 : null);
    assert.equal(analysis.trace.components.length, 2 * (4 + 1) + 2, 'every head and MLP, embed and bias');
    assert.ok(Math.abs(analysis.trace.total - analysis.trace.actual) < 1e-3, 'DLA sums to the traced (pre-softcap) logit');
    const text = await cli(['analyze', '--model', dir, '--prompt', 'The cat sat on the mat. The cat']);
    assert.equal(text.code, 0, text.err);
    assert.equal(/circuit trace of the pre-softcap logit of/.test(text.out), arch === 'gemma2', text.out);
    for (const kind of ['heads-last', 'resid']) {
      const patch = await cli(['patch', '--model', dir, '--clean', 'The cat sat', '--corrupt', 'The dog sat', '--target', ' on', '--kind', kind, '--json']);
      assert.equal(patch.code, 0, patch.err);
      assert.ok((JSON.parse(patch.out) as { entries: unknown[] }).entries.length > 0, `${kind}: entries`);
    }
  });
}

async function folderWith(
  arch: 'gemma2' | 'gemma3_text',
  edit: (config: Record<string, unknown>, tensors: ReturnType<typeof generateRandomGemma>['tensors']) => void,
): Promise<string> {
  const model = generateRandomGemma(arch, 'tiny', 5);
  edit(model.config, model.tensors);
  const dir = mkdtempSync(join(tmpdir(), 'ct-gemma-bad-'));
  await writeHfFolder(dir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() });
  return dir;
}

const rejectsWith = (code: string, pattern: RegExp) => (e: Error & { code?: string }) => e.code === code && pattern.test(e.message);

test('an unknown rope_scaling type is BAD_CONFIG naming it', async () => {
  const dir = await folderWith('gemma3_text', (config) => (config['rope_scaling'] = { rope_type: 'yarn', factor: 4 }));
  await assert.rejects(loadModelFolder(dir), rejectsWith('BAD_CONFIG', /"rope_scaling" has rope type "yarn"/));
});

test('a tensor of the wrong shape is WRONG_SHAPE naming it, a missing one MISSING_TENSOR', async () => {
  const wrong = await folderWith('gemma2', (_, tensors) => {
    const i = tensors.findIndex((t) => t.name === 'model.layers.1.post_feedforward_layernorm.weight');
    tensors[i] = { name: tensors[i]!.name, shape: [32], data: new Float32Array(32) };
  });
  await assert.rejects(
    loadModelFolder(wrong),
    rejectsWith('WRONG_SHAPE', /"model\.layers\.1\.post_feedforward_layernorm\.weight" has shape \[32\], expected \[64\]/),
  );
  const missing = await folderWith('gemma3_text', (_, tensors) =>
    tensors.splice(
      tensors.findIndex((t) => t.name === 'model.layers.0.self_attn.q_norm.weight'),
      1,
    ),
  );
  await assert.rejects(loadModelFolder(missing), rejectsWith('MISSING_TENSOR', /"model\.layers\.0\.self_attn\.q_norm\.weight"/));
});

test('unimplemented config flags are refused by name, and a multimodal gemma3 without a text_config', async () => {
  for (const [key, value] of [
    ['attention_bias', true],
    ['hidden_activation', 'gelu'],
    ['use_bidirectional_attention', true],
    ['attn_logit_softcapping', -1],
  ] as const) {
    const dir = await folderWith('gemma2', (config) => (config[key] = value));
    await assert.rejects(loadModelFolder(dir), rejectsWith('BAD_CONFIG', new RegExp(`"${key}"`)), key);
  }
  const multimodal = await folderWith('gemma3_text', (config) => (config['model_type'] = 'gemma3'));
  await assert.rejects(loadModelFolder(multimodal), rejectsWith('BAD_CONFIG', /needs a "text_config"/));
});
