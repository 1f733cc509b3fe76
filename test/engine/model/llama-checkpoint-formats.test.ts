/**
 * Llama-family checkpoints as the Hub stores them: BF16 and F16 weights (loaded as fp32), sharded
 * with model.safetensors.index.json, and the block matrices read as the runtime builds each block's
 * graph (the load streams them). Every hook point is checked against the float64 reference run on
 * the weights rounded to the stored precision, the rounding written here from its definition.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../../../src/engine/errors.js';
import { allHookNames } from '../../../src/engine/hooks.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomLlama } from '../../../src/engine/model/random-llama.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { withinTolerance } from '../../helpers/model-fixtures.js';
import { referenceLlamaForward } from '../../helpers/reference-llama.js';

const IDS = Array.from({ length: 24 }, (_, i) => (i * 7919 + 13) % 50257);

/**
 * x rounded to nearest (ties to even) with `bits` significant bits, as an IEEE format with that
 * many (implicit bit included) and smallest normal exponent `minExponent` stores it: BF16 8 bits and
 * float32's exponent range, F16 11 bits, subnormals below 2^-14. The weights here are far from overflow.
 */
function roundTo(x: number, bits: number, minExponent: number): number {
  if (x === 0) return 0;
  const exponent = Math.max(Math.floor(Math.log2(Math.abs(x))), minExponent);
  const quantum = 2 ** (exponent - (bits - 1));
  const scaled = x / quantum;
  let rounded = Math.floor(scaled);
  const rest = scaled - rounded;
  if (rest > 0.5 || (rest === 0.5 && rounded % 2 !== 0)) rounded++; // a tie goes to the even neighbour
  return rounded * quantum;
}

const ROUNDING = { F32: (x: number) => x, BF16: (x: number) => roundTo(x, 8, -126), F16: (x: number) => roundTo(x, 11, -14) } as const;

const CASES = [
  { arch: 'llama', dtype: 'BF16', shards: 1 },
  { arch: 'qwen2', dtype: 'F16', shards: 1 },
  { arch: 'llama', dtype: 'BF16', shards: 3 },
  { arch: 'qwen3', dtype: 'F32', shards: 4 },
] as const;

describe('Llama-family checkpoints in stored dtypes and shards', () => {
  for (const { arch, dtype, shards } of CASES) {
    test(`${arch}, ${dtype}, ${shards === 1 ? 'one model.safetensors' : `${shards} shards with model.safetensors.index.json`}: every hook point matches the reference`, async () => {
      const random = generateRandomLlama(arch, 'tiny', 5);
      const dir = mkdtempSync(join(tmpdir(), `ct-${arch}-${dtype}-`));
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() }, { dtype, shards });
      assert.equal(readdirSync(dir).includes('model.safetensors.index.json'), shards > 1);
      const loaded = await loadModelFolder(dir);
      const model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
      try {
        const { cache } = await model.forward(IDS, { hooks: 'all' });
        const round = ROUNDING[dtype];
        const stored = new Map(random.tensors.map((t) => [t.name, { ...t, data: Float32Array.from(t.data, round) }]));
        const ref = referenceLlamaForward(stored, random.config, IDS);
        for (const name of allHookNames(2, 'llama')) {
          const tol = name.endsWith('hook_pattern') ? 1e-5 : 1e-4;
          const { ok, diff } = withinTolerance(cache.get(name)!.data, ref.get(name)!.data, tol);
          assert.ok(ok, `${name}: max difference ${diff.toExponential(3)} exceeds ${tol}`);
        }
      } finally {
        await model.dispose();
      }
    });
  }

  test('the rounding above is what the stored precisions hold', () => {
    // 1 + 2^-8 lies halfway between BF16 neighbours 1 and 1 + 2^-7: to even, 1. 1 + 3 * 2^-8 rounds up to 1 + 2^-6.
    assert.equal(ROUNDING.BF16(1 + 2 ** -8), 1);
    assert.equal(ROUNDING.BF16(1 + 3 * 2 ** -8), 1 + 2 ** -6);
    assert.equal(ROUNDING.F16(1 + 2 ** -11), 1);
    assert.equal(ROUNDING.F16(2 ** -20 * 1.4), 22 * 2 ** -24, 'an F16 subnormal is a multiple of 2^-24');
    assert.equal(ROUNDING.BF16(-(1 + 3 * 2 ** -8)), -(1 + 2 ** -6));
    assert.equal(ROUNDING.F16(-0.1), -0.0999755859375);
  });

  test("the blocks' matrices are read from the checkpoint when asked for, each time into arrays of their own", async () => {
    const random = generateRandomLlama('llama', 'tiny', 6);
    const dir = mkdtempSync(join(tmpdir(), 'ct-llama-lazy-'));
    await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() }, { dtype: 'BF16' });
    const block = (await loadModelFolder(dir)).model.weights.blocks[1]!;
    const [a, b] = [block.W_gate!, block.W_gate!];
    assert.notEqual(a.data, b.data);
    assert.deepEqual(a.data, b.data);
    // W_gate [d_model, d_mlp] is gate_proj [d_mlp, d_model] transposed.
    const gate = random.tensors.find((t) => t.name === 'model.layers.1.mlp.gate_proj.weight')!;
    const [M, D] = gate.shape as [number, number];
    assert.deepEqual(a.shape, [D, M]);
    for (const [i, j] of [
      [0, 0],
      [3, 17],
      [D - 1, M - 1],
    ] as const)
      assert.equal(a.data[i * M + j], ROUNDING.BF16(gate.data[j * D + i]!));
    // W_Q [head, d_model, d_head] from q_proj [head * d_head, d_model].
    const q = random.tensors.find((t) => t.name === 'model.layers.1.self_attn.q_proj.weight')!;
    const [H, , Dh] = block.W_Q.shape as [number, number, number];
    assert.equal(block.W_Q.data[(2 * D + 5) * Dh + 3], ROUNDING.BF16(q.data[(2 * Dh + 3) * D + 5]!));
    assert.equal(H * Dh, q.shape[0]);
  });

  test('a weight that is not finite, or a shard replaced after the header was read, fails the load with a typed error', async () => {
    const random = generateRandomLlama('llama', 'tiny', 7);
    const name = 'model.layers.1.mlp.down_proj.weight';
    const poisoned = random.tensors.map((t) => (t.name === name ? { ...t, data: Float32Array.from(t.data, (v, i) => (i === 40 ? NaN : v)) } : t));
    const dir = mkdtempSync(join(tmpdir(), 'ct-llama-nan-'));
    await writeHfFolder(dir, { config: random.config, tensors: poisoned, tokenizerJson: loadGpt2TokenizerJson() }, { dtype: 'BF16', shards: 2 });
    // The block's matrices are read as its graph is built: the error comes from there, as the checkpoint's, not as ONNX Runtime's.
    await assert.rejects(
      InstrumentedModel.create((await loadModelFolder(dir)).model, { device: 'cpu' }),
      (e: unknown) => e instanceof EngineError && e.code === 'NON_FINITE' && e.message.includes(name),
    );

    const clean = mkdtempSync(join(tmpdir(), 'ct-llama-changed-'));
    await writeHfFolder(clean, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() }, { shards: 2 });
    const loaded = await loadModelFolder(clean);
    const index = JSON.parse(readFileSync(join(clean, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    appendFileSync(join(clean, index.weight_map[name]!), Buffer.alloc(8));
    await assert.rejects(
      InstrumentedModel.create(loaded.model, { device: 'cpu' }),
      (e: unknown) => e instanceof EngineError && e.code === 'CORRUPT_WEIGHTS' && /changed on disk/.test(e.message),
    );
  });
});
