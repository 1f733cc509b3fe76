/**
 * The Lab's attribution maps (runAttributionMap, Engine.attribute) on the organism, against the
 * independent float64 reverse pass (test/helpers/reference-gpt2-backward.ts) combined here from the
 * definitions: AtP per head = Σ over positions and d_head of (z_clean − z_corrupt) · ∂m/∂z on the
 * corrupted run; per layer and position the same with resid_pre, attn_out and mlp_out; EAP-IG with
 * one step (α = 1, the clean run) summed over a head's outgoing edges = Σ (z_clean − z_corrupt) · ∂m/∂z
 * on the clean run. Also: the BOS rule of text prompts, progress, cancelling, bad input, and a Llama
 * model's UNSUPPORTED_ARCHITECTURE through the Engine.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAttributionMap, type Attribute } from '../../../src/engine/attribution/attribution-map.js';
import { runAttribution } from '../../../src/engine/attribution/run-attribution.js';
import { eapEdgeScorer } from '../../../src/engine/circuits/eap-edge-scorer.js';
import { Engine } from '../../../src/engine/engine.js';
import { EngineError } from '../../../src/engine/errors.js';
import { writeHfFolder } from '../../../src/engine/model/hf-folder-writer.js';
import { generateRandomGptNeox } from '../../../src/engine/model/random-gpt-neox.js';
import { generateRandomGemma } from '../../../src/engine/model/random-gemma.js';
import type { EdgeScorerFactory } from '../../../src/engine/circuits/circuit-tools.js';
import { generateOrganism } from '../../../src/engine/organism/index.js';
import { defaultMetricCoefficients, GradientModel } from '../../../src/engine/runtime/gradient-model.js';
import { loadGpt2TokenizerJson } from '../../../src/engine/tokenizer/gpt2-tokenizer-json.js';
import { loadTokenizer } from '../../../src/engine/tokenizer/tokenizer.js';
import type { AttributionProgress } from '../../../src/protocol/attribution.js';
import { organismGradientFixture, type GradientFixture } from '../../helpers/gradient-fixtures.js';
import { referenceEmbeddings, referenceGpt2Gradients, type ReferenceGradients } from '../../helpers/reference-gpt2-backward.js';

const TOL = 1e-4;

function assertClose(actual: ArrayLike<number>, expected: readonly number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: ${actual.length} scores, expected ${expected.length}`);
  const scale = Math.max(...expected.map(Math.abs));
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
  assert.ok(diff <= TOL * Math.max(scale, 1e-2), `${label}: off by ${diff.toExponential(2)}, largest score ${scale.toExponential(2)}`);
}

/** Σ over each row of `width` of (clean − corrupt) · grad. */
function dots(clean: Float64Array, corrupt: Float64Array, grad: Float64Array, width: number): number[] {
  return Array.from({ length: clean.length / width }, (_, r) => {
    let s = 0;
    for (let i = r * width; i < (r + 1) * width; i++) s += (clean[i]! - corrupt[i]!) * grad[i]!;
    return s;
  });
}

describe('attribution maps on the organism', () => {
  const organism = generateOrganism();
  const tokenizer = loadTokenizer(organism.tokenizerJson);
  const BOS = 50256;
  const cleanText = 'The cat sat on the mat. The cat sat on the';
  const corruptText = 'The dog sat on the mat. The cat sat on the';
  const clean = [BOS, ...tokenizer.encode(cleanText).ids];
  const corrupt = [BOS, ...tokenizer.encode(corruptText).ids];
  const [target] = tokenizer.encode(' mat').ids;
  const [contrast] = tokenizer.encode(' cat').ids;
  const metric = defaultMetricCoefficients(target!, contrast!);
  let fx: GradientFixture;
  let model: GradientModel;
  let attribute: Attribute;
  let cleanRef: ReferenceGradients;
  let corruptRef: ReferenceGradients;
  const ids = { cleanIds: clean, corruptIds: corrupt, target: { id: target! }, contrast: { id: contrast! } };

  before(async () => {
    fx = organismGradientFixture();
    model = await GradientModel.create(fx.model, { threads: 1 });
    attribute = (request, options) => runAttribution(model, request, options);
    const D = fx.model.config.dModel;
    cleanRef = referenceGpt2Gradients(fx.checkpoint, fx.referenceConfig, referenceEmbeddings(fx.checkpoint, D, clean), metric);
    corruptRef = referenceGpt2Gradients(fx.checkpoint, fx.referenceConfig, referenceEmbeddings(fx.checkpoint, D, corrupt), metric);
  });
  after(() => model.dispose());

  const value = (ref: ReferenceGradients, l: number, hook: string): Float64Array => ref.values.get(`blocks.${l}.${hook}`)!;
  const grad = (ref: ReferenceGradients, l: number, hook: string): Float64Array => ref.gradients.get(`blocks.${l}.${hook}`)!;

  /** [layer, head]: Σ over positions of (z_clean − z_corrupt) · ∂m/∂z on run `at`. */
  const headScores = (at: ReferenceGradients): number[] => {
    const { nLayers: L, nHeads: H, dHead: Dh } = fx.model.config;
    const out: number[] = [];
    for (let l = 0; l < L; l++) {
      const d = dots(value(cleanRef, l, 'attn.hook_z'), value(corruptRef, l, 'attn.hook_z'), grad(at, l, 'attn.hook_z'), Dh); // [pos, head]
      for (let h = 0; h < H; h++) out.push(d.filter((_, i) => i % H === h).reduce((a, b) => a + b, 0));
    }
    return out;
  };

  test('AtP: heads as [layer, head] and resid_pre / attn_out / mlp_out as [layer, position] equal the float64 reference', async () => {
    const progress: AttributionProgress[] = [];
    const map = await runAttributionMap(attribute, fx.model.config, tokenizer, { ...ids, method: 'atp' }, { onProgress: (p) => progress.push(p) });
    const { nLayers: L, nHeads: H, dModel: D } = fx.model.config;
    assert.deepEqual([map.nLayers, map.nHeads, map.heads.length], [L, H, L * H]);
    assertClose(map.heads, headScores(corruptRef), 'AtP heads');
    for (const [component, hook] of [
      ['resid_pre', 'hook_resid_pre'],
      ['attn_out', 'hook_attn_out'],
      ['mlp_out', 'hook_mlp_out'],
    ] as const) {
      const expected: number[] = [];
      for (let l = 0; l < L; l++) expected.push(...dots(value(cleanRef, l, hook), value(corruptRef, l, hook), grad(corruptRef, l, hook), D));
      assertClose(map.positions![component], expected, `AtP ${component}`);
    }
    assert.ok(Math.max(...map.heads.map(Math.abs)) > 0.1, 'the corruption moves some head');
    assert.equal(map.metric.name, 'logit_diff');
    assert.ok(Math.abs(map.metric.clean - cleanRef.metric) <= 1e-4 * Math.max(1, Math.abs(cleanRef.metric)));
    assert.ok(Math.abs(map.metric.corrupt - corruptRef.metric) <= 1e-4 * Math.max(1, Math.abs(corruptRef.metric)));
    assert.deepEqual(
      progress.map((p) => p.done),
      [0, 1, 2, 3, 4],
    );
    assert.ok(progress.every((p) => p.total === 4));
    assert.equal(map.steps, null);
    assert.deepEqual(
      map.cleanTokens.map((t) => t.id),
      clean,
    );
  });

  test("EAP-IG with one step: a head's outgoing edges summed equal Σ (z_clean − z_corrupt) · ∂m/∂z on the clean run", async () => {
    const map = await runAttributionMap(attribute, fx.model.config, tokenizer, { ...ids, method: 'eap-ig', steps: 1 });
    assertClose(map.heads, headScores(cleanRef), 'EAP-IG heads');
    assert.equal(map.positions, null, 'EAP-IG edges are summed over positions: no per-position maps');
    assert.equal(map.steps, 1);
  });

  test('AtP* differs from AtP only through the QK fix and keeps the same layout', async () => {
    const star = await runAttributionMap(attribute, fx.model.config, tokenizer, { ...ids, method: 'atp-star' });
    const direct = await runAttribution(model, {
      cleanIds: clean,
      corruptIds: corrupt,
      targetId: target!,
      contrastId: contrast!,
      method: 'atp-star',
      kind: 'heads',
    });
    const expected = new Array<number>(star.heads.length).fill(0);
    for (const e of direct.entries) if ('head' in e && e.head !== undefined) expected[e.layer * star.nHeads + e.head]! += e.score;
    assertClose(star.heads, expected, 'AtP* heads as run-attribution gives them');
  });

  test('text prompts follow the BOS rule, as a patch sweep resolves them', async () => {
    const map = await runAttributionMap(attribute, fx.model.config, tokenizer, {
      clean: cleanText,
      corrupt: corruptText,
      target: { text: ' mat' },
      contrast: { text: ' cat' },
      method: 'atp',
      prependBos: true,
    });
    assert.equal(map.prependBos, true);
    assert.deepEqual(
      map.corruptTokens.map((t) => t.id),
      corrupt,
    );
    assertClose(map.heads, headScores(corruptRef), 'AtP heads from text prompts');
    const noContrast = await runAttributionMap(attribute, fx.model.config, tokenizer, {
      cleanIds: clean,
      corruptIds: corrupt,
      target: { id: target! },
      method: 'atp',
    });
    assert.equal(noContrast.metric.name, 'log_prob');
    assert.equal(noContrast.contrast, null);
  });

  test('bad input and cancelling are typed errors', async () => {
    const rejects = (request: Parameters<typeof runAttributionMap>[3], code: string, pattern: RegExp, signal?: AbortSignal) =>
      assert.rejects(
        runAttributionMap(attribute, fx.model.config, tokenizer, request, signal ? { signal } : {}),
        (e: unknown) => e instanceof EngineError && e.code === code && pattern.test(e.message),
      );
    await rejects({ ...ids, method: 'eap' as never }, 'BAD_ARGUMENT', /Unknown attribution method "eap"/);
    await rejects({ ...ids, method: 'atp', steps: 3 }, 'BAD_ARGUMENT', /steps apply to eap-ig only/);
    await rejects({ ...ids, method: 'eap-ig', steps: 0 }, 'BAD_ARGUMENT', /steps must be a whole number/);
    await rejects({ ...ids, corruptIds: corrupt.slice(1), method: 'atp' }, 'LENGTH_MISMATCH', /same length/);
    const controller = new AbortController();
    controller.abort();
    await rejects({ ...ids, method: 'atp' }, 'CANCELLED', /cancelled/, controller.signal);
  });
});

describe('Engine.attribute', () => {
  test('a GPT-NeoX model: AtP maps and path patching both run on it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ct-attr-neox-'));
    const engine = new Engine({ edgeScorer: eapEdgeScorer });
    try {
      const random = generateRandomGptNeox('tiny', 3);
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      await engine.loadModel({ kind: 'folder', path: dir }, { device: 'cpu', maxTokens: 64, offline: true });
      const request = { cleanIds: [1, 5, 9, 3, 7], corruptIds: [1, 6, 9, 3, 7], target: { id: 3 }, contrast: { id: 9 } };
      const map = await engine.attribute({ ...request, method: 'atp' });
      assert.equal(map.heads.length, (random.config['num_hidden_layers'] as number) * (random.config['num_attention_heads'] as number));
      assert.ok(map.heads.every((x) => Number.isFinite(x)) && map.heads.some((x) => x !== 0));
      const paths = await engine.pathPatch({ ...request, receivers: 'logits' });
      assert.equal(paths.entries.length, paths.nLayers * paths.nHeads);
      assert.ok(paths.entries.every((e) => e.normalized === null || Number.isFinite(e.normalized)));
    } finally {
      await engine.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a model without edges (Gemma) still reaches its node attribution; its circuits keep their typed refusal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ct-attr-gemma-'));
    // A scorer standing for gradient graphs: it records the request and answers one score per head.
    const asked: unknown[] = [];
    const scorer: EdgeScorerFactory = async (model) => ({
      score: async () => new Float64Array(0),
      attribute: async (request) => {
        asked.push(request.kind);
        const { nLayers, nHeads } = model.config;
        const heads = Array.from({ length: nLayers * nHeads }, (_, i) => ({ layer: Math.floor(i / nHeads), head: i % nHeads, score: i }));
        const positions = Array.from({ length: nLayers * request.cleanIds.length }, (_, i) => ({
          layer: Math.floor(i / request.cleanIds.length),
          position: i % request.cleanIds.length,
          score: -i,
        }));
        return {
          method: request.method,
          kind: request.kind,
          metric: { clean: 1, corrupt: 0 },
          entries: request.kind === 'heads' ? heads : positions,
          elapsedMs: 0,
        };
      },
      dispose: async () => undefined,
    });
    const engine = new Engine({ edgeScorer: scorer });
    try {
      const random = generateRandomGemma('gemma2', 'tiny', 4);
      await writeHfFolder(dir, { config: random.config, tensors: random.tensors, tokenizerJson: loadGpt2TokenizerJson() });
      await engine.loadModel({ kind: 'folder', path: dir }, { device: 'cpu', maxTokens: 64, offline: true });
      const request = { cleanIds: [1, 5, 9, 3, 7], corruptIds: [1, 6, 9, 3, 7], target: { id: 3 }, contrast: { id: 9 } };
      const map = await engine.attribute({ ...request, method: 'atp' });
      assert.deepEqual(asked, ['heads', 'resid', 'attn-out', 'mlp-out']);
      assert.deepEqual(
        Array.from(map.heads),
        Array.from({ length: map.nLayers * map.nHeads }, (_, i) => i),
      );
      assert.equal(map.positions!.mlp_out[7], -7);
      await assert.rejects(
        engine.circuit(request),
        (e: unknown) => e instanceof EngineError && e.code === 'UNSUPPORTED_ARCHITECTURE' && /no edges between heads/.test(e.message),
      );
    } finally {
      await engine.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
