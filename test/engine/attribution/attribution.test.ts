/**
 * AtP, AtP* (QK fix, GradDrop), EAP and EAP-IG against the same quantities computed from the
 * independent float64 reverse pass (test/helpers/reference-gpt2-backward.ts): activations of the
 * clean and corrupted runs, gradients on the corrupted run (or on the interpolated runs), combined
 * here from the published definitions. Every score within 1e-4 of the largest score. Also: the
 * identity Σ over a head's outgoing edges of EAP = the head's AtP, streaming and cancelling.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runAttribution, runNodeAttributions } from '../../../src/engine/attribution/run-attribution.js';
import { gradientEdgeScorer } from '../../../src/engine/attribution/edge-scores.js';
import { EdgeGraph } from '../../../src/engine/circuits/edge-graph.js';
import type { EdgeScorer } from '../../../src/engine/circuits/discover-circuit.js';
import type { AttributionRequest, NodeScore } from '../../../src/engine/attribution/attribution-types.js';
import type { ScoredEdge } from '../../../src/protocol/circuit.js';
import { defaultMetricCoefficients, GradientModel } from '../../../src/engine/runtime/gradient-model.js';
import { organismGradientFixture, randomGradientFixture, type GradientFixture } from '../../helpers/gradient-fixtures.js';
import { referenceEmbeddings, referenceGpt2Gradients, type ReferenceGradients } from '../../helpers/reference-gpt2-backward.js';
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

interface Case {
  fixture: () => GradientFixture;
  clean: number[];
  corrupt: number[];
  target: number;
  contrast: number | null;
}

const CASES: Case[] = [
  {
    fixture: () => randomGradientFixture({ nLayers: 2, nHeads: 3, dModel: 12, vocab: 40, nCtx: 16, seed: 21, std: 1 }),
    clean: [1, 5, 9, 3, 7, 2],
    corrupt: [1, 6, 9, 3, 8, 2],
    target: 3,
    contrast: 8,
  },
  {
    fixture: () => randomGradientFixture({ nLayers: 3, nHeads: 2, dModel: 8, vocab: 30, nCtx: 16, seed: 9, std: 1.6 }),
    clean: [4, 2, 7, 4, 2],
    corrupt: [4, 3, 7, 5, 2],
    target: 7,
    contrast: null,
  },
  // The organism's induction prompt against one whose repeated tokens differ.
  {
    fixture: organismGradientFixture,
    clean: [50256, 464, 3797, 3332, 319, 262, 2603, 13, 383, 3797, 3332, 319, 262],
    corrupt: [50256, 464, 3290, 3332, 319, 262, 2603, 13, 383, 3797, 3332, 319, 262],
    target: 2603,
    contrast: 3797,
  },
];

// All zero (the organism's MLPs pass no gradient on these prompts): the engine's must be zero to float32 noise.
const assertClose = (actual: readonly number[], expected: readonly number[], label: string): void => assertScoresClose(actual, expected, label, TOL, 1e-2);

for (const c of CASES) {
  describe(`attribution on ${c.fixture === organismGradientFixture ? 'the organism' : 'a random GPT-2'}`, () => {
    let fx: GradientFixture;
    let model: GradientModel;
    let cleanRef: ReferenceGradients;
    let corruptRef: ReferenceGradients;
    let L: number, H: number, D: number, Dh: number, P: number;
    const metric = defaultMetricCoefficients(c.target, c.contrast);
    const base = (method: AttributionRequest['method'], kind: AttributionRequest['kind']): AttributionRequest => ({
      cleanIds: c.clean,
      corruptIds: c.corrupt,
      targetId: c.target,
      contrastId: c.contrast,
      method,
      kind,
    });
    const grads = (l: number, hook: string, ref = corruptRef): Float64Array => ref.gradients.get(`blocks.${l}.${hook}`)!;
    const vals = (ref: ReferenceGradients, l: number, hook: string): Float64Array => ref.values.get(`blocks.${l}.${hook}`)!;

    before(async () => {
      fx = c.fixture();
      model = await GradientModel.create(fx.model, { threads: 1 });
      ({ nLayers: L, nHeads: H, dModel: D, dHead: Dh } = fx.model.config);
      P = c.clean.length;
      cleanRef = referenceGpt2Gradients(fx.checkpoint, fx.referenceConfig, referenceEmbeddings(fx.checkpoint, D, c.clean), metric);
      corruptRef = referenceGpt2Gradients(fx.checkpoint, fx.referenceConfig, referenceEmbeddings(fx.checkpoint, D, c.corrupt), metric);
    });
    after(() => model.dispose());

    test('metric of both prompts', async () => {
      const r = await runAttribution(model, base('atp', 'heads'));
      assert.ok(Math.abs(r.metric.clean - cleanRef.metric) <= 1e-4 * Math.max(1, Math.abs(cleanRef.metric)));
      assert.ok(Math.abs(r.metric.corrupt - corruptRef.metric) <= 1e-4 * Math.max(1, Math.abs(corruptRef.metric)));
    });

    test('AtP over heads (summed and per position), resid_pre, attn_out, mlp_out and neurons', async () => {
      const perPos = (await runAttribution(model, { ...base('atp', 'heads'), perPosition: true })).entries as NodeScore[];
      const expectedPerPos: number[] = [];
      const expectedSum: number[] = [];
      for (let l = 0; l < L; l++) {
        const d = dots(vals(cleanRef, l, 'attn.hook_z'), vals(corruptRef, l, 'attn.hook_z'), grads(l, 'attn.hook_z'), Dh); // [pos, head]
        for (let h = 0; h < H; h++) {
          let s = 0;
          for (let p = 0; p < P; p++) {
            expectedPerPos.push(d[p * H + h]!);
            s += d[p * H + h]!;
          }
          expectedSum.push(s);
        }
      }
      assertClose(
        perPos.map((e) => e.score),
        expectedPerPos,
        'AtP heads per position',
      );
      assert.deepEqual(
        perPos.slice(0, 2).map((e) => [e.layer, e.head, e.position]),
        [
          [0, 0, 0],
          [0, 0, 1],
        ],
      );
      const summed = (await runAttribution(model, base('atp', 'heads'))).entries as NodeScore[];
      assertClose(
        summed.map((e) => e.score),
        expectedSum,
        'AtP heads',
      );
      const expectedNeurons = await assertStreamAndNeuronAtp(
        async (kind) => (await runAttribution(model, base('atp', kind))).entries as NodeScore[],
        cleanRef,
        corruptRef,
        { layers: L, positions: P, dModel: D },
        assertClose,
      );
      // Heads per position and neurons from one forward and backward pass.
      const { kind: _kind, ...request } = base('atp', 'heads');
      const together = await runNodeAttributions(model, { ...request, perPosition: true }, ['heads', 'neurons']);
      assert.deepEqual(
        together.map((r) => r.kind),
        ['heads', 'neurons'],
      );
      assertClose(
        (together[0]!.entries as NodeScore[]).map((e) => e.score),
        expectedPerPos,
        'AtP heads per position, with neurons',
      );
      assertClose(
        (together[1]!.entries as NodeScore[]).map((e) => e.score),
        expectedNeurons,
        'AtP neurons, with heads',
      );
    });

    /** AtP* of one head per position from the reference: QK-fixed query and key, plus AtP of the values. */
    const atpStarReference = (ref: ReferenceGradients, l: number): number[] => {
      const scale = 1 / Math.sqrt(Dh);
      const qC = vals(cleanRef, l, 'attn.hook_q'),
        kC = vals(cleanRef, l, 'attn.hook_k'),
        qX = vals(corruptRef, l, 'attn.hook_q'),
        kX = vals(corruptRef, l, 'attn.hook_k'),
        A = vals(corruptRef, l, 'attn.hook_pattern'),
        G = grads(l, 'attn.hook_pattern', ref);
      const score = (q: Float64Array, i: number, k: Float64Array, j: number, h: number): number => {
        let s = 0;
        for (let e = 0; e < Dh; e++) s += q[i * D + h * Dh + e]! * k[j * D + h * Dh + e]!;
        return s * scale;
      };
      const v = dots(vals(cleanRef, l, 'attn.hook_v'), vals(corruptRef, l, 'attn.hook_v'), grads(l, 'attn.hook_v', ref), Dh); // [pos, head]
      const out: number[] = [];
      for (let h = 0; h < H; h++) {
        const key = new Array<number>(P).fill(0);
        const query = new Array<number>(P).fill(0);
        for (let i = 0; i < P; i++) {
          const rowEffect = (scores: number[]): number => softmax(scores).reduce((s, a, j) => s + (a - A[(h * P + i) * P + j]!) * G[(h * P + i) * P + j]!, 0);
          query[i] = rowEffect(Array.from({ length: i + 1 }, (_, j) => score(qC, i, kX, j, h)));
          for (let j = 0; j <= i; j++)
            key[j]! += rowEffect(Array.from({ length: i + 1 }, (_, jj) => (jj === j ? score(qX, i, kC, jj, h) : score(qX, i, kX, jj, h))));
        }
        for (let p = 0; p < P; p++) out.push(query[p]! + key[p]! + v[p * H + h]!);
      }
      return out;
    };

    test('AtP*: heads with the QK fix, per position and summed', async () => {
      const got = (await runAttribution(model, { ...base('atp-star', 'heads'), perPosition: true })).entries as NodeScore[];
      const expected = Array.from({ length: L }, (_, l) => atpStarReference(corruptRef, l)).flat();
      assertClose(
        got.map((e) => e.score),
        expected,
        'AtP* heads per position',
      );
      // With saturated attention the QK fix differs from AtP (the organism's heads are sharp).
      const atp = (await runAttribution(model, { ...base('atp', 'heads'), perPosition: true })).entries as NodeScore[];
      assert.ok(
        got.some((e, i) => Math.abs(e.score - atp[i]!.score) > 1e-3 * Math.max(...expected.map(Math.abs))),
        'AtP* equals AtP everywhere',
      );
    });

    test('AtP* with GradDrop: the mean over dropped layers of |AtP*| with that layer dropped', async () => {
      const got = (await runAttribution(model, { ...base('atp-star', 'heads'), gradDrop: true })).entries as NodeScore[];
      const dropped = Array.from({ length: L }, (_, drop) =>
        referenceGpt2Gradients(fx.checkpoint, fx.referenceConfig, referenceEmbeddings(fx.checkpoint, D, c.corrupt), metric, { dropLayer: drop }),
      );
      const expected: number[] = [];
      for (let l = 0; l < L; l++) {
        const perDrop = dropped.map((ref) => atpStarReference(ref, l)); // [drop][head * pos]
        for (let h = 0; h < H; h++) {
          let s = 0;
          for (const d of perDrop) s += Math.abs(d.slice(h * P, (h + 1) * P).reduce((a, b) => a + b, 0)) / (L - 1);
          expected.push(s);
        }
      }
      assertClose(
        got.map((e) => e.score),
        expected,
        'AtP* + GradDrop heads',
      );
      const mlps = (await runAttribution(model, { ...base('atp-star', 'mlp-out'), gradDrop: true })).entries as NodeScore[];
      const expectedMlps: number[] = [];
      for (let l = 0; l < L; l++) {
        const perDrop = dropped.map((ref) => dots(vals(cleanRef, l, 'hook_mlp_out'), vals(corruptRef, l, 'hook_mlp_out'), grads(l, 'hook_mlp_out', ref), D));
        for (let p = 0; p < P; p++) expectedMlps.push(perDrop.reduce((s, d) => s + Math.abs(d[p]!) / (L - 1), 0));
      }
      assertClose(
        mlps.map((e) => e.score),
        expectedMlps,
        'AtP* + GradDrop mlp_out',
      );
    });

    /** EAP scores from the reference: upstream differences against the given downstream gradients. */
    const eapReference = (downGrad: (name: string) => Float64Array): Map<string, number> => {
      const WO = (l: number): Float32Array => fx.checkpoint.get(`h.${l}.attn.c_proj.weight`)!.data; // [head * d_head, d_model]
      const up = new Map<string, Float64Array>();
      const embC = referenceEmbeddings(fx.checkpoint, D, c.clean),
        embX = referenceEmbeddings(fx.checkpoint, D, c.corrupt);
      up.set(
        'embed',
        embC.map((x, i) => x - embX[i]!),
      );
      for (let l = 0; l < L; l++) {
        const zc = vals(cleanRef, l, 'attn.hook_z'),
          zx = vals(corruptRef, l, 'attn.hook_z');
        for (let h = 0; h < H; h++) {
          const out = new Float64Array(P * D);
          for (let p = 0; p < P; p++)
            for (let e = 0; e < Dh; e++) {
              const dz = zc[p * D + h * Dh + e]! - zx[p * D + h * Dh + e]!;
              for (let i = 0; i < D; i++) out[p * D + i]! += dz * WO(l)[(h * Dh + e) * D + i]!;
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
        for (const which of ['q', 'k', 'v']) for (let h = 0; h < H; h++) for (const u of writersBefore(l, H, false)) edges.push([u, `L${l}H${h}.${which}`]);
        for (const u of writersBefore(l, H, true)) edges.push([u, `mlp${l}`]);
      }
      for (const u of writersBefore(L, H, false)) edges.push([u, 'logits']);
      return eapScores(up, downGrad, edges);
    };
    /** A reference's gradient of a downstream node's input, [pos, d_model]. */
    const downstreamGrad = (ref: ReferenceGradients) => downstreamGradient(ref, { positions: P, dModel: D, heads: H, kvHeads: H });

    test('EAP over every edge, and Σ over a head’s outgoing edges = its AtP', async () => {
      const got = (await runAttribution(model, base('eap', 'edges'))).entries as ScoredEdge[];
      compareEdges(got, eapReference(downstreamGrad(corruptRef)), 'EAP', assertClose);
      const atp = (await runAttribution(model, base('atp', 'heads'))).entries as NodeScore[];
      assertEapSumsToAtp(got, atp, TOL);
    });

    const eapIg = async (steps: number): Promise<void> => {
      const got = (await runAttribution(model, { ...base('eap-ig', 'edges'), steps })).entries as ScoredEdge[];
      const embC = referenceEmbeddings(fx.checkpoint, D, c.clean),
        embX = referenceEmbeddings(fx.checkpoint, D, c.corrupt);
      const refs = Array.from({ length: steps }, (_, k) =>
        referenceGpt2Gradients(
          fx.checkpoint,
          fx.referenceConfig,
          embX.map((x, i) => x + ((k + 1) / steps) * (embC[i]! - x)),
          metric,
        ),
      );
      const averaged = averagedGradient(refs, downstreamGrad, P * D);
      compareEdges(got, eapReference(averaged), `EAP-IG (${steps} steps)`, assertClose);
    };
    test('EAP-IG with 3 steps: gradients averaged over the interpolated inputs', () => eapIg(3));
    // More points than the clean and corrupted prompts' forward call takes: the rest run in a call of their own.
    test('EAP-IG with 11 steps: the points beyond the first forward call', () => eapIg(11));
  });
}

describe('streaming, cancelling and bad requests', () => {
  let model: GradientModel;
  const request: AttributionRequest = { cleanIds: [1, 2, 3, 4], corruptIds: [1, 5, 3, 4], targetId: 2, contrastId: 7, method: 'atp', kind: 'heads' };
  before(async () => {
    model = await GradientModel.create(randomGradientFixture({ nLayers: 3, nHeads: 2, dModel: 8, vocab: 20, nCtx: 8, seed: 3 }).model, { threads: 1 });
  });
  after(() => model.dispose());

  test('node scores stream a layer at a time, last layer first, and make up the result', async () => {
    const batches: NodeScore[][] = [];
    const result = await runAttribution(model, request, { onEntries: (e) => batches.push(e as NodeScore[]) });
    assert.deepEqual(
      batches.map((b) => b[0]!.layer),
      [2, 1, 0],
    );
    assert.deepEqual(batches.reverse().flat(), result.entries);
  });

  test('the circuit-discovery edge scorer gives the attribute command’s scores, aligned with the graph’s edges', async () => {
    const graph = new EdgeGraph(model.config);
    const scorer: EdgeScorer = gradientEdgeScorer(model, graph);
    const scores = await scorer({
      clean: request.cleanIds,
      corrupt: request.corruptIds,
      metric: { name: 'logit_diff', targetId: 2, contrastId: 7 },
      method: 'eap-ig',
      steps: 2,
    });
    const viaRun = (await runAttribution(model, { ...request, method: 'eap-ig', kind: 'edges', steps: 2 })).entries as ScoredEdge[];
    assert.deepEqual(
      viaRun.map((e) => [e.from, e.to]),
      graph.edges.map((e) => {
        const n = graph.edgeName(e);
        return [n.from, n.to];
      }),
    );
    assert.deepEqual(
      Array.from(scores),
      viaRun.map((e) => e.score),
    );
  });

  test('an aborted signal cancels with a typed error', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(runAttribution(model, request, { signal: controller.signal }), { code: 'CANCELLED' });
  });

  test('typed errors: different lengths, steps 0 or huge, unknown method or kind, edges with a node method', async () => {
    await assert.rejects(runAttribution(model, { ...request, corruptIds: [1, 2, 3] }), { code: 'LENGTH_MISMATCH' });
    await assert.rejects(runAttribution(model, { ...request, method: 'eap-ig', kind: 'edges', steps: 0 }), /steps must be a whole number from 1 to 100/);
    await assert.rejects(runAttribution(model, { ...request, method: 'eap-ig', kind: 'edges', steps: 1e6 }), { code: 'BAD_ARGUMENT' });
    await assert.rejects(runAttribution(model, { ...request, method: 'magic' as never }), /Unknown attribution method "magic"/);
    await assert.rejects(runAttribution(model, { ...request, kind: 'layers' as never }), /Unknown attribution kind "layers"/);
    await assert.rejects(runAttribution(model, { ...request, kind: 'edges' }), /atp scores nodes, not edges/);
  });
});
