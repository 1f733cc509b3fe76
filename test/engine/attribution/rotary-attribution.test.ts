/**
 * AtP, AtP* (QK fix on the rotated queries and keys, GradDrop), EAP and EAP-IG on the rotary families
 * against the same quantities computed from the independent float64 reverse passes
 * (test/helpers/reference-llama-backward.ts, reference-gpt-neox-backward.ts), combined here from the
 * published definitions: tiny random llama (grouped-query attention, llama3 rope scaling), mistral (a
 * sliding window of 4 keys), qwen2 (q/k/v biases, tied embeddings), qwen3 (q/k norms, head_dim ≠
 * d_model / heads), GPT-NeoX with the parallel residual (partial rotary; no head → same-layer MLP
 * edge) and Gemma 2 (node scores only, the
 * QK fix through its attention soft-cap; its post-attention norm leaves no edges between heads, which
 * EAP refuses). Every score within 1e-4 of the largest score. Also the identity Σ over a head's
 * outgoing edges of EAP = the head's AtP, under grouped-query attention (whose key and value inputs
 * are the key/value heads', `L1KV0.k`) and with the parallel residual.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runAttribution } from '../../../src/engine/attribution/run-attribution.js';
import type { AttributionRequest, NodeScore } from '../../../src/engine/attribution/attribution-types.js';
import type { ScoredEdge } from '../../../src/protocol/circuit.js';
import { defaultMetricCoefficients, GradientModel } from '../../../src/engine/runtime/gradient-model.js';
import { gemmaGradientFixture, gptNeoxGradientFixture, llamaGradientFixture, type RotaryGradientFixture } from '../../helpers/rotary-gradient-fixtures.js';
import { referenceGemmaEmbeddings, referenceGemmaGradients } from '../../helpers/reference-gemma-backward.js';
import { referenceLlamaEmbeddings, referenceLlamaGradients } from '../../helpers/reference-llama-backward.js';
import { referenceGptNeoxEmbeddings, referenceGptNeoxGradients } from '../../helpers/reference-gpt-neox-backward.js';
import type { ReferenceBackwardOptions, ReferenceGradients, ReferenceMetric } from '../../helpers/reference-gpt2-backward.js';
import type { ReferenceWeightTensor } from '../../helpers/reference-gpt2.js';
import {
  assertEapSumsToAtp,
  assertStreamAndNeuronAtp,
  averagedGradient,
  assertScoresClose,
  compareEdges,
  dots,
  downstreamGradient,
  eapScores,
  softmax,
  writersBefore,
} from '../../helpers/attribution-reference.js';

const TOL = 1e-4;
const CLEAN = [464, 3797, 3332, 319, 262, 2603, 13, 383];
const CORRUPT = [464, 3290, 3332, 319, 262, 1110, 13, 383];
const TARGET = 3332,
  CONTRAST = 1110;

const assertClose = (actual: readonly number[], expected: readonly number[], label: string): void => assertScoresClose(actual, expected, label, TOL, null);

interface Case {
  label: string;
  fixture: () => RotaryGradientFixture;
  gradients: (
    tensors: Map<string, ReferenceWeightTensor>,
    config: Record<string, unknown>,
    embeddings: Float64Array,
    metric: ReferenceMetric,
    options?: ReferenceBackwardOptions,
  ) => ReferenceGradients;
  embeddings: (tensors: Map<string, ReferenceWeightTensor>, ids: readonly number[]) => Float64Array;
  /** The attention output projection, nn.Linear [d_model, head * d_head]. */
  outProjection: (layer: number) => string;
  /** A layer's sliding window, or null. */
  window: (layer: number) => number | null;
  /** The score the softmax takes from q · k: the scale, and Gemma 2's soft-cap (from the checkpoint's config). */
  score: (dot: number, dHead: number, config: Record<string, unknown>) => number;
  parallel: boolean;
  /** Whether heads have edges of their own (not Gemma's post-normed attention). */
  edges: boolean;
}

const scaled = (dot: number, dHead: number): number => dot / Math.sqrt(dHead);

const llama = (arch: 'llama' | 'mistral' | 'qwen2' | 'qwen3', window: number | null): Case => ({
  label: arch,
  fixture: () => llamaGradientFixture(arch, 3, 2),
  gradients: referenceLlamaGradients,
  embeddings: referenceLlamaEmbeddings,
  outProjection: (l) => `model.layers.${l}.self_attn.o_proj.weight`,
  window: () => window,
  score: scaled,
  parallel: false,
  edges: true,
});
const CASES: Case[] = [
  llama('llama', null),
  llama('mistral', 4),
  llama('qwen2', null),
  llama('qwen3', null),
  {
    label: 'gpt_neox (parallel residual)',
    fixture: () => gptNeoxGradientFixture(3, true, 2),
    gradients: referenceGptNeoxGradients,
    embeddings: referenceGptNeoxEmbeddings,
    outProjection: (l) => `gpt_neox.layers.${l}.attention.dense.weight`,
    window: () => null,
    score: scaled,
    parallel: true,
    edges: true,
  },
  {
    // query_pre_attn_scalar ≠ d_head, a soft-cap small enough to bend the scores, a window of 4 on even layers.
    label: 'gemma2',
    fixture: () => gemmaGradientFixture('gemma2', 3, 4),
    gradients: referenceGemmaGradients,
    embeddings: referenceGemmaEmbeddings,
    outProjection: (l) => `model.layers.${l}.self_attn.o_proj.weight`,
    window: (l) => (l % 2 === 0 ? 4 : null),
    score: (dot, _dHead, config) => {
      const cap = config['attn_logit_softcapping'] as number;
      return cap * Math.tanh((dot * (config['query_pre_attn_scalar'] as number) ** -0.5) / cap);
    },
    parallel: false,
    edges: false,
  },
];

for (const c of CASES) {
  describe(`attribution on a tiny random ${c.label}`, () => {
    let fx: RotaryGradientFixture;
    let model: GradientModel;
    let cleanRef: ReferenceGradients;
    let corruptRef: ReferenceGradients;
    let L: number, H: number, Hkv: number, D: number, Dh: number, P: number;
    const metric = defaultMetricCoefficients(TARGET, CONTRAST);
    const base = (method: AttributionRequest['method'], kind: AttributionRequest['kind']): AttributionRequest => ({
      cleanIds: CLEAN,
      corruptIds: CORRUPT,
      targetId: TARGET,
      contrastId: CONTRAST,
      method,
      kind,
    });
    const grads = (l: number, hook: string, ref = corruptRef): Float64Array => ref.gradients.get(`blocks.${l}.${hook}`)!;
    const vals = (ref: ReferenceGradients, l: number, hook: string): Float64Array => ref.values.get(`blocks.${l}.${hook}`)!;

    before(async () => {
      fx = c.fixture();
      model = await GradientModel.create(fx.model, { threads: 1 });
      ({ nLayers: L, nHeads: H, dModel: D, dHead: Dh } = fx.model.config);
      Hkv = fx.model.config.nKvHeads ?? H;
      P = CLEAN.length;
      cleanRef = c.gradients(fx.tensors, fx.config, c.embeddings(fx.tensors, CLEAN), metric);
      corruptRef = c.gradients(fx.tensors, fx.config, c.embeddings(fx.tensors, CORRUPT), metric);
    });
    after(() => model.dispose());

    test('metric of both prompts, AtP over heads, resid_pre, attn_out, mlp_out and neurons', async () => {
      const heads = await runAttribution(model, { ...base('atp', 'heads'), perPosition: true });
      assert.ok(Math.abs(heads.metric.clean - cleanRef.metric) <= 1e-4 * Math.max(1, Math.abs(cleanRef.metric)));
      assert.ok(Math.abs(heads.metric.corrupt - corruptRef.metric) <= 1e-4 * Math.max(1, Math.abs(corruptRef.metric)));
      const expected: number[] = [];
      for (let l = 0; l < L; l++) {
        const d = dots(vals(cleanRef, l, 'attn.hook_z'), vals(corruptRef, l, 'attn.hook_z'), grads(l, 'attn.hook_z'), Dh); // [pos, head]
        for (let h = 0; h < H; h++) for (let p = 0; p < P; p++) expected.push(d[p * H + h]!);
      }
      assertClose(
        (heads.entries as NodeScore[]).map((e) => e.score),
        expected,
        'AtP heads per position',
      );
      await assertStreamAndNeuronAtp(
        async (kind) => (await runAttribution(model, base('atp', kind))).entries as NodeScore[],
        cleanRef,
        corruptRef,
        { layers: L, positions: P, dModel: D },
        assertClose,
      );
    });

    /**
     * AtP* of each query head per position from the reference: the pattern recomputed with the clean
     * rotated query (or key of the head's key/value head) against the corrupted run's ∂m/∂pattern,
     * plus the values' AtP through this head, Σ_j,e Δv[j, kv(h), e] Σ_i A_h[i, j] ∂m/∂z[i, h, e].
     */
    const atpStarReference = (ref: ReferenceGradients, l: number): number[] => {
      const window = c.window(l);
      const qC = vals(cleanRef, l, 'attn.hook_rot_q'),
        kC = vals(cleanRef, l, 'attn.hook_rot_k'),
        qX = vals(corruptRef, l, 'attn.hook_rot_q'),
        kX = vals(corruptRef, l, 'attn.hook_rot_k'),
        vC = vals(cleanRef, l, 'attn.hook_v'),
        vX = vals(corruptRef, l, 'attn.hook_v'),
        A = vals(corruptRef, l, 'attn.hook_pattern'),
        G = grads(l, 'attn.hook_pattern', ref),
        dZ = grads(l, 'attn.hook_z', ref);
      const out: number[] = [];
      for (let h = 0; h < H; h++) {
        const kv = Math.floor(h / (H / Hkv));
        const score = (q: Float64Array, i: number, k: Float64Array, j: number): number => {
          let s = 0;
          for (let e = 0; e < Dh; e++) s += q[(i * H + h) * Dh + e]! * k[(j * Hkv + kv) * Dh + e]!;
          return c.score(s, Dh, fx.config);
        };
        const key = new Array<number>(P).fill(0);
        const query = new Array<number>(P).fill(0);
        const value = new Array<number>(P).fill(0);
        for (let i = 0; i < P; i++) {
          const first = window === null ? 0 : Math.max(0, i - window + 1);
          const visible = Array.from({ length: i - first + 1 }, (_, n) => first + n);
          const rowEffect = (scores: number[]): number =>
            softmax(scores).reduce((s, a, n) => s + (a - A[(h * P + i) * P + visible[n]!]!) * G[(h * P + i) * P + visible[n]!]!, 0);
          query[i] = rowEffect(visible.map((j) => score(qC, i, kX, j)));
          for (const j of visible) key[j]! += rowEffect(visible.map((jj) => (jj === j ? score(qX, i, kC, jj) : score(qX, i, kX, jj))));
          for (const j of visible)
            for (let e = 0; e < Dh; e++)
              value[j]! += (vC[(j * Hkv + kv) * Dh + e]! - vX[(j * Hkv + kv) * Dh + e]!) * A[(h * P + i) * P + j]! * dZ[(i * H + h) * Dh + e]!;
        }
        for (let p = 0; p < P; p++) out.push(query[p]! + key[p]! + value[p]!);
      }
      return out;
    };

    test('AtP*: heads with the QK fix on the rotated queries and keys, per position', async () => {
      const got = (await runAttribution(model, { ...base('atp-star', 'heads'), perPosition: true })).entries as NodeScore[];
      const expected = Array.from({ length: L }, (_, l) => atpStarReference(corruptRef, l)).flat();
      assertClose(
        got.map((e) => e.score),
        expected,
        'AtP* heads per position',
      );
    });

    test('AtP* with GradDrop: the mean over dropped layers of |AtP*| with that layer dropped', async () => {
      const got = (await runAttribution(model, { ...base('atp-star', 'heads'), gradDrop: true })).entries as NodeScore[];
      const dropped = Array.from({ length: L }, (_, drop) =>
        c.gradients(fx.tensors, fx.config, c.embeddings(fx.tensors, CORRUPT), metric, { dropLayer: drop }),
      );
      const expected: number[] = [];
      for (let l = 0; l < L; l++) {
        const perDrop = dropped.map((ref) => atpStarReference(ref, l));
        for (let h = 0; h < H; h++) expected.push(perDrop.reduce((s, d) => s + Math.abs(d.slice(h * P, (h + 1) * P).reduce((a, b) => a + b, 0)) / (L - 1), 0));
      }
      assertClose(
        got.map((e) => e.score),
        expected,
        'AtP* + GradDrop heads',
      );
    });

    /** EAP scores from the reference: upstream differences (z_h · o_proj[:, h], mlp_out, the token embedding) against downstream gradients. */
    const eapReference = (downGrad: (name: string) => Float64Array): Map<string, number> => {
      const up = new Map<string, Float64Array>();
      const embC = c.embeddings(fx.tensors, CLEAN),
        embX = c.embeddings(fx.tensors, CORRUPT);
      up.set(
        'embed',
        embC.map((x, i) => x - embX[i]!),
      );
      for (let l = 0; l < L; l++) {
        const o = fx.tensors.get(c.outProjection(l))!.data; // [d_model, head * d_head]
        const zc = vals(cleanRef, l, 'attn.hook_z'),
          zx = vals(corruptRef, l, 'attn.hook_z');
        for (let h = 0; h < H; h++) {
          const out = new Float64Array(P * D);
          for (let p = 0; p < P; p++)
            for (let e = 0; e < Dh; e++) {
              const dz = zc[(p * H + h) * Dh + e]! - zx[(p * H + h) * Dh + e]!;
              for (let i = 0; i < D; i++) out[p * D + i]! += dz * o[i * H * Dh + h * Dh + e]!;
            }
          up.set(`L${l}H${h}`, out);
        }
        up.set(
          `mlp${l}`,
          vals(cleanRef, l, 'hook_mlp_out').map((x, i) => x - vals(corruptRef, l, 'hook_mlp_out')[i]!),
        );
      }
      const edges: Array<[string, string]> = [];
      for (let l = 0; l < L; l++) {
        for (let h = 0; h < H; h++) for (const u of writersBefore(l, H, false)) edges.push([u, `L${l}H${h}.q`]);
        const kvName = Hkv === H ? 'H' : 'KV';
        for (const which of ['k', 'v'])
          for (let kv = 0; kv < Hkv; kv++) for (const u of writersBefore(l, H, false)) edges.push([u, `L${l}${kvName}${kv}.${which}`]);
        // With the parallel residual the MLP reads resid_pre: its own layer's heads do not write before it.
        for (const u of writersBefore(l, H, !c.parallel)) edges.push([u, `mlp${l}`]);
      }
      for (const u of writersBefore(L, H, false)) edges.push([u, 'logits']);
      return eapScores(up, downGrad, edges);
    };
    /** A reference's gradient of a downstream node's input, [pos, d_model]. */
    const downstreamGrad = (ref: ReferenceGradients) => downstreamGradient(ref, { positions: P, dModel: D, heads: H, kvHeads: Hkv });

    test('EAP over every edge (key/value inputs per key/value head), and Σ over a head’s outgoing edges = its AtP', async (t) => {
      if (!c.edges) {
        await assert.rejects(
          runAttribution(model, base('eap', 'edges')),
          (e: { code?: string; message: string }) => e.code === 'UNSUPPORTED_ARCHITECTURE' && /no edges between heads/.test(e.message),
        );
        t.diagnostic('refused: no edges between heads');
        return;
      }
      const got = (await runAttribution(model, base('eap', 'edges'))).entries as ScoredEdge[];
      assert.ok(got.some((e) => e.to === (Hkv === H ? 'L1H3.k' : 'L1KV1.k')));
      assert.equal(
        got.some((e) => e.from === 'L1H0' && e.to === 'mlp1'),
        !c.parallel,
      );
      compareEdges(got, eapReference(downstreamGrad(corruptRef)), 'EAP', assertClose);
      const atp = (await runAttribution(model, base('atp', 'heads'))).entries as NodeScore[];
      assertEapSumsToAtp(got, atp, TOL);
    });

    test('EAP-IG with 3 steps: gradients averaged over the interpolated inputs', { skip: !c.edges && 'no edges between heads' }, async () => {
      const steps = 3;
      const got = (await runAttribution(model, { ...base('eap-ig', 'edges'), steps })).entries as ScoredEdge[];
      const embC = c.embeddings(fx.tensors, CLEAN),
        embX = c.embeddings(fx.tensors, CORRUPT);
      const refs = Array.from({ length: steps }, (_, k) =>
        c.gradients(
          fx.tensors,
          fx.config,
          embX.map((x, i) => x + ((k + 1) / steps) * (embC[i]! - x)),
          metric,
        ),
      );
      const averaged = averagedGradient(refs, downstreamGrad, P * D);
      compareEdges(got, eapReference(averaged), 'EAP-IG', assertClose);
    });
  });
}
