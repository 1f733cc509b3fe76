/**
 * analyze() on tiny random Gemma models (gemma2: attention and final soft-caps; gemma3_text: q/k
 * norms, local/global RoPE) against an independent float64 reference: the reference forward of
 * test/helpers/reference-gemma.ts, and direct logit attribution and the logit lens written here from
 * their definitions for Gemma (norm weights multiply by 1 + w; checkpoint tensors read directly):
 *   the attention output is post-normed, attn_out = (Σ_h z_h W_O[h]) ⊙ (1 + w_post) / s_post, so with
 *   s_post frozen at the cached ln1_post.hook_scale head h contributes (z_h W_O[h] ⊙ (1 + w_post) / s_post) · ũ / scale,
 *   ũ = (1 + w_final) ⊙ u, u = W_U[:, target] − W_U[:, contrast] (or, 'tl' without a contrast, minus the
 *   vocabulary mean); MLP and embed: hook_mlp_out · ũ / scale and hook_embed · ũ / scale; no biases;
 *   the metric is the logit BEFORE the final soft-cap (the reference's pre-softcap logits);
 *   lens at each depth: softmax(cap · tanh(RMSNorm(resid) (1 + w) · W_U / cap)), the scale recomputed per depth;
 *   a head's output norm: the mean over positions of ‖z_h W_O[h] ⊙ (1 + w_post)‖ / s_post, what it adds to the stream;
 *   token flow: Σ over layers and heads of the attention pattern [query, key];
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
import { generateRandomGemma, type RandomGemma } from '../../../src/engine/model/random-gemma.js';
import { InstrumentedModel } from '../../../src/engine/runtime/instrumented-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import type { PromptTokenizer } from '../../../src/engine/tokenizer/types.js';
import type { AnalysisResult, DlaMode, ModelInfo } from '../../../src/protocol/analysis.js';
import { referenceGemmaForward, type ReferenceGemmaResult } from '../../helpers/reference-gemma.js';

const PROMPT = 'The cat sat on the mat. The cat sat on the';

interface ReferenceDla {
  heads: Float64Array; // [layer, head]
  headBySource: Float64Array; // [layer, head, key]
  mlp: Float64Array; // [layer]
  embed: number;
  actual: number;
}

function referenceDla(random: RandomGemma, ref: ReferenceGemmaResult, pos: number, target: number, contrast: number | null, mode: DlaMode): ReferenceDla {
  const c = random.config as Record<string, number>;
  const L = c['num_hidden_layers']!,
    D = c['hidden_size']!,
    H = c['num_attention_heads']!,
    Hkv = c['num_key_value_heads']!,
    Dh = c['head_dim']!,
    V = c['vocab_size']!;
  const W = new Map(random.tensors.map((t) => [t.name, t.data]));
  const U = W.get('model.embed_tokens.weight')!; // tied, [vocab, d_model]
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
  const wu = u.map((x, d) => x * (1 + w[d]!));
  const hooks = ref.hooks;
  const scale = hooks.get('ln_final.hook_scale')!.data[pos]!;
  const P = hooks.get('hook_embed')!.shape[0]!;
  const dot = (x: ArrayLike<number>, offset: number): number => {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[offset + d]! * wu[d]!;
    return s;
  };
  const heads = new Float64Array(L * H),
    headBySource = new Float64Array(L * H * P),
    mlp = new Float64Array(L);
  for (let l = 0; l < L; l++) {
    const pre = `model.layers.${l}.`;
    const O = W.get(`${pre}self_attn.o_proj.weight`)!;
    const wPost = W.get(`${pre}post_attention_layernorm.weight`)!;
    const sPost = hooks.get(`blocks.${l}.ln1_post.hook_scale`)!.data[pos]!;
    /** (x [d_head] @ W_O[h]) ⊙ (1 + w_post) / s_post · wu, W_O[h][e, d] = o_proj[d, h * Dh + e]. */
    const throughO = (h: number, x: (e: number) => number): number => {
      let s = 0;
      for (let d = 0; d < D; d++) {
        let o = 0;
        for (let e = 0; e < Dh; e++) o += x(e) * O[d * H * Dh + h * Dh + e]!;
        s += ((o * (1 + wPost[d]!)) / sPost) * wu[d]!;
      }
      return s;
    };
    const z = hooks.get(`blocks.${l}.attn.hook_z`)!.data; // [pos, head, d_head]
    const v = hooks.get(`blocks.${l}.attn.hook_v`)!.data; // [pos, kv_head, d_head]
    const pattern = hooks.get(`blocks.${l}.attn.hook_pattern`)!.data; // [head, query, key]
    for (let h = 0; h < H; h++) {
      const kv = Math.floor(h / (H / Hkv));
      heads[l * H + h] = throughO(h, (e) => z[(pos * H + h) * Dh + e]!) / scale;
      for (let k = 0; k <= pos; k++)
        headBySource[(l * H + h) * P + k] = (pattern[(h * P + pos) * P + k]! * throughO(h, (e) => v[(k * Hkv + kv) * Dh + e]!)) / scale;
    }
    mlp[l] = dot(hooks.get(`blocks.${l}.hook_mlp_out`)!.data, pos * D) / scale;
  }
  const logits = ref.preSoftcapLogits.subarray(pos * V, (pos + 1) * V);
  const mean = logits.reduce((s, x) => s + x, 0) / V;
  const actual = logits[target]! - (contrast !== null ? logits[contrast]! : mode === 'tl' ? mean : 0);
  return { heads, headBySource, mlp, embed: dot(hooks.get('hook_embed')!.data, pos * D) / scale, actual };
}

/** Target probability at each lens depth (resid_pre 0..L-1, resid_post L-1): the final norm recomputed per depth, then the soft-cap. */
function referenceLens(random: RandomGemma, ref: ReferenceGemmaResult, pos: number, target: number): number[] {
  const c = random.config as Record<string, number | null>;
  const L = c['num_hidden_layers']!,
    D = c['hidden_size']!,
    V = c['vocab_size']!,
    eps = c['rms_norm_eps']!,
    cap = c['final_logit_softcapping'] ?? null;
  const W = new Map(random.tensors.map((t) => [t.name, t.data]));
  const U = W.get('model.embed_tokens.weight')!;
  const w = W.get('model.norm.weight')!;
  const depths = [...Array.from({ length: L }, (_, l) => `blocks.${l}.hook_resid_pre`), `blocks.${L - 1}.hook_resid_post`];
  return depths.map((name) => {
    const x = ref.hooks.get(name)!.data.subarray(pos * D, (pos + 1) * D);
    const scale = Math.sqrt(x.reduce((s, a) => s + a * a, 0) / D + eps);
    const logits = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += (x[d]! / scale) * (1 + w[d]!) * U[v * D + d]!;
      logits[v] = cap === null ? s : cap * Math.tanh(s / cap);
    }
    const max = Math.max(...logits);
    const total = logits.reduce((s, a) => s + Math.exp(a - max), 0);
    return Math.exp(logits[target]! - max) / total;
  });
}

/** Per head [layer, head]: the mean over positions of ‖z_h W_O[h] ⊙ (1 + w_post)‖ / s_post. */
function referenceOutputNorms(random: RandomGemma, ref: ReferenceGemmaResult): Float64Array {
  const c = random.config as Record<string, number>;
  const L = c['num_hidden_layers']!,
    D = c['hidden_size']!,
    H = c['num_attention_heads']!,
    Dh = c['head_dim']!;
  const P = ref.hooks.get('hook_embed')!.shape[0]!;
  const W = new Map(random.tensors.map((t) => [t.name, t.data]));
  const out = new Float64Array(L * H);
  for (let l = 0; l < L; l++) {
    const O = W.get(`model.layers.${l}.self_attn.o_proj.weight`)!;
    const wPost = W.get(`model.layers.${l}.post_attention_layernorm.weight`)!;
    const z = ref.hooks.get(`blocks.${l}.attn.hook_z`)!.data;
    const sPost = ref.hooks.get(`blocks.${l}.ln1_post.hook_scale`)!.data;
    for (let h = 0; h < H; h++) {
      let sum = 0;
      for (let p = 0; p < P; p++) {
        let sq = 0;
        for (let d = 0; d < D; d++) {
          let o = 0;
          for (let e = 0; e < Dh; e++) o += z[(p * H + h) * Dh + e]! * O[d * H * Dh + h * Dh + e]!;
          sq += (o * (1 + wPost[d]!)) ** 2;
        }
        sum += Math.sqrt(sq) / sPost[p]!;
      }
      out[l * H + h] = sum / P;
    }
  }
  return out;
}

const close = (a: number, b: number, tol: number, what: string): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs reference ${b}`);

for (const [arch, seed] of [
  ['gemma2', 31],
  ['gemma3_text', 32],
] as const) {
  describe(`analyze on a tiny random ${arch}`, () => {
    let random: RandomGemma;
    let model: InstrumentedModel;
    let tokenizer: PromptTokenizer;
    let modelInfo: ModelInfo;
    before(async () => {
      random = generateRandomGemma(arch, 'tiny', seed);
      const dir = mkdtempSync(join(tmpdir(), `ct-analyze-${arch}-`));
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      const loaded = await loadModelFolder(dir);
      tokenizer = loaded.tokenizer;
      model = await InstrumentedModel.create(loaded.model, { device: 'cpu' });
      const c = loaded.model.config;
      modelInfo = { id: arch, displayName: arch, nLayers: c.nLayers, nHeads: c.nHeads, dModel: c.dModel, dHead: c.dHead, dVocab: c.dVocab, nCtx: c.nCtx };
    });
    after(() => model.dispose());

    const check = async (mode: DlaMode, withContrast: boolean): Promise<void> => {
      const first = await analyze(model, tokenizer, { prompt: PROMPT, topK: 5, dla: mode }, { modelInfo });
      const contrast = withContrast ? first.predictions[1]!.tokenId : null;
      const result: AnalysisResult = withContrast
        ? await analyze(model, tokenizer, { prompt: PROMPT, topK: 5, dla: mode, contrast: { id: contrast! } }, { modelInfo })
        : first;
      const ids = result.tokens.map((t) => t.id);
      const n = ids.length;
      assert.ok(n > (random.config['sliding_window'] as number), 'the prompt is longer than the sliding window');
      const pos = n - 1;
      const ref = referenceGemmaForward(new Map(random.tensors.map((t) => [t.name, t])), random.config, ids);
      const V = modelInfo.dVocab;
      const last = ref.hooks.get('logits')!.data.subarray(pos * V, (pos + 1) * V);
      for (const p of result.predictions) close(p.logit, last[p.tokenId]!, 1e-4, `prediction ${p.tokenId} (the model's capped logit)`);
      const trace = result.trace;
      const cap = (random.config['final_logit_softcapping'] as number | null) ?? null;
      assert.equal(trace.logitSoftcap, cap, 'the trace says which logit it attributes');
      const want = referenceDla(random, ref, pos, trace.targetId, contrast, mode);
      const what = `${mode}${withContrast ? ' logit diff' : ''}`;
      close(trace.actual, want.actual, 1e-3, `${what}: actual (pre-softcap)`);
      close(trace.total, want.actual, 1e-3, `${what}: components sum to the pre-softcap metric`);
      close(trace.total, trace.actual, 1e-3, `${what}: components sum to the actual metric`);
      want.heads.forEach((v, i) => close(trace.heads[i]!, v, 1e-4, `${what}: head ${i}`));
      want.headBySource.forEach((v, i) => close(trace.headBySource[i]!, v, 1e-4, `${what}: head ${Math.floor(i / n)} from key ${i % n}`));
      want.mlp.forEach((v, l) => close(trace.mlp[l]!, v, 1e-4, `${what}: mlp${l}`));
      close(trace.embed, want.embed, 1e-4, `${what}: embed`);
      close(trace.bias, 0, 1e-9, `${what}: bias (Gemma has none)`);
      assert.equal(trace.posEmbed, null);
      assert.equal(trace.components.length, modelInfo.nLayers * (modelInfo.nHeads + 1) + 2);

      const lens = referenceLens(random, ref, pos, result.lens.targetId);
      assert.equal(result.lens.layers.length, lens.length);
      lens.forEach((p, depth) => close(result.lens.layers[depth]!.targetProb, p, 1e-4, `lens depth ${depth}`));
      assert.deepEqual(
        result.lens.layers.at(-1)!.top.map((p) => p.tokenId),
        result.predictions.map((p) => p.tokenId),
      );
      assert.equal(result.heads.length, modelInfo.nLayers * modelInfo.nHeads);
      for (const head of result.heads) assert.ok(Number.isFinite(head.entropy) && head.scores.previous !== null, head.name);
      const norms = referenceOutputNorms(random, ref);
      result.heads.forEach((head) => close(head.outputNorm, norms[head.layer * modelInfo.nHeads + head.head]!, 1e-4, `${head.name} output norm`));
    };
    test('token flow sums the reference patterns (a sliding window shorter than the prompt shows in them)', async () => {
      const result = await analyze(model, tokenizer, { prompt: PROMPT }, { modelInfo });
      const ids = result.tokens.map((t) => t.id);
      const n = ids.length;
      const ref = referenceGemmaForward(new Map(random.tensors.map((t) => [t.name, t])), random.config, ids);
      const flow = new Float64Array(n * n);
      for (let l = 0; l < modelInfo.nLayers; l++) {
        const pattern = ref.hooks.get(`blocks.${l}.attn.hook_pattern`)!.data; // [head, query, key]
        pattern.forEach((a, i) => (flow[i % (n * n)] = flow[i % (n * n)]! + a));
      }
      flow.forEach((f, i) => close(result.flow.total[i]!, f, 1e-4, `flow query ${Math.floor(i / n)} key ${i % n}`));
      const window = random.config['sliding_window'] as number;
      const layer0 = ref.hooks.get('blocks.0.attn.hook_pattern')!.data; // layer 0 slides in both
      assert.equal(layer0[(n - 1) * n + (n - 1 - window)], 0, 'a key just outside the window gets no attention on a sliding layer');
    });

    test('the head census as TransformerLens scores the reference patterns on the same probe', async () => {
      const settings = { batch: 2, halfLength: 6, seed: 9 };
      const result = await analyze(model, tokenizer, { prompt: PROMPT, census: true }, { modelInfo, censusSettings: settings });
      const census = result.census!;
      const sequences = censusSequences(fitCensusSettings({ ...settings, prependBos: census.prependBos }, model.config), model.config);
      const L = modelInfo.nLayers,
        H = modelInfo.nHeads;
      const raw = { previous: new Float64Array(L * H), duplicate: new Float64Array(L * H), induction: new Float64Array(L * H) };
      for (const ids of sequences) {
        const n = ids.length;
        const ref = referenceGemmaForward(new Map(random.tensors.map((t) => [t.name, t])), random.config, ids).hooks;
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

    for (const mode of ['tl', 'raw'] as const) {
      test(`DLA (${mode}) per head (through the frozen post-attention norm), per source, MLP and embed as the reference; the lens as the reference`, () =>
        check(mode, false));
      test(`DLA (${mode}) of a logit difference as the reference`, () => check(mode, true));
    }
  });
}
