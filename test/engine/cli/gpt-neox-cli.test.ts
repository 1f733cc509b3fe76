/**
 * GPT-NeoX (Pythia) models through the CLI: random-model --arch gpt_neox writes HF's layout and
 * Pythia's config keys, run --hooks all writes TransformerLens-named tensors (no hook_resid_mid with
 * the parallel residual), and analyze and patch run on it: no pos_embed component, DLA summing to
 * the traced metric, no BOS by default (Pythia's convention), every sweep kind, and no resid_mid site.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/engine/cli/main.js';
import { allHookNames } from '../../../src/engine/hooks.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await main(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

test('random-model --arch gpt_neox writes the HF layout; run --hooks all writes TransformerLens-named tensors; analyze and patch run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-neox-cli-'));
  const made = await cli(['random-model', '--arch', 'gpt_neox', '--preset', 'tiny', '--seed', '3', '--out', dir]);
  assert.equal(made.code, 0, made.err);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config['model_type'], 'gpt_neox');
  assert.deepEqual(config['architectures'], ['GPTNeoXForCausalLM']);
  assert.equal(config['rotary_pct'], 0.25);
  assert.equal(config['use_parallel_residual'], true);
  const weights = readSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors');
  assert.deepEqual(weights.get('gpt_neox.layers.1.attention.query_key_value.weight').shape, [192, 64]);
  assert.deepEqual(weights.get('gpt_neox.embed_in.weight').shape, [50257, 64]);
  assert.deepEqual(weights.get('embed_out.weight').shape, [50257, 64]);

  const file = join(dir, 'cache.safetensors');
  const run = await cli(['run', '--model', dir, '--prompt', 'The cat sat on the mat', '--hooks', 'all', '--out', file]);
  assert.equal(run.code, 0, run.err);
  const cache = readSafetensors(readFileSync(file), file);
  assert.deepEqual([...cache.tensors.keys()].sort(), [...allHookNames(2, 'neox')].sort());
  assert.ok(!cache.tensors.has('blocks.0.hook_resid_mid'));
  const P = cache.get('hook_embed').shape[1]!; // Pythia's convention: no BOS unless asked
  assert.deepEqual(cache.get('blocks.0.attn.hook_rot_k').shape, [1, P, 4, 16]);
  assert.deepEqual(cache.get('blocks.1.attn.hook_pattern').shape, [1, 4, P, P]);
  assert.deepEqual(cache.get('blocks.1.mlp.hook_post').shape, [1, P, 256]);
  assert.deepEqual(cache.get('blocks.1.ln1.hook_scale').shape, [1, P, 1]);

  for (const dla of ['tl', 'raw']) {
    const analyze = await cli(['analyze', '--model', dir, '--prompt', 'The cat sat', '--dla', dla, '--json']);
    assert.equal(analyze.code, 0, analyze.err);
    const analysis = JSON.parse(analyze.out) as { prependBos: boolean; trace: { total: number; actual: number; components: Array<{ name: string }> } };
    assert.equal(analysis.prependBos, false, "Pythia's default: no BOS");
    const names = analysis.trace.components.map((c) => c.name);
    assert.ok(names.includes('embed') && names.includes('bias') && !names.includes('pos_embed'), 'a rotary model has no pos_embed component');
    assert.equal(names.length, 2 * (4 + 1) + 2, 'every head and MLP, embed and bias');
    assert.ok(Math.abs(analysis.trace.total - analysis.trace.actual) < 1e-4, `${dla}: DLA sums to the traced logit`);
  }
  for (const kind of ['heads-last', 'heads-all', 'resid', 'attn', 'mlp']) {
    const patch = await cli(['patch', '--model', dir, '--clean', 'The cat sat', '--corrupt', 'The dog sat', '--target', ' on', '--kind', kind, '--json']);
    assert.equal(patch.code, 0, patch.err);
    assert.ok((JSON.parse(patch.out) as { entries: unknown[] }).entries.length > 0, `${kind}: entries`);
  }
});

test('hook_resid_mid is refused on a parallel-residual model (Pythia has none)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ct-neox-cli-'));
  assert.equal((await cli(['random-model', '--arch', 'gpt_neox', '--preset', 'tiny', '--seed', '3', '--out', dir])).code, 0);
  const run = await cli(['run', '--model', dir, '--prompt', 'The cat', '--hooks', 'blocks.0.hook_resid_mid', '--out', join(dir, 'cache.safetensors')]);
  assert.equal(run.code, 2);
  assert.match(run.err, /blocks\.0\.hook_resid_mid" is not a hook point of this model: GPT-NeoX models with the parallel residual/);
});

test('random-model --arch gpt_neox needs a known preset', async () => {
  const bad = await cli(['random-model', '--arch', 'gpt_neox', '--preset', 'huge', '--out', mkdtempSync(join(tmpdir(), 'ct-neox-cli-'))]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--arch gpt_neox needs --preset tiny or small/);
});
