/**
 * Llama-family models through the CLI and the loader: random-model --arch writes the HF layout,
 * run writes TransformerLens-named tensors, analyze and patch run (exit 0), and broken
 * configs or tensors get typed errors naming what is wrong.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/engine/cli/main.js';
import { allHookNames } from '../../../src/engine/hooks.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomLlama } from '../../../src/engine/model/random-llama.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await main(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

test('random-model --arch llama writes the HF layout, and run --hooks all writes TransformerLens-named tensors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-llama-cli-'));
  const made = await cli(['random-model', '--arch', 'llama', '--preset', 'tiny', '--seed', '3', '--out', dir]);
  assert.equal(made.code, 0, made.err);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config['model_type'], 'llama');
  assert.deepEqual(config['architectures'], ['LlamaForCausalLM']);
  const weights = readSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors');
  assert.deepEqual(weights.get('model.layers.1.self_attn.k_proj.weight').shape, [32, 64]); // 2 kv heads x 16
  assert.deepEqual(weights.get('lm_head.weight').shape, [50257, 64]);

  const file = join(dir, 'cache.safetensors');
  const run = await cli(['run', '--model', dir, '--prompt', 'The cat sat on the mat', '--hooks', 'all', '--out', file]);
  assert.equal(run.code, 0, run.err);
  const cache = readSafetensors(readFileSync(file), file);
  assert.deepEqual([...cache.tensors.keys()].sort(), [...allHookNames(2, 'llama')].sort());
  assert.deepEqual(cache.get('blocks.0.attn.hook_k').shape, [1, 7, 2, 16]);
  assert.deepEqual(cache.get('blocks.0.attn.hook_rot_q').shape, [1, 7, 4, 16]);
  assert.deepEqual(cache.get('blocks.1.attn.hook_pattern').shape, [1, 4, 7, 7]);
  assert.deepEqual(cache.get('blocks.1.mlp.hook_pre_linear').shape, [1, 7, 128]);
  assert.deepEqual(cache.get('blocks.1.ln2.hook_scale').shape, [1, 7, 1]);

  const analyze = await cli(['analyze', '--model', dir, '--prompt', 'The cat sat', '--json']);
  assert.equal(analyze.code, 0, analyze.err);
  const analysis = JSON.parse(analyze.out) as { trace: { total: number; actual: number; components: Array<{ name: string }> } };
  const names = analysis.trace.components.map((c) => c.name);
  assert.ok(names.includes('embed') && names.includes('bias') && !names.includes('pos_embed'), 'a rotary model has no pos_embed component');
  assert.equal(names.length, 2 * (4 + 1) + 2, 'every head and MLP, embed and bias');
  assert.ok(Math.abs(analysis.trace.total - analysis.trace.actual) < 1e-4, 'DLA sums to the traced logit');
  for (const kind of ['heads-last', 'resid']) {
    const patch = await cli(['patch', '--model', dir, '--clean', 'The cat sat', '--corrupt', 'The dog sat', '--target', ' on', '--kind', kind, '--json']);
    assert.equal(patch.code, 0, patch.err);
    assert.ok((JSON.parse(patch.out) as { entries: unknown[] }).entries.length > 0, `${kind}: entries`);
  }
});

async function folderWith(edit: (config: Record<string, unknown>, tensors: ReturnType<typeof generateRandomLlama>['tensors']) => void): Promise<string> {
  const model = generateRandomLlama('llama', 'tiny', 5);
  edit(model.config, model.tensors);
  const dir = mkdtempSync(join(tmpdir(), 'ct-llama-bad-'));
  await writeHfFolder(dir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() });
  return dir;
}

test('an unknown rope_scaling type is BAD_CONFIG naming it', async () => {
  const dir = await folderWith((config) => (config['rope_scaling'] = { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32 }));
  await assert.rejects(loadModelFolder(dir), (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /rope type "yarn"/.test(e.message));
});

test('a tensor of the wrong shape is WRONG_SHAPE naming it', async () => {
  const dir = await folderWith((_, tensors) => {
    const i = tensors.findIndex((t) => t.name === 'model.layers.1.self_attn.v_proj.weight');
    tensors[i] = { name: tensors[i]!.name, shape: [64, 64], data: new Float32Array(64 * 64) };
  });
  await assert.rejects(
    loadModelFolder(dir),
    (e: Error & { code?: string }) =>
      e.code === 'WRONG_SHAPE' && e.message.includes('"model.layers.1.self_attn.v_proj.weight" has shape [64, 64], expected [32, 64]'),
  );
});

test('other unimplemented config flags are refused by name', async () => {
  const dir = await folderWith((config) => (config['hidden_act'] = 'gelu'));
  await assert.rejects(loadModelFolder(dir), (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /"hidden_act"/.test(e.message));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...generateRandomLlama('llama', 'tiny', 5).config, mlp_bias: true }));
  await assert.rejects(loadModelFolder(dir), (e: Error & { code?: string }) => e.code === 'BAD_CONFIG' && /"mlp_bias"/.test(e.message));
});
