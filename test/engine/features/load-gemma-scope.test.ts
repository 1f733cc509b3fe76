/**
 * Gemma Scope's params.npz: loaded with every tensor as written, converted once into
 * params.safetensors beside it (atomically: a crashed conversion's temporary file and lock are
 * harmless, two processes converting at once give one conversion), converted again when the npz
 * changes, and bad files refused with typed errors.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DictionaryModelConfig } from '../../../src/engine/features/dictionary-hooks.js';
import { convertedPath, ensureConverted } from '../../../src/engine/features/gemma-scope.js';
import { acquireBlobLock } from '../../../src/engine/model/hub/blob-lock.js';
import { loadDictionary } from '../../../src/engine/features/load-dictionary.js';
import { npzBytes } from '../../../src/engine/features/npz-writer.js';
import { generateRandomDictionary, type RandomDictionary } from '../../../src/engine/features/random-dictionary.js';
import { writeRandomDictionary } from '../../../src/engine/features/random-dictionary-writer.js';

const MODEL: DictionaryModelConfig = { nLayers: 3, dModel: 8 };
const CHILD = join(import.meta.dirname, '..', '..', 'helpers', 'npz-convert-child.ts');
const root = mkdtempSync(join(tmpdir(), 'ct-load-gemma-scope-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function written(layers: number[], seed: number): Promise<{ dir: string; dictionary: RandomDictionary; npz: string[] }> {
  const dir = mkdtempSync(join(root, 'gs-'));
  const dictionary = generateRandomDictionary({ format: 'gemma-scope-npz', layers, width: 12, activation: 'jumprelu', seed }, MODEL);
  const files = await writeRandomDictionary(dir, dictionary, { inputHook: 'hook_resid_post', outputHook: 'hook_resid_post', modelName: 'test-model' });
  return { dir, dictionary, npz: files.map((f) => join(dir, f)) };
}

/** A params.npz written by hand, with the arrays given. */
function npzWith(arrays: Record<string, { shape: number[]; data: Float32Array }>): string {
  const dir = mkdtempSync(join(root, 'hand-'));
  const folder = join(dir, 'layer_1', 'width_4', 'average_l0_1');
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'params.npz'), npzBytes(Object.entries(arrays).map(([name, a]) => ({ name, ...a }))));
  return join(folder, 'params.npz');
}

function goodArrays(): Record<string, { shape: number[]; data: Float32Array }> {
  const fill = (n: number, f: (i: number) => number): Float32Array => Float32Array.from({ length: n }, (_, i) => f(i));
  return {
    W_enc: { shape: [8, 4], data: fill(32, (i) => (i % 7) / 7 - 0.4) },
    W_dec: { shape: [4, 8], data: fill(32, (i) => (i % 5) / 5 - 0.3) },
    b_enc: { shape: [4], data: fill(4, (i) => -0.1 * i) },
    b_dec: { shape: [8], data: fill(8, (i) => 0.01 * i) },
    threshold: { shape: [4], data: fill(4, (i) => 0.05 * (i + 1)) },
  };
}

function leftovers(folder: string): string[] {
  return readdirSync(folder).filter((name) => name.endsWith('.tmp') || name.includes('.lock'));
}

describe('Gemma Scope params.npz', () => {
  it('a folder of layer_N folders loads as one dictionary with every tensor as written', async () => {
    const { dir, dictionary, npz } = await written([0, 2], 1);
    const loaded = await loadDictionary(dir, MODEL);
    try {
      assert.equal(loaded.kind, 'sae');
      assert.deepEqual(
        loaded.layers.map((l) => l.layer),
        [0, 2],
      );
      loaded.layers.forEach((layer, i) => {
        const w = dictionary.layers[i]!;
        assert.equal(layer.inputHook, `blocks.${layer.layer}.hook_resid_post`);
        assert.deepEqual(layer.outputHooks, [`blocks.${layer.layer}.hook_resid_post`]);
        assert.deepEqual(Array.from(layer.W_enc), Array.from(w.W_enc));
        assert.deepEqual(Array.from(layer.b_enc), Array.from(w.b_enc));
        assert.deepEqual(Array.from(layer.b_dec[0]!), Array.from(w.b_dec[0]!));
        assert.equal(layer.activation.kind, 'jumprelu');
        if (layer.activation.kind === 'jumprelu') assert.deepEqual(Array.from(layer.activation.threshold), Array.from(w.threshold!));
        assert.equal(layer.applyBDecToInput, false);
        assert.deepEqual(Array.from(layer.decoder(0).all()), Array.from(w.W_dec[0]!));
        assert.deepEqual(Array.from(layer.decoder(0).rows([5])), Array.from(w.W_dec[0]!.subarray(5 * 8, 6 * 8)));
      });
    } finally {
      loaded.dispose();
    }
    for (const path of npz) assert.ok(statSync(convertedPath(path)).isFile(), 'params.safetensors beside params.npz');
  });

  it('one folder, read as a transcoder with the hooks given; a params.npz path with its layer given', async () => {
    const { npz } = await written([2], 2);
    const transcoder = await loadDictionary(dirname(npz[0]!), MODEL, { inputHook: 'ln2.hook_normalized', outputHook: 'hook_mlp_out' });
    try {
      assert.equal(transcoder.kind, 'transcoder');
      assert.equal(transcoder.layers[0]!.inputHook, 'blocks.2.ln2.hook_normalized');
      assert.deepEqual(transcoder.layers[0]!.outputHooks, ['blocks.2.hook_mlp_out']);
      // Gemma Scope was trained on Gemma 2's own activations: no TransformerLens processing.
      assert.deepEqual(transcoder.layers[0]!.processing, { centerWritingWeights: false, foldLn: false });
    } finally {
      transcoder.dispose();
    }
    const elsewhere = join(mkdtempSync(join(root, 'flat-')), 'params.npz');
    copyFileSync(npz[0]!, elsewhere);
    await assert.rejects(loadDictionary(elsewhere, MODEL), (e: Error & { code?: string }) => e.code === 'BAD_ARGUMENT' && /layer_N/.test(e.message));
    const atLayer = await loadDictionary(elsewhere, MODEL, { layer: 1 });
    try {
      assert.equal(atLayer.layers[0]!.layer, 1);
      assert.equal(atLayer.layers[0]!.inputHook, 'blocks.1.hook_resid_post');
    } finally {
      atLayer.dispose();
    }
  });

  it('converts once: a second load reads the converted file without rewriting it', async () => {
    const { npz } = await written([1], 3);
    assert.deepEqual(await ensureConverted(npz[0]!), { path: convertedPath(npz[0]!), converted: true });
    const first = statSync(convertedPath(npz[0]!));
    assert.deepEqual(await ensureConverted(npz[0]!), { path: convertedPath(npz[0]!), converted: false });
    (await loadDictionary(dirname(npz[0]!), MODEL)).dispose();
    const second = statSync(convertedPath(npz[0]!));
    assert.equal(second.ino, first.ino);
    assert.equal(second.mtimeMs, first.mtimeMs);
    assert.deepEqual(leftovers(dirname(npz[0]!)), []);
  });

  it('two processes converting at once: one converts, the other uses its file, nothing is left half-written', async () => {
    const { npz, dictionary } = await written([0], 4);
    const path = npz[0]!;
    const run = (): Promise<{ ok: boolean; converted?: boolean; message?: string }> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        child.on('error', reject);
        child.on('close', () => {
          try {
            resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as { ok: boolean; converted?: boolean });
          } catch {
            reject(new Error(`the conversion child printed no result: ${out}\n${err}`));
          }
        });
      });
    // Holding the conversion lock while the children start makes them wait for it together.
    const held = await acquireBlobLock(`${convertedPath(path)}.lock`);
    const children = [run(), run(), run()];
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await held.release();
    const results = await Promise.all(children);
    assert.ok(
      results.every((r) => r.ok),
      JSON.stringify(results),
    );
    assert.equal(results.filter((r) => r.converted === true).length, 1, JSON.stringify(results));
    assert.deepEqual(leftovers(dirname(path)), []);
    const loaded = await loadDictionary(dirname(path), MODEL);
    try {
      assert.deepEqual(Array.from(loaded.layers[0]!.decoder(0).all()), Array.from(dictionary.layers[0]!.W_dec[0]!));
    } finally {
      loaded.dispose();
    }
  });

  it('a crashed conversion (its temporary file and a dead process lock left behind) does not stop the next one', async () => {
    const { npz, dictionary } = await written([1], 5);
    const path = npz[0]!;
    const target = convertedPath(path);
    writeFileSync(`${target}.3f1c2a.tmp`, Buffer.from('half a file'));
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(`${target}.lock`, JSON.stringify({ pid: Number(dead.stdout), hostname: hostname(), acquiredAt: Date.now(), token: 'crashed' }));
    const loaded = await loadDictionary(dirname(path), MODEL);
    try {
      assert.deepEqual(Array.from(loaded.layers[0]!.W_enc), Array.from(dictionary.layers[0]!.W_enc));
    } finally {
      loaded.dispose();
    }
    assert.ok(!readdirSync(dirname(path)).includes('params.safetensors.lock'), 'the stale lock is gone');
  });

  it('a changed params.npz is converted again', async () => {
    const path = npzWith(goodArrays());
    const before = await loadDictionary(path, MODEL);
    const oldEnc = Array.from(before.layers[0]!.W_enc);
    before.dispose();
    const arrays = goodArrays();
    arrays['W_enc'] = { shape: [8, 4], data: Float32Array.from({ length: 32 }, (_, i) => i / 100) };
    arrays['extra'] = { shape: [1], data: new Float32Array([1]) }; // a different size, whatever the clock's resolution
    writeFileSync(path, npzBytes(Object.entries(arrays).map(([name, a]) => ({ name, ...a }))));
    const after = await loadDictionary(path, MODEL);
    try {
      assert.notDeepEqual(Array.from(after.layers[0]!.W_enc), oldEnc);
      assert.deepEqual(
        Array.from(after.layers[0]!.W_enc),
        Array.from({ length: 32 }, (_, i) => Math.fround(i / 100)),
      );
    } finally {
      after.dispose();
    }
  });

  it('bad files get typed errors naming the problem', async () => {
    const cases: Array<[string, (a: ReturnType<typeof goodArrays>) => void, string, RegExp]> = [
      ['no threshold', (a) => delete a['threshold'], 'MISSING_TENSOR', /no array "threshold"/],
      ['NaN in the encoder', (a) => (a['W_enc']!.data[3] = NaN), 'NON_FINITE', /"W_enc"/],
      ['a decoder of the wrong shape', (a) => (a['W_dec'] = { shape: [8, 4], data: a['W_dec']!.data }), 'WRONG_SHAPE', /"W_dec" is \[8, 4\]/],
    ];
    for (const [what, edit, code, pattern] of cases) {
      const arrays = goodArrays();
      edit(arrays);
      await assert.rejects(loadDictionary(npzWith(arrays), MODEL), (e: Error & { code?: string }) => e.code === code && pattern.test(e.message), what);
    }
    await assert.rejects(
      loadDictionary(npzWith(goodArrays()), { nLayers: 3, dModel: 16 }),
      (e: Error & { code?: string }) => e.code === 'WRONG_SHAPE' && /d_model is 16/.test(e.message),
    );
    const truncated = npzWith(goodArrays());
    const bytes = npzBytes(Object.entries(goodArrays()).map(([name, a]) => ({ name, ...a })));
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 40));
    await assert.rejects(loadDictionary(truncated, MODEL), (e: Error & { code?: string }) => e.code === 'CORRUPT_WEIGHTS');
    assert.deepEqual(leftovers(dirname(truncated)), [], 'a failed conversion leaves no temporary file or lock');
  });
});
