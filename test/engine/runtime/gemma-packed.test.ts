/**
 * Packed runs (prompts and patched branches as the rows of one sequence per block call) on tiny
 * random Gemma models, against the float64 reference (test/helpers/reference-gemma.ts) run on each
 * whole prompt with its hook_z patch: gemma2 (attention soft-cap before the mask, a sliding window
 * shorter than the prompts on layer 0, final soft-cap) and gemma3_text (q/k norms, local and global
 * RoPE bases, which each row's own position drives), both with grouped-query attention and the
 * post-attention norm after W_O. Both layouts are covered: a dense mask over every row, and prefix
 * rows (every branch its prompt's last position). Head sweeps take the packed path and equal the
 * naive re-runs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PatchRequest } from '../../../src/protocol/engine.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGemma, type RandomGemma } from '../../../src/engine/model/random-gemma.js';
import { runNaivePatchSweep, runPatchSweep } from '../../../src/engine/patching/index.js';
import { measureLogits } from '../../../src/engine/patching/patch-metric.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import type { PackedRunRequest } from '../../../src/engine/runtime/types.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import type { ReferenceTensor } from '../../helpers/reference-gpt2.js';
import { packedBranchTests } from '../../helpers/packed-branch-cases.js';
import { referenceGemmaForward } from '../../helpers/reference-gemma.js';

const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332];
const CORRUPT = [464, 3290, 3332, 319, 262, 2603, 13, 383, 3290, 1110];
const P = CLEAN.length;
const TOKENS = [3332, 1110];

type HfTensor = RandomGemma['tensors'][number];

/**
 * The checkpoint with queries, keys and the post-normed attention output scaled up, so that patches
 * move the scores well beyond the tolerance: q_proj and k_proj by 3 (Gemma 3: its q/k norms, which
 * undo any scale of the projections, to 3 (1 + w)), the post-attention norm to 6 (1 + w). Gemma
 * stores norm weights as w of (1 + w): a scaled norm is stored as k (1 + w) - 1.
 */
function sharpened(tensors: readonly HfTensor[]): HfTensor[] {
  const qkNorm = tensors.some((t) => t.name.endsWith('self_attn.q_norm.weight'));
  return tensors.map((t) => {
    const norm = (k: number): HfTensor => ({ ...t, data: t.data.map((w) => k * (1 + w) - 1) });
    if (/self_attn\.[qk]_norm\.weight$/.test(t.name)) return norm(3);
    if (!qkNorm && /self_attn\.[qk]_proj\.weight$/.test(t.name)) return { ...t, data: t.data.map((x) => 3 * x) };
    if (t.name.endsWith('post_attention_layernorm.weight')) return norm(6);
    return t;
  });
}

for (const [arch, seed] of [
  ['gemma2', 81],
  ['gemma3_text', 82],
] as const) {
  describe(`packed runs on a tiny random ${arch}`, () => {
    let random: RandomGemma;
    let weights: Map<string, HfTensor>;
    let dir: string;
    let model: InstrumentedModel;
    let tokenizer: PromptTokenizer;
    let clean: Map<string, ReferenceTensor>;
    let corrupt: Map<string, ReferenceTensor>;
    before(async () => {
      random = generateRandomGemma(arch, 'tiny', seed);
      const tensors = sharpened(random.tensors);
      weights = new Map(tensors.map((t) => [t.name, t]));
      dir = mkdtempSync(join(tmpdir(), `ct-packed-${arch}-`));
      await writeHfFolder(dir, { config: random.config, tensors, tokenizerJson: loadGpt2TokenizerJson() });
      const loaded = await loadModelFolder(dir);
      tokenizer = loaded.tokenizer;
      model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
      clean = referenceGemmaForward(weights, random.config, CLEAN).hooks;
      corrupt = referenceGemmaForward(weights, random.config, CORRUPT).hooks;
    });
    after(async () => {
      await model.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    test('the random model has what the packed graph must handle: a window shorter than the prompts, GQA', () => {
      assert.ok((random.config['sliding_window'] as number) < P);
      assert.ok((random.config['num_key_value_heads'] as number) < (random.config['num_attention_heads'] as number));
      if (arch === 'gemma2') assert.ok(random.config['attn_logit_softcapping'], 'an attention soft-cap');
      else assert.notEqual(random.config['rope_local_base_freq'], random.config['rope_theta'], 'two RoPE bases');
    });

    /** The reference's scores at the last position: logits (after the final soft-cap) and float64 softmax probabilities of TOKENS. */
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
      referenceGemmaForward(weights, random.config, ids, {
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
      }).hooks;
    packedBranchTests(() => ({ model, clean, corrupt, referenceScores, patchedReference }), {
      clean: CLEAN,
      corrupt: CORRUPT,
      tokens: TOKENS,
      prefixMoved: 1,
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
