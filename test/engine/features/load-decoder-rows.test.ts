/**
 * Decoders are read lazily: loading reads no decoder bytes; asking for rows reads only those rows
 * (one positioned read per run of consecutive rows, F16 kept on disk and converted per row), the
 * row cache answers repeated rows, the first layout's [d_model, d_sae] decoders read one span per
 * stored row, and a file changed after loading is refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SafetensorsDecoderRows } from '../../../src/engine/features/decoder-rows.js';
import type { DecoderRows } from '../../../src/engine/features/dictionary.js';
import type { DictionaryModelConfig } from '../../../src/engine/features/dictionary-hooks.js';
import { loadDictionary } from '../../../src/engine/features/load-dictionary.js';
import { generateRandomDictionary, type RandomDictionarySpec } from '../../../src/engine/features/random-dictionary.js';
import { writeRandomDictionary, type RandomDictionaryFiles } from '../../../src/engine/features/random-dictionary-writer.js';
import { STORED_ROUNDING } from '../../helpers/stored-precision.js';

const MODEL: DictionaryModelConfig = { nLayers: 2, dModel: 8 };
const D = 8;
const root = mkdtempSync(join(tmpdir(), 'ct-load-decoder-rows-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function written(spec: RandomDictionarySpec, files: Omit<RandomDictionaryFiles, 'modelName'>) {
  const dir = mkdtempSync(join(root, 'd-'));
  const dictionary = generateRandomDictionary(spec, MODEL);
  await writeRandomDictionary(dir, dictionary, { ...files, modelName: 'test' });
  return { dir, dictionary };
}

function stats(decoder: DecoderRows): { reads: number; bytesRead: number } {
  assert.ok(decoder instanceof SafetensorsDecoderRows);
  return { ...decoder.stats };
}

describe('lazy decoder rows', () => {
  it('an F16 SAE decoder: only the asked rows are read, converted per row, repeated rows from the cache', async () => {
    const { dir, dictionary } = await written(
      { format: 'saelens', layers: [1], width: 64, activation: 'relu', seed: 1 },
      { inputHook: 'hook_resid_pre', outputHook: 'hook_resid_pre', dtype: 'F16' },
    );
    const W_dec = dictionary.layers[0]!.W_dec[0]!;
    const expected = (f: number): number[] => Array.from(W_dec.subarray(f * D, (f + 1) * D), STORED_ROUNDING.F16);
    const loaded = await loadDictionary(dir, MODEL);
    try {
      const decoder = loaded.layers[0]!.decoder(0);
      assert.deepEqual(stats(decoder), { reads: 0, bytesRead: 0 }, 'loading reads no decoder bytes');
      assert.deepEqual(Array.from(decoder.rows([5])), expected(5));
      assert.deepEqual(stats(decoder), { reads: 1, bytesRead: D * 2 }, 'one F16 row');
      decoder.rows([5]);
      assert.deepEqual(stats(decoder), { reads: 1, bytesRead: D * 2 }, 'a cached row is not read again');
      const run = decoder.rows([8, 7, 9]);
      assert.deepEqual(Array.from(run), [...expected(8), ...expected(7), ...expected(9)]);
      assert.deepEqual(stats(decoder), { reads: 2, bytesRead: 4 * D * 2 }, 'consecutive rows in one read');
      decoder.rows([1, 40, 63, 5]);
      assert.deepEqual(stats(decoder), { reads: 5, bytesRead: 7 * D * 2 }, 'three more rows, three reads; row 5 from the cache');
      assert.ok(stats(decoder).bytesRead < 64 * D * 2, 'far less than the whole decoder');
    } finally {
      loaded.dispose();
    }
    const uncached = await loadDictionary(dir, MODEL, { decoderCacheRows: 0 });
    try {
      const decoder = uncached.layers[0]!.decoder(0);
      decoder.rows([5]);
      decoder.rows([5]);
      assert.deepEqual(stats(decoder), { reads: 2, bytesRead: 2 * D * 2 });
    } finally {
      uncached.dispose();
    }
  });

  it("the first layout's [d_model, d_sae] decoder: one span of each stored row", async () => {
    const { dir, dictionary } = await written(
      { format: 'transcoder', layers: [0], width: 20, activation: 'relu', seed: 2 },
      { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out', legacyLayout: true },
    );
    const loaded = await loadDictionary(dir, MODEL);
    try {
      const decoder = loaded.layers[0]!.decoder(0);
      const W_dec = dictionary.layers[0]!.W_dec[0]!;
      assert.deepEqual(Array.from(decoder.rows([5, 3])), [...W_dec.subarray(5 * D, 6 * D), ...W_dec.subarray(3 * D, 4 * D)]);
      assert.deepEqual(stats(decoder), { reads: D, bytesRead: D * 3 * 4 }, 'features 3..5 of each of the 8 stored rows');
    } finally {
      loaded.dispose();
    }
  });

  it("a cross-layer transcoder's decoder to a later layer reads that output's rows only", async () => {
    const { dir, dictionary } = await written(
      { format: 'clt', layers: [], width: 6, activation: 'relu', seed: 3 },
      { inputHook: 'hook_resid_mid', outputHook: 'hook_mlp_out' },
    );
    const loaded = await loadDictionary(dir, MODEL);
    try {
      const decoder = loaded.layers[0]!.decoder(1);
      assert.deepEqual(Array.from(decoder.rows([2, 3])), Array.from(dictionary.layers[0]!.W_dec[1]!.subarray(2 * D, 4 * D)));
      assert.deepEqual(stats(decoder), { reads: 2, bytesRead: 2 * D * 4 }, 'rows of one output are not contiguous: one read each');
    } finally {
      loaded.dispose();
    }
  });

  it('a decoder file changed after loading is CORRUPT_WEIGHTS', async () => {
    const { dir } = await written(
      { format: 'saelens', layers: [0], width: 4, activation: 'relu', seed: 4 },
      { inputHook: 'hook_resid_pre', outputHook: 'hook_resid_pre' },
    );
    const loaded = await loadDictionary(dir, MODEL);
    try {
      utimesSync(join(dir, 'sae_weights.safetensors'), new Date(), new Date(Date.now() + 60_000));
      assert.throws(
        () => loaded.layers[0]!.decoder(0).rows([1]),
        (e: Error & { code?: string }) => e.code === 'CORRUPT_WEIGHTS' && /changed on disk/.test(e.message),
      );
    } finally {
      loaded.dispose();
    }
  });
});
