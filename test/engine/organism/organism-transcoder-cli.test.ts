/**
 * `circuit-trace organism --out DIR --transcoder DIR` writes the organism and, beside it, its
 * transcoders in circuit-tracer's per-layer layout (organism-transcoder.test.ts checks their content).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/engine/cli/main.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';
import { generateOrganismTranscoder, transcoderConfigYaml } from '../../../src/engine/organism/transcoder-folder.js';

const root = mkdtempSync(join(tmpdir(), 'organism-transcoder-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await main(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
  return { code, out, err };
}

test('organism --transcoder DIR writes the transcoders of the organism of the same seed', async () => {
  const model = join(root, 'model');
  const transcoders = join(root, 'transcoders');
  const run = await cli(['organism', '--out', model, '--seed', '7', '--transcoder', transcoders]);
  assert.equal(run.code, 0, run.err);
  assert.match(
    run.out,
    /Wrote the organism's transcoders to .*transcoders: layer_0\.safetensors, layer_1\.safetensors, explanations\.json, config\.yaml, organism-transcoder\.json\n/,
  );
  assert.deepEqual(readdirSync(transcoders).sort(), [
    'config.yaml',
    'explanations.json',
    'layer_0.safetensors',
    'layer_1.safetensors',
    'organism-transcoder.json',
  ]);
  assert.ok(readdirSync(model).includes('model.safetensors'));
  // The transcoders are seed 7's: the monitors read seed 7's token codes.
  const seven = generateOrganismTranscoder(7);
  assert.equal(readFileSync(join(transcoders, 'config.yaml'), 'utf8'), transcoderConfigYaml(seven));
  const file = readSafetensors(readFileSync(join(transcoders, 'layer_0.safetensors')), 'layer_0.safetensors');
  assert.equal(file.metadata['organism_seed'], '7');
  const { dSae, W_enc } = seven.layers[0]!;
  const stored = file.get('W_enc').float32(); // [d_sae, d_model]
  for (let f = 0; f < dSae; f++) for (let i = 0; i < 256; i++) assert.equal(stored[f * 256 + i], W_enc[i * dSae + f]);
});

test('organism --transcoder without a folder is a usage error', async () => {
  const run = await cli(['organism', '--out', join(root, 'other'), '--transcoder']);
  assert.equal(run.code, 2);
  assert.match(run.err, /--transcoder needs a value/);
});
