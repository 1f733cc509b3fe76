/**
 * analyze() on tiny random GPT-NeoX models (Pythia's layout; rotary_pct 0.25; the parallel residual
 * and the sequential one) against an independent float64 reference: the forward of
 * test/helpers/reference-gpt-neox.ts, and direct logit attribution, the logit lens, head output
 * norms and the head census written here from their definitions, read straight from the HF tensors:
 *   the final residual stream is hook_embed + Σ_L (hook_attn_out + hook_mlp_out) in both residual
 *   layouts (no pos_embed: rotary positions), each component c contributes
 *   (c − mean(c)) · (w ⊙ u) / scale (apply_ln_to_stack with the final LayerNorm's w and the cached
 *   ln_final.hook_scale), u = W_U[:, target] − W_U[:, contrast] (or, 'tl' without a contrast, minus
 *   the vocabulary mean: center_unembed); a head's output is z_h · W_O[h], an MLP's the W_out part
 *   (hook_mlp_out − b_out); 'tl' books the folded value bias (b_V[h] + ln1.b · W_V[h]) · W_O[h]
 *   under 'bias' (fold_ln + fold_value_biases), which holds every b_O, b_out and ln_final.b · u;
 *   lens at each depth: softmax(LayerNorm_final(resid) · W_U), mean and scale recomputed from that resid;
 *   output norm of head h: mean over positions of ‖z_h · W_O[h]‖;
 *   census: TransformerLens's "mul" detector score Σ attn ⊙ D / Σ attn, averaged over the probe.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../../../src/engine/analysis/analyze.js';
import { censusSequences, fitCensusSettings } from '../../../src/engine/analysis/head-census.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomGptNeox, type RandomGptNeox } from '../../../src/engine/model/random-gpt-neox.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import type { AnalysisResult, DlaMode, ModelInfo } from '../../../src/protocol/analysis.js';
import type { ReferenceTensor } from '../../helpers/reference-gpt2.js';
import { referenceGptNeoxForward } from '../../helpers/reference-gpt-neox.js';

const PROMPT = 'The cat sat on the mat. The cat sat on the';

interface ReferenceDla {
  heads: Float64Array; // [layer, head]
  headBySource: Float64Array; // [layer, head, key]
  mlp: Float64Array; // [layer]
  embed: number;
  bias: number;
  actual: number;
}

/** The checkpoint's tensors and dimensions, read from the HF layout. */
function checkpoint(random: RandomGptNeox): {
  W: (name: string) => Float32Array;
  L: number;
  D: number;
  H: number;
  Dh: number;
  V: number;
  eps: number;
} {
  const c = random.config as Record<string, number>;
  const byName = new Map(random.tensors.map((t) => [t.name, t.data]));
  const W = (name: string): Float32Array => {
    const t = byName.get(name);
    if (!t) throw new Error(`no tensor ${name}`);
    return t;
  };
  const D = c['hidden_size']!,
    H = c['num_attention_heads']!;
  return { W, L: c['num_hidden_layers']!, D, H, Dh: D / H, V: c['vocab_size']!, eps: c['layer_norm_eps']! };
}

function referenceDla(
  random: RandomGptNeox,
  ref: Map<string, ReferenceTensor>,
  pos: number,
  target: number,
  contrast: number | null,
  mode: DlaMode,
): ReferenceDla {
  const { W, L, D, H, Dh, V } = checkpoint(random);
  const U = W('embed_out.weight'); // [vocab, d_model]
  const w = W('gpt_neox.final_layer_norm.weight');
  const lnFinalB = W('gpt_neox.final_layer_norm.bias');
  const u = new Float64Array(D);
  for (let d = 0; d < D; d++) {
    let sub = 0;
    if (contrast !== null) sub = U[contrast * D + d]!;
    else if (mode === 'tl') {
      for (let v = 0; v < V; v++) sub += U[v * D + d]!;
      sub /= V;
    }
    u[d] = U[target * D + d]! - sub;
  }
  const scale = ref.get('ln_final.hook_scale')!.data[pos]!;
  const P = ref.get('hook_embed')!.shape[0]!;
  /** apply_ln_to_stack of one component c [d_model] at `offset`: (c − mean(c)) · (w ⊙ u) / scale. */
  const contribution = (c: ArrayLike<number>, offset = 0): number => {
    let mean = 0;
    for (let d = 0; d < D; d++) mean += c[offset + d]!;
    mean /= D;
    let s = 0;
    for (let d = 0; d < D; d++) s += (c[offset + d]! - mean) * w[d]! * u[d]!;
    return s / scale;
  };
  /** x [d_head] @ W_O[h] as a d_model vector; attention.dense is [out, in], W_O[h][e, d] = dense[d, h * Dh + e]. */
  const throughO = (dense: Float32Array, h: number, x: (e: number) => number): Float64Array => {
    const out = new Float64Array(D);
    for (let d = 0; d < D; d++) for (let e = 0; e < Dh; e++) out[d] = out[d]! + x(e) * dense[d * D + h * Dh + e]!;
    return out;
  };
  const heads = new Float64Array(L * H),
    headBySource = new Float64Array(L * H * P),
    mlp = new Float64Array(L);
  let bias = 0;
  for (let l = 0; l < L; l++) {
    const pre = `gpt_neox.layers.${l}.`;
    const dense = W(`${pre}attention.dense.weight`);
    const qkvW = W(`${pre}attention.query_key_value.weight`); // [head * 3 * d_head, d_model], rows [head, 3, d_head]
    const qkvB = W(`${pre}attention.query_key_value.bias`);
    const ln1B = W(`${pre}input_layernorm.bias`);
    const z = ref.get(`blocks.${l}.attn.hook_z`)!.data; // [pos, head, d_head]
    const v = ref.get(`blocks.${l}.attn.hook_v`)!.data; // [pos, head, d_head]
    const pattern = ref.get(`blocks.${l}.attn.hook_pattern`)!.data; // [head, query, key]
    for (let h = 0; h < H; h++) {
      // TransformerLens's value bias after fold_ln: b_V[h] + ln1.b · W_V[h].
      const foldedBias = (e: number): number => {
        const row = h * 3 * Dh + 2 * Dh + e;
        let s = qkvB[row]!;
        for (let i = 0; i < D; i++) s += ln1B[i]! * qkvW[row * D + i]!;
        return s;
      };
      const folded = mode === 'tl' ? contribution(throughO(dense, h, foldedBias)) : 0;
      heads[l * H + h] = contribution(throughO(dense, h, (e) => z[(pos * H + h) * Dh + e]!)) - folded;
      bias += folded;
      for (let k = 0; k <= pos; k++) {
        const value = contribution(throughO(dense, h, (e) => v[(k * H + h) * Dh + e]!)) - folded;
        headBySource[(l * H + h) * P + k] = pattern[(h * P + pos) * P + k]! * value;
      }
    }
    const bOut = W(`${pre}mlp.dense_4h_to_h.bias`);
    mlp[l] = contribution(ref.get(`blocks.${l}.hook_mlp_out`)!.data, pos * D) - contribution(bOut);
    bias += contribution(bOut) + contribution(W(`${pre}attention.dense.bias`));
  }
  // After the LayerNorm: ln_final.b · u (embed_out has no bias).
  for (let d = 0; d < D; d++) bias += lnFinalB[d]! * u[d]!;
  const logits = ref.get('logits')!.data.subarray(pos * V, (pos + 1) * V);
  let mean = 0;
  for (let i = 0; i < V; i++) mean += logits[i]!;
  mean /= V;
  const actual = logits[target]! - (contrast !== null ? logits[contrast]! : mode === 'tl' ? mean : 0);
  return { heads, headBySource, mlp, embed: contribution(ref.get('hook_embed')!.data, pos * D), bias, actual };
}

/** Target probability at each lens depth (resid_pre 0..L-1, resid_post L-1), the final LayerNorm's mean and scale recomputed per depth. */
function referenceLens(random: RandomGptNeox, ref: Map<string, ReferenceTensor>, pos: number, target: number): number[] {
  const { W, L, D, V, eps } = checkpoint(random);
  const U = W('embed_out.weight');
  const w = W('gpt_neox.final_layer_norm.weight'),
    b = W('gpt_neox.final_layer_norm.bias');
  const depths = [...Array.from({ length: L }, (_, l) => `blocks.${l}.hook_resid_pre`), `blocks.${L - 1}.hook_resid_post`];
  return depths.map((name) => {
    const x = ref.get(name)!.data.subarray(pos * D, (pos + 1) * D);
    const mean = x.reduce((s, a) => s + a, 0) / D;
    const scale = Math.sqrt(x.reduce((s, a) => s + (a - mean) ** 2, 0) / D + eps);
    const y = Array.from(x, (a, d) => ((a - mean) / scale) * w[d]! + b[d]!);
    const logits = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += y[d]! * U[v * D + d]!;
      logits[v] = s;
    }
    const max = Math.max(...logits);
    const total = logits.reduce((s, a) => s + Math.exp(a - max), 0);
    return Math.exp(logits[target]! - max) / total;
  });
}

const close = (a: number, b: number, tol: number, what: string): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs reference ${b}`);

for (const [parallelResidual, seed] of [
  [true, 51],
  [false, 52],
] as const) {
  describe(`analyze on a tiny random gpt_neox, ${parallelResidual ? 'parallel' : 'sequential'} residual`, () => {
    let random: RandomGptNeox;
    let model: InstrumentedModel;
    let tokenizer: PromptTokenizer;
    let modelInfo: ModelInfo;
    before(async () => {
      random = generateRandomGptNeox('tiny', seed, { parallelResidual });
      const dir = mkdtempSync(join(tmpdir(), 'ct-analyze-neox-'));
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      const loaded = await loadModelFolder(dir);
      tokenizer = loaded.tokenizer;
      model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
      const c = loaded.model.config;
      modelInfo = { id: 'neox', displayName: 'neox', nLayers: c.nLayers, nHeads: c.nHeads, dModel: c.dModel, dHead: c.dHead, dVocab: c.dVocab, nCtx: c.nCtx };
    });
    after(() => model.dispose());

    const reference = (ids: readonly number[]): Map<string, ReferenceTensor> =>
      referenceGptNeoxForward(new Map(random.tensors.map((t) => [t.name, t])), random.config, ids);

    const check = async (mode: DlaMode, withContrast: boolean): Promise<void> => {
      const first = await analyze(model, tokenizer, { prompt: PROMPT, topK: 5, dla: mode }, { modelInfo });
      const contrast = withContrast ? first.predictions[1]!.tokenId : null;
      const result: AnalysisResult = withContrast
        ? await analyze(model, tokenizer, { prompt: PROMPT, topK: 5, dla: mode, contrast: { id: contrast! } }, { modelInfo })
        : first;
      const ids = result.tokens.map((t) => t.id);
      const pos = ids.length - 1;
      const ref = reference(ids);
      const V = modelInfo.dVocab;
      const last = ref.get('logits')!.data.subarray(pos * V, (pos + 1) * V);
      for (const p of result.predictions) close(p.logit, last[p.tokenId]!, 1e-4, `prediction ${p.tokenId}`);
      const trace = result.trace;
      const want = referenceDla(random, ref, pos, trace.targetId, contrast, mode);
      const what = `${mode}${withContrast ? ' logit diff' : ''}`;
      close(trace.actual, want.actual, 1e-4, `${what}: actual`);
      close(trace.total, trace.actual, 1e-4, `${what}: components sum to the actual metric`);
      want.heads.forEach((v, i) => close(trace.heads[i]!, v, 1e-4, `${what}: head ${i}`));
      want.headBySource.forEach((v, i) => close(trace.headBySource[i]!, v, 1e-4, `${what}: head ${Math.floor(i / ids.length)} from key ${i % ids.length}`));
      want.mlp.forEach((v, l) => close(trace.mlp[l]!, v, 1e-4, `${what}: mlp${l}`));
      close(trace.embed, want.embed, 1e-4, `${what}: embed`);
      close(trace.bias, want.bias, 1e-4, `${what}: bias`);
      assert.equal(trace.posEmbed, null, 'rotary positions: no pos_embed component');
      assert.equal(trace.components.length, modelInfo.nLayers * (modelInfo.nHeads + 1) + 2, 'every head and MLP, embed and bias');

      const lens = referenceLens(random, ref, pos, result.lens.targetId);
      assert.equal(result.lens.layers.length, lens.length);
      lens.forEach((p, depth) => close(result.lens.layers[depth]!.targetProb, p, 1e-4, `lens depth ${depth}`));
      assert.deepEqual(
        result.lens.layers.at(-1)!.top.map((p) => p.tokenId),
        result.predictions.map((p) => p.tokenId),
      );
    };
    for (const mode of ['tl', 'raw'] as const) {
      test(`DLA (${mode}) per head, per source, MLP, embed and bias as the reference; the lens with the final LayerNorm as the reference`, () =>
        check(mode, false));
      test(`DLA (${mode}) of a logit difference as the reference`, () => check(mode, true));
    }

    test("Pythia's convention: no BOS unless asked; attention, token flow and head output norms as the reference", async () => {
      const result = await analyze(model, tokenizer, { prompt: PROMPT, topK: 5 }, { modelInfo });
      assert.equal(result.prependBos, false);
      assert.notEqual(result.tokens[0]!.bos, true);
      const ids = result.tokens.map((t) => t.id);
      const n = ids.length;
      const ref = reference(ids);
      const { W, L, D, H, Dh } = checkpoint(random);
      let flowTotal = 0;
      for (let l = 0; l < L; l++) {
        const pattern = ref.get(`blocks.${l}.attn.hook_pattern`)!.data; // [head, query, key]
        pattern.forEach((a, i) => close(result.attention[l * H * n * n + i]!, a, 1e-5, `L${l} attention ${i}`));
        flowTotal += pattern.reduce((s, a) => s + a, 0);
        const z = ref.get(`blocks.${l}.attn.hook_z`)!.data;
        const dense = W(`gpt_neox.layers.${l}.attention.dense.weight`);
        for (let h = 0; h < H; h++) {
          let norms = 0;
          for (let p = 0; p < n; p++) {
            let sq = 0;
            for (let d = 0; d < D; d++) {
              let o = 0;
              for (let e = 0; e < Dh; e++) o += z[(p * H + h) * Dh + e]! * dense[d * D + h * Dh + e]!;
              sq += o * o;
            }
            norms += Math.sqrt(sq);
          }
          const head = result.heads.find((x) => x.layer === l && x.head === h)!;
          close(head.outputNorm, norms / n, 1e-4 * Math.max(1, norms / n), `L${l}H${h} output norm`);
          assert.ok(Number.isFinite(head.entropy) && head.scores.previous !== null, head.name);
        }
      }
      // Token flow sums every head's attention over every layer: n units per head and layer.
      close(
        result.flow.total.reduce((s, a) => s + a, 0),
        flowTotal,
        1e-3,
        'token flow total',
      );
    });

    test('the head census as TransformerLens scores the reference patterns on the same probe', async () => {
      const settings = { batch: 2, halfLength: 6, seed: 9 };
      const result = await analyze(model, tokenizer, { prompt: PROMPT, census: true }, { modelInfo, censusSettings: settings });
      const census = result.census!;
      assert.equal(census.prependBos, false, 'the probe follows the model: no BOS');
      const sequences = censusSequences(fitCensusSettings({ ...settings, prependBos: false }, model.config), model.config);
      const { L, H } = checkpoint(random);
      const raw = { previous: new Float64Array(L * H), duplicate: new Float64Array(L * H), induction: new Float64Array(L * H) };
      for (const ids of sequences) {
        const n = ids.length;
        const ref = reference(ids);
        // Detection cells (query i, key j), from the tokens.
        const cells = {
          previous: (i: number, j: number): boolean => j === i - 1,
          duplicate: (i: number, j: number): boolean => j < i && ids[j] === ids[i],
          induction: (i: number, j: number): boolean => j >= 1 && j <= i && ids[j - 1] === ids[i] && j - 1 < i,
        };
        for (let l = 0; l < L; l++) {
          const pattern = ref.get(`blocks.${l}.attn.hook_pattern`)!.data;
          for (let h = 0; h < H; h++)
            for (const kind of ['previous', 'duplicate', 'induction'] as const) {
              let hit = 0,
                total = 0;
              for (let i = 0; i < n; i++)
                for (let j = 0; j < n; j++) {
                  const a = pattern[(h * n + i) * n + j]!;
                  total += a;
                  if (cells[kind](i, j)) hit += a;
                }
              raw[kind][l * H + h] = raw[kind][l * H + h]! + hit / total / sequences.length;
            }
        }
      }
      assert.equal(census.entries.length, L * H);
      for (const entry of census.entries)
        for (const kind of ['previous', 'duplicate', 'induction'] as const)
          close(entry.raw[kind], raw[kind][entry.layer * H + entry.head]!, 1e-5, `census L${entry.layer}H${entry.head} ${kind}`);
    });
  });
}
