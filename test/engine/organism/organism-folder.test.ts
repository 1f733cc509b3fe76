/**
 * The organism as files: a Hugging Face GPT-2 folder, byte-identical on every generation,
 * generated once and atomically by ensureOrganism, and written by the `organism` and
 * `random-model` CLI commands.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { organismCommand, randomModelCommand } from '../../../src/engine/cli/model-commands.js';
import { parseFlags } from '../../../src/engine/cli/command.js';
import { EngineError } from '../../../src/engine/errors.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';
import { ensureOrganism, isOrganismFolder, ORGANISM_VERSION, writeOrganismFolder } from '../../../src/engine/organism/index.js';
import { ORGANISM_DISPLAY_NAME, ORGANISM_SEED } from '../../../src/engine/organism/organism-design.js';

const root = mkdtempSync(join(tmpdir(), 'organism-folder-'));
after(() => rmSync(root, { recursive: true, force: true }));

function filesOf(dir: string): Map<string, Buffer> {
  return new Map(
    readdirSync(dir)
      .sort()
      .map((name) => [name, readFileSync(join(dir, name))]),
  );
}

function io() {
  const out: string[] = [];
  return { out, io: { stdout: (t: string) => out.push(t), stderr: (t: string) => out.push(t) } };
}

test('two generations are byte-identical; another seed changes only the weights', async () => {
  const a = join(root, 'a');
  const b = join(root, 'b');
  const c = join(root, 'c');
  await writeOrganismFolder(a);
  await writeOrganismFolder(b);
  await writeOrganismFolder(c, ORGANISM_SEED + 1);
  const fa = filesOf(a);
  const fb = filesOf(b);
  assert.deepEqual([...fa.keys()], ['config.json', 'model.safetensors', 'organism.json', 'tokenizer.json']);
  for (const [name, bytes] of fa) assert.ok(bytes.equals(fb.get(name)!), `${name} differs between two generations`);
  const fc = filesOf(c);
  assert.ok(fa.get('config.json')!.equals(fc.get('config.json')!));
  assert.ok(fa.get('tokenizer.json')!.equals(fc.get('tokenizer.json')!));
  assert.ok(!fa.get('model.safetensors')!.equals(fc.get('model.safetensors')!));
});

test('the folder is a GPT-2 checkpoint in Hugging Face layout that the model loader reads', async () => {
  const dir = join(root, 'a');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config['model_type'], 'gpt2');
  assert.equal(config['activation_function'], 'gelu_new');
  assert.deepEqual([config['n_layer'], config['n_head'], config['n_embd'], config['n_positions'], config['vocab_size']], [2, 4, 256, 1024, 50257]);
  const file = readSafetensors(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors');
  const names = [...file.tensors.keys()];
  assert.ok(names.includes('wte.weight') && names.includes('h.1.attn.c_attn.weight') && names.includes('ln_f.weight'));
  assert.ok(!names.some((n) => n.endsWith('.attn.bias')), 'no causal-mask buffers');
  assert.ok(!names.includes('lm_head.weight'), 'the unembedding is tied to wte, as in GPT-2');

  const loaded = await loadModelFolder(dir);
  assert.equal(loaded.model.config.nLayers, 2);
  assert.equal(loaded.model.config.bosTokenId, 50256);
  // The real GPT-2 tokenizer: the presets tokenize as they do for GPT-2.
  assert.deepEqual(loaded.tokenizer.encode('The cat sat on the mat.').ids, [464, 3797, 3332, 319, 262, 2603, 13]);
});

test('ensureOrganism generates once, then reuses the folder', async () => {
  const dir = join(root, 'store', 'organism');
  assert.equal(await isOrganismFolder(dir), false);
  assert.equal(await ensureOrganism(dir), dir);
  assert.equal(await isOrganismFolder(dir), true);
  const written = statSync(join(dir, 'model.safetensors')).mtimeMs;
  await ensureOrganism(dir);
  assert.equal(statSync(join(dir, 'model.safetensors')).mtimeMs, written, 'not rewritten');
  // No temporary siblings are left behind.
  assert.deepEqual(readdirSync(join(root, 'store')), ['organism']);
  const reference = filesOf(join(root, 'a'));
  for (const [name, bytes] of filesOf(dir)) assert.ok(bytes.equals(reference.get(name)!), name);
});

test('ensureOrganism replaces an incomplete folder or one from another version', async () => {
  const dir = join(root, 'broken', 'organism');
  await ensureOrganism(dir);
  rmSync(join(dir, 'tokenizer.json'));
  assert.equal(await isOrganismFolder(dir), false);
  await ensureOrganism(dir);
  assert.equal(await isOrganismFolder(dir), true);

  const reference = filesOf(join(root, 'a'));
  const marker = JSON.parse(reference.get('organism.json')!.toString('utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'organism.json'), JSON.stringify({ ...marker, version: ORGANISM_VERSION - 1 }));
  assert.equal(await isOrganismFolder(dir), false, 'an older version');
  await ensureOrganism(dir);
  assert.equal(await isOrganismFolder(dir), true);

  writeFileSync(join(dir, 'model.safetensors'), reference.get('model.safetensors')!.subarray(0, 1000));
  assert.equal(await isOrganismFolder(dir), false, 'truncated weights');
  await ensureOrganism(dir);
  assert.equal(await isOrganismFolder(dir), true);
  assert.ok(
    filesOf(dir)
      .get('model.safetensors')!
      .equals(filesOf(join(root, 'a')).get('model.safetensors')!),
  );
  assert.deepEqual(readdirSync(join(root, 'broken')), ['organism']);
});

test('concurrent ensureOrganism calls both end with one complete folder', async () => {
  const dir = join(root, 'race', 'organism');
  const [x, y] = await Promise.all([ensureOrganism(dir), ensureOrganism(dir)]);
  assert.equal(x, dir);
  assert.equal(y, dir);
  assert.equal(await isOrganismFolder(dir), true);
  assert.deepEqual(readdirSync(join(root, 'race')), ['organism']);
});

test('`circuit-trace organism --out DIR` writes the organism folder', async () => {
  const dir = join(root, 'cli-organism');
  const { out, io: streams } = io();
  await organismCommand.run(parseFlags(['--out', dir]), streams);
  const reference = filesOf(join(root, 'a'));
  for (const [name, bytes] of filesOf(dir)) assert.ok(bytes.equals(reference.get(name)!), name);
  assert.match(out.join(''), /L1H0 induction/);
  await assert.rejects(organismCommand.run(parseFlags([]), streams), (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT');
  await assert.rejects(
    organismCommand.run(parseFlags(['--out', dir, '--preset', 'tiny']), streams),
    (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT',
  );
});

test('`circuit-trace random-model --preset tiny --seed N --out DIR` writes a loadable random GPT-2', async () => {
  const dir = join(root, 'cli-random');
  const { out, io: streams } = io();
  await randomModelCommand.run(parseFlags(['--preset', 'tiny', '--seed', '5', '--out', dir]), streams);
  assert.match(out.join(''), /2 layers, 4 heads, d_model 64; seed 5/);
  const loaded = await loadModelFolder(dir);
  assert.equal(loaded.model.config.dModel, 64);
  const again = join(root, 'cli-random-2');
  await randomModelCommand.run(parseFlags(['--preset', 'tiny', '--seed', '5', '--out', again]), streams);
  assert.ok(filesOf(dir).get('model.safetensors')!.equals(filesOf(again).get('model.safetensors')!), 'same seed, same bytes');
  for (const bad of [
    ['--out', dir],
    ['--preset', 'huge', '--out', dir],
    ['--preset', 'tiny'],
    ['--preset', 'tiny', '--seed', 'x', '--out', dir],
  ]) {
    await assert.rejects(
      randomModelCommand.run(parseFlags(bad), streams),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_ARGUMENT',
      bad.join(' '),
    );
  }
});

test('models/registry.json lists the organism under its display name, the three GPT-2 checkpoints', () => {
  const registry = JSON.parse(readFileSync(fileURLToPath(new URL('../../../models/registry.json', import.meta.url)), 'utf8')) as {
    models: Array<Record<string, unknown>>;
  };
  const organism = registry.models.find((m) => m['kind'] === 'organism')!;
  assert.equal(organism['displayName'], ORGANISM_DISPLAY_NAME);
  assert.deepEqual([organism['nLayers'], organism['nHeads'], organism['dModel']], [2, 4, 256]);
  const size = statSync(join(root, 'a', 'model.safetensors')).size + statSync(join(root, 'a', 'tokenizer.json')).size;
  assert.ok(Math.abs((organism['sizeBytes'] as number) - size) < 0.1 * size, `registry says ${String(organism['sizeBytes'])}, files are ${size}`);
  const repos = registry.models.filter((m) => typeof m['repo'] === 'string');
  assert.deepEqual(
    repos.filter((m) => m['modelType'] === 'gpt2').map((m) => m['repo']),
    ['openai-community/gpt2', 'distilbert/distilgpt2', 'openai-community/gpt2-medium'],
  );
  for (const m of repos) {
    assert.equal(typeof m['displayName'], 'string');
    assert.ok((m['sizeBytes'] as number) > 1e8);
  }
});
