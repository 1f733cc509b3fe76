/**
 * Packed runs (prompts and patched branches as the rows of one sequence per block call) on tiny
 * random Llama-family models, against the float64 reference (test/helpers/reference-llama.ts) run
 * on each whole prompt with its hook_z patch: rows carry their own positions for RoPE, grouped-query
 * heads read their kv head in the packed mask, Mistral's window (4) is shorter than the prompts,
 * Qwen2 has q/k/v biases and Qwen3 q/k norms and its own head_dim. Both layouts are covered: a dense
 * mask over every row, and prefix rows (every branch its prompt's last position), with more branches
 * than one final call scores. Head sweeps take the packed path and equal the naive re-runs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PatchRequest } from '../../../src/protocol/engine.js';
import { LLAMA_FAMILY_TYPES } from '../../../src/engine/model/adapters/llama-config.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomLlama, type RandomLlama } from '../../../src/engine/model/random-llama.js';
import type { CanonicalModel } from '../../../src/engine/model/weights.js';
import { runNaivePatchSweep, runPatchSweep } from '../../../src/engine/patching/index.js';
import { measureLogits } from '../../../src/engine/patching/patch-metric.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { packedScoreRows } from '../../../src/engine/runtime/packed-layout.js';
import type { PackedBranch, PackedRunRequest } from '../../../src/engine/runtime/types.js';
import { tensor, type Tensor } from '../../../src/engine/tensor.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import type { ReferenceTensor } from '../../helpers/reference-gpt2.js';
import { referenceLlamaForward } from '../../helpers/reference-llama.js';
import { packedBranchTests } from '../../helpers/packed-branch-cases.js';

const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332];
const CORRUPT = [464, 3290, 3332, 319, 262, 2603, 13, 383, 3290, 1110];
const P = CLEAN.length;
const TOKENS = [3332, 1110];

/** Queries, keys and outputs scaled up, so that patches move the scores well beyond the tolerance. */
function sharpened(model: CanonicalModel): CanonicalModel {
  const scale = (t: Tensor, k: number): Tensor =>
    tensor(
      t.data.map((x) => x * k),
      t.shape,
    );
  const blocks = model.weights.blocks.map((b) => ({ ...b, W_Q: scale(b.W_Q, 3), W_K: scale(b.W_K, 3), W_O: scale(b.W_O, 6) }));
  return { ...model, weights: { ...model.weights, blocks } };
}

/** The HF tensors with the same sharpening, for the reference (q_proj and k_proj weights by 3, o_proj by 6; biases as they are). */
function sharpenedTensors(random: RandomLlama): Map<string, { name: string; shape: number[]; data: Float32Array }> {
  const factor = (name: string): number => (/(q_proj|k_proj)\.weight$/.test(name) ? 3 : name.endsWith('o_proj.weight') ? 6 : 1);
  return new Map(random.tensors.map((t) => [t.name, { ...t, data: t.data.map((x) => x * factor(t.name)) }]));
}

for (const [arch, seed] of [
  ['llama', 41],
  ['qwen2', 42],
  ['mistral', 43],
  ['qwen3', 44],
] as const) {
  describe(`packed runs on a tiny random ${arch}`, () => {
    let random: RandomLlama;
    let weights: ReturnType<typeof sharpenedTensors>;
    let model: InstrumentedModel;
    let tokenizer: PromptTokenizer;
    let clean: Map<string, ReferenceTensor>;
    let corrupt: Map<string, ReferenceTensor>;
    before(async () => {
      assert.ok(LLAMA_FAMILY_TYPES.includes(arch));
      random = generateRandomLlama(arch, 'tiny', seed);
      const dir = mkdtempSync(join(tmpdir(), `ct-packed-${arch}-`));
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      const loaded = await loadModelFolder(dir);
      tokenizer = loaded.tokenizer;
      model = await InstrumentedModel.create(sharpened(loaded.model), { device: 'cpu' });
      weights = sharpenedTensors(random);
      clean = referenceLlamaForward(weights, random.config, CLEAN);
      corrupt = referenceLlamaForward(weights, random.config, CORRUPT);
    });
    after(() => model.dispose());

    /** The reference's scores at the last position: logits and float64 softmax probabilities of TOKENS. */
    const referenceScores = (run: Map<string, ReferenceTensor>): { logits: number[]; probs: number[] } => {
      const logits = run.get('logits')!;
      const V = logits.shape[1]!;
      const last = Float32Array.from(logits.data.subarray((P - 1) * V, P * V));
      return { logits: TOKENS.map((t) => last[t]!), probs: TOKENS.map((t) => measureLogits(last, { targetId: t, contrastId: null }).prob) };
    };
    /** The reference run of `ids` with `heads`' hook_z at `layer` (at `positions`, default all) from `source`. */
    const patchedReference = (
      ids: readonly number[],
      source: Map<string, ReferenceTensor>,
      layer: number,
      heads: readonly number[],
      positions?: readonly number[],
    ): Map<string, ReferenceTensor> =>
      referenceLlamaForward(weights, random.config, ids, {
        intervene: (name, t) => {
          if (name !== `blocks.${layer}.attn.hook_z`) return;
          const [, H, Dh] = t.shape as [number, number, number];
          const out = { shape: [...t.shape], data: t.data.slice() };
          for (const p of positions ?? Array.from({ length: P }, (_, i) => i)) {
            for (const h of heads) {
              const at = (p * H + h) * Dh;
              out.data.set(source.get(name)!.data.subarray(at, at + Dh), at);
            }
          }
          return out;
        },
      });
    const { run, assertScores } = packedBranchTests(() => ({ model, clean, corrupt, referenceScores, patchedReference }), {
      clean: CLEAN,
      corrupt: CORRUPT,
      tokens: TOKENS,
      prefixMoved: null,
    });

    test('more branches than one final call scores (packedScoreRows) give each the scores it has alone', async () => {
      const perCall = packedScoreRows(random.config['vocab_size'] as number);
      const kinds: PackedBranch[] = [
        { prompt: 1, from: P - 1, layer: 0, zFrom: { prompt: 0, heads: [0, 3] } },
        { prompt: 0, from: P - 1, layer: 1, zFrom: { prompt: 1, heads: [2] } },
        { prompt: 1, from: P - 1, layer: 1, zFrom: { prompt: 0, heads: [1] } },
      ];
      const alone = await run(kinds);
      const many = Array.from({ length: perCall + 5 }, (_, i) => kinds[i % kinds.length]!);
      const result = await run(many);
      assert.equal(result.branches.length, many.length);
      result.branches.forEach((scores, i) => {
        const want = alone.branches[i % kinds.length]!;
        assertScores(scores, { logits: [...want.logits], probs: [...want.probs] }, `branch ${i}`);
      });
    });

    test('head sweeps run packed and equal the naive re-runs', async () => {
      let packedRuns = 0;
      const counting = new Proxy(model, {
        get(target, key, receiver) {
          if (key === 'runPacked')
            return (request: PackedRunRequest) => {
              packedRuns++;
              return target.runPacked(request);
            };
          const value = Reflect.get(target, key, receiver) as unknown;
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
      const base = { cleanIds: CLEAN, corruptIds: CORRUPT, target: { id: TOKENS[0]! }, contrast: { id: TOKENS[1]! } };
      const requests: PatchRequest[] = [
        { ...base, kind: 'heads-last' },
        { ...base, kind: 'heads-last', position: 6 },
        { ...base, kind: 'heads-all' },
      ];
      for (const request of requests) {
        const before = packedRuns;
        const fast = await runPatchSweep(counting, tokenizer, request);
        assert.equal(packedRuns, before + 1, `${request.kind}${request.position !== undefined ? ` at ${request.position}` : ''}: one packed run`);
        const naive = await runNaivePatchSweep(model, tokenizer, request);
        assert.equal(fast.entries.length, naive.entries.length);
        fast.entries.forEach((e, i) => {
          const n = naive.entries[i]!;
          assert.deepEqual([e.layer, e.head, e.position], [n.layer, n.head, n.position]);
          assert.ok(
            Math.abs(e.logitDiff - n.logitDiff) <= 1e-4 * Math.max(1, Math.abs(n.logitDiff)),
            `L${e.layer}H${e.head}: ${e.logitDiff} vs naive ${n.logitDiff}`,
          );
          assert.ok(Math.abs(e.prob - n.prob) <= 1e-5, `L${e.layer}H${e.head}: prob ${e.prob} vs naive ${n.prob}`);
        });
      }
    });
  });
}
