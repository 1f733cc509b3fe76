/**
 * `circuit-trace random-dictionary`: writes a loadable dictionary for a random model whose features
 * fire sparsely (1–10% of (position, feature) pairs) on another prompt of random tokens, measured
 * by a float64 encoding written here from the definitions (ReLU, JumpReLU, LayerNorm before ln2's weight).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from '../../../src/engine/cli/main.js';
import type { DictionaryLayer } from '../../../src/engine/features/dictionary.js';
import { loadDictionary } from '../../../src/engine/features/load-dictionary.js';
import type { HookName } from '../../../src/engine/hooks.js';
import { loadModel } from '../../../src/engine/model/load-model.js';
import { randomModelFolder } from '../../helpers/model-fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'ct-random-dictionary-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

/** mulberry32, for prompt ids independent of the generator's own sample. */
function randomIds(seed: number, n: number, vocab: number): number[] {
  let state = seed >>> 0;
  return Array.from({ length: n }, () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * vocab);
  });
}

/** The share of (position, feature) pairs that fire, from x [pos, d] (float64 encode). */
function firingShare(layer: DictionaryLayer, x: Float64Array, positions: number): number {
  const { dIn: d, dSae: n } = layer;
  let fired = 0;
  for (let p = 0; p < positions; p++) {
    for (let f = 0; f < n; f++) {
      let pre = layer.b_enc[f]!;
      for (let c = 0; c < d; c++) pre += (x[p * d + c]! - (layer.applyBDecToInput ? layer.b_dec[0]![c]! : 0)) * layer.W_enc[c * n + f]!;
      const on = layer.activation.kind === 'jumprelu' ? pre > layer.activation.threshold[f]! : pre > 0;
      if (on) fired++;
    }
  }
  return fired / (positions * n);
}

/** LayerNorm's normalised value before its weight: (x − mean) / sqrt(var + eps), per row of d. */
function layerNormalized(x: Float32Array, d: number, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let mean = 0;
    for (let c = 0; c < d; c++) mean += x[r * d + c]!;
    mean /= d;
    let variance = 0;
    for (let c = 0; c < d; c++) variance += (x[r * d + c]! - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / d + eps);
    for (let c = 0; c < d; c++) out[r * d + c] = (x[r * d + c]! - mean) * inv;
  }
  return out;
}

describe('random-dictionary CLI', () => {
  it('writes sparse SAEs and transcoders for a random GPT-2 that load back', async () => {
    const { dir: modelDir } = await randomModelFolder('tiny', 1);
    const loaded = await loadModel({ kind: 'folder', path: modelDir }, { device: 'cpu', maxTokens: 256, offline: true });
    try {
      const config = loaded.runner.config;
      const ids = randomIds(99, 48, config.dVocab);
      const run = await loaded.runner.forward(ids, {
        hooks: ['blocks.0.hook_resid_pre', 'blocks.1.hook_resid_pre', 'blocks.0.hook_resid_mid', 'blocks.1.hook_resid_mid'] as HookName[],
      });
      const hook = (name: string): Float32Array => run.cache.get(name as HookName)!.data;
      const cases = [
        { format: 'saelens', activation: 'relu', input: (l: number) => Float64Array.from(hook(`blocks.${l}.hook_resid_pre`)) },
        {
          format: 'transcoder',
          activation: 'jumprelu',
          extra: ['--input-hook', 'ln2.hook_normalized'],
          input: (l: number) => layerNormalized(hook(`blocks.${l}.hook_resid_mid`), config.dModel, config.eps),
        },
        { format: 'clt', activation: 'relu', input: (l: number) => Float64Array.from(hook(`blocks.${l}.hook_resid_mid`)) },
      ];
      for (const c of cases) {
        const out = join(root, c.format);
        const result = await cli([
          'random-dictionary',
          '--model',
          modelDir,
          '--format',
          c.format,
          '--width',
          '256',
          '--activation',
          c.activation,
          '--seed',
          '4',
          '--out',
          out,
          ...(c.extra ?? []),
        ]);
        assert.equal(result.code, 0, result.err);
        assert.match(result.out, new RegExp(`Wrote a random ${c.format} dictionary`));
        const dictionary = await loadDictionary(out, config);
        try {
          assert.deepEqual(
            dictionary.layers.map((l) => l.layer),
            [0, 1],
          );
          for (const layer of dictionary.layers) {
            const share = firingShare(layer, c.input(layer.layer), ids.length);
            assert.ok(share >= 0.01 && share <= 0.1, `${c.format} layer ${layer.layer}: ${(share * 100).toFixed(1)}% of features fire`);
          }
        } finally {
          dictionary.dispose();
        }
      }
    } finally {
      await loaded.runner.dispose();
    }
  });

  it('refuses bad flags with a one-line error and exit code 2', async () => {
    const { dir: modelDir } = await randomModelFolder('tiny', 1);
    const base = ['random-dictionary', '--model', modelDir, '--width', '8', '--out', join(root, 'bad')];
    for (const [args, pattern] of [
      [['--format', 'parquet', '--activation', 'relu'], /--format saelens\|transcoder\|clt\|gemma-scope-npz/],
      [['--format', 'saelens', '--activation', 'gelu'], /--activation relu\|topk\|jumprelu/],
      [['--format', 'saelens', '--activation', 'relu', '--layers', '5'], /Layer 5 does not exist/],
      [['--format', 'saelens', '--activation', 'relu', '--k', '3'], /--k is for --activation topk/],
      [['--format', 'gemma-scope-npz', '--activation', 'relu'], /JumpReLU/],
      [['--format', 'clt', '--activation', 'relu', '--layers', '1'], /covers every layer/],
    ] as const) {
      const result = await cli([...base, ...args]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.err}`);
      assert.match(result.err, pattern);
    }
  });
});
