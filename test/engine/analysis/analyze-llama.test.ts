/**
 * analyze() on tiny random Llama-family models (llama: grouped-query attention and llama3 rope
 * scaling; qwen2: q/k/v biases and tied embeddings) against an independent float64 reference:
 * the reference forward of test/helpers/reference-llama.ts, and direct logit attribution and the
 * logit lens written here from their definitions for RMSNorm models (also on mistral, whose window
 * is shorter than the prompt, and qwen3, whose head_dim is not hidden / heads):
 *   component c contributes c · (w ⊙ u) / scale (no centring over d_model), scale the cached
 *   ln_final.hook_scale, u = W_U[:, target] − W_U[:, contrast] (or, in 'tl' mode without a contrast,
 *   minus the vocabulary mean: center_unembed); 'tl' books b_V[kv(h)] · W_O[h] (fold_value_biases)
 *   under 'bias'; head h reads kv head h // (H / H_kv);
 *   lens at each depth: softmax(RMSNorm(resid) · W_U) with the scale recomputed from that resid.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../../../src/engine/analysis/analyze.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { loadModelFolder } from '../../../src/engine/model/load-folder.js';
import { generateRandomLlama, type RandomLlama } from '../../../src/engine/model/random-llama.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import type { AnalysisResult, DlaMode, ModelInfo } from '../../../src/protocol/analysis.js';
import type { ReferenceTensor } from '../../helpers/reference-gpt2.js';
import { referenceLlamaForward } from '../../helpers/reference-llama.js';

const PROMPT = 'The cat sat on the mat. The cat sat on the';

/** The reference DLA of one trace, from the definitions above. */
interface ReferenceDla {
  heads: Float64Array; // [layer, head]
  headBySource: Float64Array; // [layer, head, key]
  mlp: Float64Array; // [layer]
  embed: number;
  bias: number;
  actual: number;
}

function referenceDla(
  random: RandomLlama,
  ref: Map<string, ReferenceTensor>,
  pos: number,
  target: number,
  contrast: number | null,
  mode: DlaMode,
): ReferenceDla {
  const c = random.config as Record<string, number | boolean | string>;
  const L = c['num_hidden_layers'] as number,
    D = c['hidden_size'] as number,
    H = c['num_attention_heads'] as number,
    Hkv = c['num_key_value_heads'] as number,
    V = c['vocab_size'] as number;
  const Dh = (c['head_dim'] as number | undefined) ?? D / H;
  const W = new Map(random.tensors.map((t) => [t.name, t.data]));
  const U = c['tie_word_embeddings'] === true ? W.get('model.embed_tokens.weight')! : W.get('lm_head.weight')!; // [vocab, d_model]
  const w = W.get('model.norm.weight')!;
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
  const wu = u.map((x, d) => x * w[d]!);
  const scale = ref.get('ln_final.hook_scale')!.data[pos]!;
  const P = ref.get('hook_embed')!.shape[0]!;
  const dot = (x: ArrayLike<number>, offset: number): number => {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[offset + d]! * wu[d]!;
    return s;
  };
  /** (x [d_head] @ W_O[h]) · wu, W_O[h][e, d] = o_proj[d, h * Dh + e]. */
  const throughO = (O: Float32Array, h: number, x: (e: number) => number): number => {
    let s = 0;
    for (let d = 0; d < D; d++) {
      let o = 0;
      for (let e = 0; e < Dh; e++) o += x(e) * O[d * H * Dh + h * Dh + e]!;
      s += o * wu[d]!;
    }
    return s;
  };
  const heads = new Float64Array(L * H),
    headBySource = new Float64Array(L * H * P),
    mlp = new Float64Array(L);
  let bias = 0;
  for (let l = 0; l < L; l++) {
    const pre = `model.layers.${l}.`;
    const O = W.get(`${pre}self_attn.o_proj.weight`)!;
    const bV = W.get(`${pre}self_attn.v_proj.bias`) ?? new Float32Array(Hkv * Dh);
    const z = ref.get(`blocks.${l}.attn.hook_z`)!.data; // [pos, head, d_head]
    const v = ref.get(`blocks.${l}.attn.hook_v`)!.data; // [pos, kv_head, d_head]
    const pattern = ref.get(`blocks.${l}.attn.hook_pattern`)!.data; // [head, query, key]
    for (let h = 0; h < H; h++) {
      const kv = Math.floor(h / (H / Hkv));
      const folded = mode === 'tl' ? throughO(O, h, (e) => bV[kv * Dh + e]!) : 0;
      heads[l * H + h] = (throughO(O, h, (e) => z[(pos * H + h) * Dh + e]!) - folded) / scale;
      bias += folded / scale;
      for (let k = 0; k <= pos; k++) {
        const value = throughO(O, h, (e) => v[(k * Hkv + kv) * Dh + e]!) - folded;
        headBySource[(l * H + h) * P + k] = (pattern[(h * P + pos) * P + k]! * value) / scale;
      }
    }
    mlp[l] = dot(ref.get(`blocks.${l}.hook_mlp_out`)!.data, pos * D) / scale;
    const bO = W.get(`${pre}self_attn.o_proj.bias`);
    if (bO) bias += dot(bO, 0) / scale;
  }
  const logits = ref.get('logits')!.data.subarray(pos * V, (pos + 1) * V);
  let mean = 0;
  for (let v = 0; v < V; v++) mean += logits[v]!;
  mean /= V;
  const actual = logits[target]! - (contrast !== null ? logits[contrast]! : mode === 'tl' ? mean : 0);
  return { heads, headBySource, mlp, embed: dot(ref.get('hook_embed')!.data, pos * D) / scale, bias, actual };
}

/** Target probability at each lens depth (resid_pre 0..L-1, resid_post L-1), RMSNorm recomputed per depth. */
function referenceLens(random: RandomLlama, ref: Map<string, ReferenceTensor>, pos: number, target: number): number[] {
  const c = random.config as Record<string, number | boolean>;
  const L = c['num_hidden_layers'] as number,
    D = c['hidden_size'] as number,
    V = c['vocab_size'] as number,
    eps = c['rms_norm_eps'] as number;
  const W = new Map(random.tensors.map((t) => [t.name, t.data]));
  const U = c['tie_word_embeddings'] === true ? W.get('model.embed_tokens.weight')! : W.get('lm_head.weight')!;
  const w = W.get('model.norm.weight')!;
  const depths = [...Array.from({ length: L }, (_, l) => `blocks.${l}.hook_resid_pre`), `blocks.${L - 1}.hook_resid_post`];
  return depths.map((name) => {
    const x = ref.get(name)!.data.subarray(pos * D, (pos + 1) * D);
    const scale = Math.sqrt(x.reduce((s, a) => s + a * a, 0) / D + eps);
    const logits = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += (x[d]! / scale) * w[d]! * U[v * D + d]!;
      logits[v] = s;
    }
    const max = Math.max(...logits);
    const total = logits.reduce((s, a) => s + Math.exp(a - max), 0);
    return Math.exp(logits[target]! - max) / total;
  });
}

const close = (a: number, b: number, tol: number, what: string): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs reference ${b}`);

for (const [arch, seed] of [
  ['llama', 21],
  ['qwen2', 22],
  ['mistral', 23],
  ['qwen3', 24],
] as const) {
  describe(`analyze on a tiny random ${arch}`, () => {
    let random: RandomLlama;
    let model: InstrumentedModel;
    let tokenizer: PromptTokenizer;
    let modelInfo: ModelInfo;
    before(async () => {
      random = generateRandomLlama(arch, 'tiny', seed);
      const dir = mkdtempSync(join(tmpdir(), `ct-analyze-${arch}-`));
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      const loaded = await loadModelFolder(dir);
      tokenizer = loaded.tokenizer;
      model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
      const c = loaded.model.config;
      modelInfo = { id: arch, displayName: arch, nLayers: c.nLayers, nHeads: c.nHeads, dModel: c.dModel, dHead: c.dHead, dVocab: c.dVocab, nCtx: c.nCtx };
    });
    after(() => model.dispose());

    test('the models have what the test means to exercise', () => {
      const c = random.config;
      if (arch === 'llama') {
        assert.ok((c['num_key_value_heads'] as number) < (c['num_attention_heads'] as number), 'GQA');
        assert.ok(c['rope_scaling'], 'llama3 rope scaling');
      } else if (arch === 'qwen2') {
        const bV = random.tensors.find((t) => t.name === 'model.layers.0.self_attn.v_proj.bias')!;
        assert.ok(
          bV.data.some((x) => Math.abs(x) > 1e-3),
          'nonzero value biases',
        );
      }
    });

    const check = async (mode: DlaMode, withContrast: boolean): Promise<void> => {
      const first = await analyze(model, tokenizer, { prompt: PROMPT, topK: 5, dla: mode }, { modelInfo });
      const contrast = withContrast ? first.predictions[1]!.tokenId : null;
      const result: AnalysisResult = withContrast
        ? await analyze(model, tokenizer, { prompt: PROMPT, topK: 5, dla: mode, contrast: { id: contrast! } }, { modelInfo })
        : first;
      const ids = result.tokens.map((t) => t.id);
      const n = ids.length;
      const pos = n - 1;
      const ref = referenceLlamaForward(new Map(random.tensors.map((t) => [t.name, t])), random.config, ids);
      const V = modelInfo.dVocab;
      const last = ref.get('logits')!.data.subarray(pos * V, (pos + 1) * V);
      for (const p of result.predictions) close(p.logit, last[p.tokenId]!, 1e-4, `prediction ${p.tokenId}`);
      const trace = result.trace;
      const want = referenceDla(random, ref, pos, trace.targetId, contrast, mode);
      const what = `${mode}${withContrast ? ' logit diff' : ''}`;
      close(trace.actual, want.actual, 1e-4, `${what}: actual`);
      close(trace.total, trace.actual, 1e-4, `${what}: components sum to the actual metric`);
      want.heads.forEach((v, i) => close(trace.heads[i]!, v, 1e-4, `${what}: head ${i}`));
      want.headBySource.forEach((v, i) => close(trace.headBySource[i]!, v, 1e-4, `${what}: head ${Math.floor(i / n)} from key ${i % n}`));
      want.mlp.forEach((v, l) => close(trace.mlp[l]!, v, 1e-4, `${what}: mlp${l}`));
      close(trace.embed, want.embed, 1e-4, `${what}: embed`);
      close(trace.bias, want.bias, 1e-4, `${what}: bias`);
      assert.equal(trace.posEmbed, null);
      assert.deepEqual(
        trace.components.map((c) => c.kind).filter((k) => k !== 'head' && k !== 'mlp'),
        trace.components.map((c) => c.kind).filter((k) => k === 'embed' || k === 'bias'),
        'embed and bias, no pos_embed',
      );
      assert.equal(trace.components.length, modelInfo.nLayers * (modelInfo.nHeads + 1) + 2);

      const lens = referenceLens(random, ref, pos, result.lens.targetId);
      assert.equal(result.lens.layers.length, lens.length);
      lens.forEach((p, depth) => close(result.lens.layers[depth]!.targetProb, p, 1e-4, `lens depth ${depth}`));
      assert.deepEqual(
        result.lens.layers.at(-1)!.top.map((p) => p.tokenId),
        result.predictions.map((p) => p.tokenId),
      );
      assert.equal(result.heads.length, modelInfo.nLayers * modelInfo.nHeads);
      for (const head of result.heads) assert.ok(Number.isFinite(head.entropy) && head.outputNorm > 0 && head.scores.previous !== null, head.name);
    };
    for (const mode of ['tl', 'raw'] as const) {
      test(`DLA (${mode}) per head, per source, MLP, embed and bias as the reference; the lens as the reference`, () => check(mode, false));
      test(`DLA (${mode}) of a logit difference as the reference`, () => check(mode, true));
    }
  });
}
