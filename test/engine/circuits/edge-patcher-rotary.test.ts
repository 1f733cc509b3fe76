/**
 * Edge-level patching on the rotary families: the Llama family (RMSNorm, RoPE with llama3 scaling,
 * grouped-query attention, Mistral's window, Qwen2's biases, Qwen3's q/k norms and head_dim) and
 * GPT-NeoX (LayerNorm, partial rotary, the parallel residual whose MLP reads resid_pre, and the
 * sequential one), against the float64 reference forwards (test/helpers/reference-llama.ts,
 * reference-gpt-neox.ts, none of the engine's code):
 *  - every edge kept is the clean run and none the corrupted run;
 *  - a circuit of every edge out of a set of writers equals the reference run on the clean prompt
 *    with each layer's resid_pre, hook_attn_out and hook_mlp_out set to the corrupted run's plus the
 *    kept writers' changes (z_h · W_O[h] of this run minus the corrupted run's, from hook_z and o_proj),
 *    which is what every reader then reads under the definition.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgePatcher } from '../../../src/engine/circuits/edge-patcher.js';
import { LLAMA_FAMILY_TYPES } from '../../../src/engine/model/adapters/llama-config.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomLlama } from '../../../src/engine/model/random-llama.js';
import { generateRandomGptNeox } from '../../../src/engine/model/random-gpt-neox.js';
import type { HfTensor } from '../../../src/engine/model/hf-gpt2-layout.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { metricOfLogits } from '../../../src/engine/analysis/target-metric.js';
import { referenceLlamaForward } from '../../helpers/reference-llama.js';
import { referenceGptNeoxForward } from '../../helpers/reference-gpt-neox.js';
import type { ReferenceHookCallback, ReferenceTensor, ReferenceWeightTensor } from '../../helpers/reference-gpt2.js';

/** A random checkpoint and the reference that runs it. */
interface RandomRotary {
  config: Record<string, unknown>;
  tensors: HfTensor[];
  reference: (
    w: Map<string, ReferenceWeightTensor>,
    cfg: Record<string, unknown>,
    ids: readonly number[],
    o?: { intervene?: ReferenceHookCallback },
  ) => Map<string, ReferenceTensor>;
  /** The attention output projection of a layer, nn.Linear [d_model, head * d_head]. */
  outProjection: (layer: number) => string;
}

/** 12 tokens: past Mistral's window of the tiny preset. */
const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332, 319, 262];
const CORRUPT = [464, 3290, 3332, 319, 262, 2603, 13, 383, 3290, 3332, 319, 262];
const METRIC = { name: 'logit_diff', targetId: 2603, contrastId: 1110 } as const;
const KEPT_WRITERS = new Set(['embed', 'L0H1', 'L0H3', 'mlp0', 'L1H2']);

/** Scales the attention's projections so that attention is sharp and edges matter. */
function sharpened(random: RandomRotary): RandomRotary {
  const scaled = /(self_attn\.(q_proj|k_proj|o_proj)|attention\.(query_key_value|dense))\.weight$/;
  return { ...random, tensors: random.tensors.map((t) => (scaled.test(t.name) ? { ...t, data: t.data.map((x) => x * 4) } : t)) };
}

const MODELS: Array<[string, () => RandomRotary]> = [
  ...LLAMA_FAMILY_TYPES.map((arch): [string, () => RandomRotary] => [
    arch,
    () => ({ ...generateRandomLlama(arch, 'tiny', 5), reference: referenceLlamaForward, outProjection: (l) => `model.layers.${l}.self_attn.o_proj.weight` }),
  ]),
  ...[true, false].map((parallelResidual): [string, () => RandomRotary] => [
    `gpt_neox (${parallelResidual ? 'parallel' : 'sequential'} residual)`,
    () => ({
      ...generateRandomGptNeox('tiny', 5, { parallelResidual }),
      reference: referenceGptNeoxForward,
      outProjection: (l) => `gpt_neox.layers.${l}.attention.dense.weight`,
    }),
  ]),
];

/** The reference metric of the clean prompt with the writers in `kept` carrying their clean-run changes (see the header). */
function referenceNodeCircuit(random: RandomRotary, kept: ReadonlySet<string>): number {
  const weights = new Map(random.tensors.map((t) => [t.name, t]));
  const cfg = random.config;
  const H = cfg['num_attention_heads'] as number,
    D = cfg['hidden_size'] as number;
  const Dh = (cfg['head_dim'] as number | undefined) ?? D / H;
  const P = CLEAN.length;
  const corrupted = random.reference(weights, cfg, CORRUPT);
  /** z_h · W_O[h] of hook_z [pos, head, d_head] with o_proj [d_model, head * d_head]: [pos, d_model]. */
  const headResult = (z: Float64Array, layer: number, h: number): Float64Array => {
    const o = weights.get(random.outProjection(layer))!.data;
    const out = new Float64Array(P * D);
    for (let p = 0; p < P; p++)
      for (let j = 0; j < D; j++) for (let e = 0; e < Dh; e++) out[p * D + j]! += z[(p * H + h) * Dh + e]! * o[j * H * Dh + h * Dh + e]!;
    return out;
  };
  const corr = (name: string): Float64Array => corrupted.get(name)!.data;
  let keptDelta: Float64Array = new Float64Array(P * D); // Σ of the kept writers' changes so far
  const plus = (a: Float64Array, b: Float64Array): Float64Array => a.map((x, i) => x + b[i]!);
  const minus = (a: Float64Array, b: Float64Array): Float64Array => a.map((x, i) => x - b[i]!);
  let layerHeadsDelta: Float64Array = new Float64Array(P * D);
  const clean = random.reference(weights, cfg, CLEAN, {
    intervene: (name: string, t: ReferenceTensor): ReferenceTensor | void => {
      const m = /^blocks\.(\d+)\.(.*)$/.exec(name);
      if (!m) return;
      const layer = Number(m[1]),
        hook = m[2]!;
      if (hook === 'hook_resid_pre') {
        if (layer === 0 && kept.has('embed')) keptDelta = minus(t.data, corr(name));
        return { shape: t.shape, data: plus(corr(name), keptDelta) };
      }
      if (hook === 'attn.hook_z') {
        layerHeadsDelta = new Float64Array(P * D);
        for (let h = 0; h < H; h++) {
          if (!kept.has(`L${layer}H${h}`)) continue;
          layerHeadsDelta = plus(layerHeadsDelta, minus(headResult(t.data, layer, h), headResult(corr(name), layer, h)));
        }
        return;
      }
      if (hook === 'hook_attn_out') {
        keptDelta = plus(keptDelta, layerHeadsDelta);
        return { shape: t.shape, data: plus(corr(name), layerHeadsDelta) };
      }
      if (hook === 'hook_mlp_out') {
        if (!kept.has(`mlp${layer}`)) return { shape: t.shape, data: corr(name).slice() };
        keptDelta = plus(keptDelta, minus(t.data, corr(name)));
        return;
      }
    },
  });
  const logits = clean.get('logits')!;
  const V = logits.shape[1]!;
  return metricOfLogits(METRIC, Float32Array.from(logits.data.subarray((P - 1) * V, P * V)));
}

for (const [arch, generate] of MODELS) {
  describe(`edge patching on a tiny random ${arch}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'ct-edges-rotary-'));
    let random: RandomRotary;
    let runner: InstrumentedModel;
    let patcher: EdgePatcher;
    before(async () => {
      random = sharpened(generate());
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      const loaded = await loadModelFolder(dir);
      runner = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
      patcher = await EdgePatcher.create(loaded.model, runner);
    });
    after(async () => {
      await patcher?.dispose();
      await runner?.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    test('every edge kept is the clean run, none the corrupted run', async () => {
      const n = patcher.graph.edges.length;
      const result = await patcher.run({ clean: CLEAN, corrupt: CORRUPT, metric: METRIC, circuits: [new Uint8Array(n).fill(1), new Uint8Array(n)] });
      const forward = async (ids: number[]): Promise<number> =>
        metricOfLogits(METRIC, (await runner.forward(ids, { hooks: ['logits'], logitPositions: [ids.length - 1] })).cache.get('logits')!.data);
      const [clean, corrupt] = [await forward(CLEAN), await forward(CORRUPT)];
      assert.ok(Math.abs(clean - corrupt) > 0.05, `the prompts must differ in the metric (${clean} vs ${corrupt})`);
      const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));
      assert.ok(close(result.values[0]!, clean) && close(result.clean, clean), `${result.values[0]} vs ${clean}`);
      assert.ok(close(result.values[1]!, corrupt) && close(result.corrupt, corrupt), `${result.values[1]} vs ${corrupt}`);
    });

    test("a circuit of every edge out of some writers equals the reference's", async () => {
      const g = patcher.graph;
      const circuit = Uint8Array.from(g.edges, (e) => (KEPT_WRITERS.has(g.upstreamName(g.upstream[e.from]!)) ? 1 : 0));
      const result = await patcher.run({ clean: CLEAN, corrupt: CORRUPT, metric: METRIC, circuits: [circuit] });
      const expected = referenceNodeCircuit(random, KEPT_WRITERS);
      const scale = Math.abs(result.clean - result.corrupt);
      assert.ok(Math.abs(result.values[0]! - expected) <= 1e-4 * Math.max(1, scale), `engine ${result.values[0]} vs reference ${expected}`);
      assert.ok(Math.abs(expected - result.clean) > 0.02 * scale && Math.abs(expected - result.corrupt) > 0.02 * scale, 'the circuit is neither run');
    });
  });
}
