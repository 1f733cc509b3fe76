/** `circuit-trace run`: the activation cache file, timing output and one-line errors. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/engine/cli/main.js';
import { readSafetensors } from '../../../src/engine/model/safetensors.js';
import { randomModelFolder } from '../../helpers/model-fixtures.js';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  const code = await main(args, {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

describe('circuit-trace run', () => {
  test('writes every hook point with a leading batch dimension, named as in TransformerLens', async () => {
    const fixture = await randomModelFolder('tiny', 21);
    const file = join(mkdtempSync(join(tmpdir(), 'ct-cli-')), 'cache.safetensors');
    const { code, err } = await cli(['run', '--model', fixture.dir, '--prompt', 'The cat sat on the mat', '--out', file]);
    assert.equal(code, 0, err);
    const st = readSafetensors(readFileSync(file), file);
    // A --prompt runs as TransformerLens's run_with_cache(prompt) does: <|endoftext|> first, 7 positions.
    assert.deepEqual(st.get('blocks.1.attn.hook_pattern').shape, [1, 4, 7, 7]);
    assert.deepEqual(st.get('blocks.0.attn.hook_z').shape, [1, 7, 4, 16]);
    assert.deepEqual(st.get('logits').shape, [1, 7, 50257]);
    assert.deepEqual(st.get('ln_final.hook_scale').shape, [1, 7, 1]);
    assert.equal(st.tensors.size, 2 + 2 * 10 + 2);
    assert.equal(st.metadata['token_ids'], JSON.stringify([50256, 464, 3797, 3332, 319, 262, 2603]));
    assert.equal(st.metadata['prepend_bos'], 'true');
    // A pattern row sums to one.
    const pattern = st.get('blocks.1.attn.hook_pattern').float32();
    const row = pattern.subarray(6 * 7, 7 * 7).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(row - 1) < 1e-5);
  });

  test('--no-prepend-bos runs the prompt as typed; --ids run exactly as given', async () => {
    const fixture = await randomModelFolder('tiny', 21);
    const dir = mkdtempSync(join(tmpdir(), 'ct-cli-'));
    const off = await cli([
      'run',
      '--model',
      fixture.dir,
      '--prompt',
      'The cat sat',
      '--no-prepend-bos',
      '--hooks',
      'logits',
      '--out',
      join(dir, 'off.safetensors'),
    ]);
    assert.equal(off.code, 0, off.err);
    const offFile = readSafetensors(readFileSync(join(dir, 'off.safetensors')), 'off');
    assert.equal(offFile.metadata['token_ids'], JSON.stringify([464, 3797, 3332]));
    assert.equal(offFile.metadata['prepend_bos'], 'false');
    const ids = await cli(['run', '--model', fixture.dir, '--ids', '464,3797', '--hooks', 'logits', '--out', join(dir, 'ids.safetensors')]);
    assert.equal(ids.code, 0, ids.err);
    assert.equal(readSafetensors(readFileSync(join(dir, 'ids.safetensors')), 'ids').metadata['token_ids'], JSON.stringify([464, 3797]));
  });

  test('--hooks selects hook points and --repeat prints the median forward time', async () => {
    const fixture = await randomModelFolder('tiny', 21);
    const file = join(mkdtempSync(join(tmpdir(), 'ct-cli-')), 'cache.safetensors');
    const { code, out, err } = await cli([
      'run',
      '--model',
      fixture.dir,
      '--ids',
      '1,2,3',
      '--hooks',
      'blocks.0.hook_resid_post,logits',
      '--out',
      file,
      '--repeat',
      '3',
    ]);
    assert.equal(code, 0, err);
    assert.match(out, /median forward \d+\.\d+ ms over 3 runs \(3 tokens/);
    assert.deepEqual([...readSafetensors(readFileSync(file), file).tensors.keys()].sort(), ['blocks.0.hook_resid_post', 'logits']);
  });

  test('bad input ends with a one-line error and a non-zero exit', async () => {
    const fixture = await randomModelFolder('tiny', 21);
    for (const args of [
      ['run', '--model', fixture.dir, '--prompt', '', '--out', '/tmp/never.safetensors'],
      ['run', '--model', fixture.dir, '--ids', '1,2', '--hooks', 'blocks.9.hook_z', '--out', '/tmp/never.safetensors'],
      ['run', '--model', '/no/such/folder', '--prompt', 'x', '--out', '/tmp/never.safetensors'],
      ['run', '--model', fixture.dir, '--prompt', 'a b c d', '--max-tokens', '2', '--out', '/tmp/never.safetensors'],
      ['nonsense'],
    ]) {
      const { code, err } = await cli(args);
      assert.equal(code, 2, `${args.join(' ')} -> ${err}`);
      assert.equal(err.trim().split('\n').length, 1, err);
    }
  });

  test('--out naming a folder or a file in a missing folder is a one-line error before the model runs; an existing file is replaced whole', async () => {
    // Before: the forward ran and then writing failed with a raw "EISDIR: illegal operation on a directory" and exit 1.
    const fixture = await randomModelFolder('tiny', 21);
    const dir = mkdtempSync(join(tmpdir(), 'circuit-trace-run-out-'));
    const folder = await cli(['run', '--model', fixture.dir, '--ids', '464,3797', '--hooks', 'logits', '--out', dir]);
    assert.equal(folder.code, 2, folder.err);
    assert.match(folder.err, /--out .* is a folder\. Give a file path/);
    assert.equal(folder.err.trim().split('\n').length, 1, folder.err);
    const missing = await cli(['run', '--model', fixture.dir, '--ids', '464,3797', '--hooks', 'logits', '--out', join(dir, 'no', 'such', 'cache.safetensors')]);
    assert.equal(missing.code, 2, missing.err);
    assert.match(missing.err, /does not exist/);
    const file = join(dir, 'cache.safetensors');
    writeFileSync(file, 'an older, longer file than the cache that replaces it '.repeat(10_000));
    const written = await cli(['run', '--model', fixture.dir, '--ids', '464,3797', '--hooks', 'logits', '--out', file]);
    assert.equal(written.code, 0, written.err);
    assert.deepEqual(readSafetensors(readFileSync(file), file).get('logits').shape, [1, 2, 50257]);
    assert.deepEqual(readdirSync(dir).sort(), ['cache.safetensors'], 'no temporary file is left beside it');
  });
});
