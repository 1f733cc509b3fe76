/**
 * Gemma checkpoints as the Hub stores them: BF16 and F16 weights (loaded as fp32), sharded with
 * model.safetensors.index.json, and the block matrices read as the runtime builds each block's graph
 * (the load streams them, as adapters/llama.ts's). Every hook point is checked against the float64
 * reference (test/helpers/reference-gemma.ts) run on the weights rounded to the stored precision;
 * the norm weights stay Gemma's 1 + w of the stored w.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../../../src/engine/errors.js';
import { allHookNames } from '../../../src/engine/hooks.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGemma } from '../../../src/engine/model/random-gemma.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { withinTolerance } from '../../helpers/model-fixtures.js';
import { referenceGemmaForward } from '../../helpers/reference-gemma.js';
import { STORED_ROUNDING } from '../../helpers/stored-precision.js';

/** 24 tokens: past the random models' sliding window (4). */
const IDS = Array.from({ length: 24 }, (_, i) => (i * 7919 + 13) % 50257);

const CASES = [
  { arch: 'gemma2', dtype: 'BF16', shards: 1 },
  { arch: 'gemma3_text', dtype: 'F16', shards: 1 },
  { arch: 'gemma3_text', dtype: 'BF16', shards: 3 },
] as const;

/** A fresh folder removed after `body`. */
async function withFolder(prefix: string, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Gemma checkpoints in stored dtypes and shards', () => {
  for (const { arch, dtype, shards } of CASES) {
    test(`${arch}, ${dtype}, ${shards === 1 ? 'one model.safetensors' : `${shards} shards with model.safetensors.index.json`}: every hook point matches the reference`, () =>
      withFolder(`ct-${arch}-${dtype}-`, async (dir) => {
        const random = generateRandomGemma(arch, 'tiny', 5);
        await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() }, { dtype, shards });
        assert.equal(readdirSync(dir).includes('model.safetensors.index.json'), shards > 1);
        const model = await InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' });
        try {
          const { cache } = await model.forward(IDS, { hooks: 'all' });
          const round = STORED_ROUNDING[dtype];
          const stored = new Map(random.tensors.map((t) => [t.name, { ...t, data: Float32Array.from(t.data, round) }]));
          const ref = referenceGemmaForward(stored, random.config, IDS).hooks;
          for (const name of allHookNames(2, 'gemma')) {
            const tol = name.endsWith('hook_pattern') ? 1e-5 : 1e-4;
            const { ok, diff } = withinTolerance(cache.get(name)!.data, ref.get(name)!.data, tol);
            assert.ok(ok, `${name}: max difference ${diff.toExponential(3)} exceeds ${tol}`);
          }
        } finally {
          await model.dispose();
        }
      }));
  }

  test('the rounding used above is what the stored precisions hold', () => {
    // 1 + 2^-8 lies halfway between BF16 neighbours 1 and 1 + 2^-7: to even, 1. 1 + 3 * 2^-8 rounds up to 1 + 2^-6.
    assert.equal(STORED_ROUNDING.BF16(1 + 2 ** -8), 1);
    assert.equal(STORED_ROUNDING.BF16(1 + 3 * 2 ** -8), 1 + 2 ** -6);
    assert.equal(STORED_ROUNDING.F16(1 + 2 ** -11), 1);
    assert.equal(STORED_ROUNDING.F16(2 ** -20 * 1.4), 22 * 2 ** -24, 'an F16 subnormal is a multiple of 2^-24');
    assert.equal(STORED_ROUNDING.BF16(-(1 + 3 * 2 ** -8)), -(1 + 2 ** -6));
    assert.equal(STORED_ROUNDING.F16(-0.1), -0.0999755859375);
  });

  test("the blocks' matrices are read from the checkpoint when asked for, each time into arrays of their own; the norms are 1 + w", () =>
    withFolder('ct-gemma-lazy-', async (dir) => {
      const random = generateRandomGemma('gemma3_text', 'tiny', 6);
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() }, { dtype: 'BF16' });
      const block = (await loadModelFolder(dir)).model.weights.blocks[1]!;
      const hf = (name: string): { shape: number[]; data: Float32Array } => random.tensors.find((t) => t.name === `model.layers.1.${name}`)!;
      const [a, b] = [block.W_gate!, block.W_gate!];
      assert.notEqual(a.data, b.data);
      assert.deepEqual(a.data, b.data);
      // W_gate [d_model, d_mlp] is gate_proj [d_mlp, d_model] transposed.
      const gate = hf('mlp.gate_proj.weight');
      const [M, D] = gate.shape as [number, number];
      assert.deepEqual(a.shape, [D, M]);
      for (const [i, j] of [
        [0, 0],
        [3, 17],
        [D - 1, M - 1],
      ] as const)
        assert.equal(a.data[i * M + j], STORED_ROUNDING.BF16(gate.data[j * D + i]!));
      // W_O [head, d_head, d_model] from o_proj [d_model, head * d_head].
      const o = hf('self_attn.o_proj.weight');
      const [, Dh] = block.W_O.shape as [number, number, number];
      const HDh = o.shape[1]!;
      assert.equal(block.W_O.data[(1 * Dh + 5) * D + 7], STORED_ROUNDING.BF16(o.data[7 * HDh + Dh + 5]!));
      // Norm weights: float32(1 + w) of the stored w, Gemma's RMSNorm factor.
      const onePlus = (w: number): number => Math.fround(1 + STORED_ROUNDING.BF16(w));
      const post = hf('post_attention_layernorm.weight');
      assert.deepEqual([...block.ln1_post!.w.data.subarray(0, 5)], [...post.data.subarray(0, 5)].map(onePlus));
      const qNorm = hf('self_attn.q_norm.weight');
      assert.deepEqual([...block.q_norm!.data], [...qNorm.data].map(onePlus));
    }));

  test('a non-finite weight fails the load with a typed error naming it, from the streamed block read', () =>
    withFolder('ct-gemma-nan-', async (dir) => {
      const random = generateRandomGemma('gemma2', 'tiny', 7);
      const name = 'model.layers.1.mlp.down_proj.weight';
      const poisoned = random.tensors.map((t) => (t.name === name ? { ...t, data: Float32Array.from(t.data, (v, i) => (i === 40 ? NaN : v)) } : t));
      await writeHfFolder(dir, { config: random.config, tensors: poisoned, tokenizerJson: loadGpt2TokenizerJson() }, { dtype: 'BF16', shards: 2 });
      const loaded = await loadModelFolder(dir);
      await assert.rejects(
        InstrumentedModel.create(loaded.model, { device: 'cpu' }),
        (e: unknown) => e instanceof EngineError && e.code === 'NON_FINITE' && e.message.includes(name),
      );
    }));
});
