/**
 * Consistent feature results for the extension and webview tests (the engine is not loaded): a
 * FeaturesResult built from a small dense activation table per layer (every derived field, the
 * active list, the top k, the heatmap and the error share, computed from it as the engine defines
 * them), and a SteerFeaturesResult whose predictions change by a given amount.
 */
import type { Prediction, TokenInfo } from '../../src/protocol/analysis.js';
import type { FeatureEdit, FeaturesResult, LayerFeatures, SteerFeaturesResult } from '../../src/protocol/features.js';

export interface SyntheticLayer {
  layer: number;
  dSae: number;
  /** [pos][feature] dense activations (0 = inactive). */
  acts: number[][];
  /** Per position: ‖error‖ and ‖hook‖. */
  error: number[];
  norm: number[];
  labels?: Record<number, string>;
  /** Top logit tokens per feature (when no labels). */
  logits?: Record<number, string[]>;
}

export function syntheticLayer(spec: SyntheticLayer, k = 3): LayerFeatures {
  const P = spec.acts.length;
  const positions: number[] = [];
  const features: number[] = [];
  const activations: number[] = [];
  spec.acts.forEach((row, p) =>
    row.forEach((a, f) => {
      if (a > 0) {
        positions.push(p);
        features.push(f);
        activations.push(a);
      }
    }),
  );
  const topF = new Int32Array(P * k).fill(-1);
  const topA = new Float32Array(P * k);
  spec.acts.forEach((row, p) => {
    const order = row
      .map((a, f) => ({ a, f }))
      .filter((x) => x.a > 0)
      .sort((x, y) => y.a - x.a)
      .slice(0, k);
    order.forEach((x, j) => {
      topF[p * k + j] = x.f;
      topA[p * k + j] = x.a;
    });
  });
  const maxOf = (f: number): number => Math.max(0, ...spec.acts.map((row) => row[f] ?? 0));
  const heat = [...new Set(features)].sort((a, b) => maxOf(b) - maxOf(a));
  const heatActs = new Float32Array(heat.length * P);
  heat.forEach((f, i) => spec.acts.forEach((row, p) => (heatActs[i * P + p] = row[f] ?? 0)));
  const labels = heat.map((f) => spec.labels?.[f] ?? null);
  const logitEffects = spec.labels
    ? null
    : heat.map((f) => ({
        feature: f,
        top: (spec.logits?.[f] ?? []).map((token, i) => ({ tokenId: 100 + i, token, effect: 3 - i })),
        bottom: [],
      }));
  return {
    layer: spec.layer,
    inputHook: `blocks.${spec.layer}.ln2.hook_normalized`,
    outputHook: `blocks.${spec.layer}.hook_mlp_out`,
    dSae: spec.dSae,
    active: { positions: Int32Array.from(positions), features: Int32Array.from(features), activations: Float32Array.from(activations) },
    top: { k, features: topF, activations: topA },
    reconstructionError: Float32Array.from(spec.error),
    hookNorm: Float32Array.from(spec.norm),
    errorShare: Float32Array.from(spec.error.map((e, p) => e / spec.norm[p]!)),
    heatmap: { features: Int32Array.from(heat), activations: heatActs },
    labels,
    logitEffects,
  };
}

export function syntheticTokens(words: readonly string[], bos = true): TokenInfo[] {
  const out: TokenInfo[] = bos ? [{ id: 50256, text: '<|endoftext|>', start: 0, end: 0, bos: true }] : [];
  let at = 0;
  for (const [i, w] of words.entries()) {
    out.push({ id: 1000 + i, text: w, start: at, end: at + w.length });
    at += w.length;
  }
  return out;
}

/** Three tokens (BOS, " cat", " sat"), layers 0 and 1 of a transcoder with 8 features; layer 0 labelled. */
export function syntheticFeatures(tokens: TokenInfo[] = syntheticTokens([' cat', ' sat'])): FeaturesResult {
  const P = tokens.length;
  const row = (entries: Record<number, number>): number[] => Array.from({ length: 8 }, (_, f) => entries[f] ?? 0);
  const acts0 = Array.from({ length: P }, (_, p) => row(p === 0 ? { 7: 9 } : { 2: 1.5 + p, 5: 0.5 * p, 3: 0.25 }));
  const acts1 = Array.from({ length: P }, (_, p) => row(p === P - 1 ? { 4: 2, 1: 1 } : {}));
  return {
    dictionary: { id: 'owner/transcoders/gpt2', kind: 'transcoder', modelName: 'gpt2' },
    tokens,
    layers: [
      syntheticLayer({
        layer: 0,
        dSae: 8,
        acts: acts0,
        error: Array.from({ length: P }, (_, p) => 0.5 + p),
        norm: Array.from({ length: P }, () => 10),
        labels: { 2: 'animals', 5: 'past tense', 7: 'start of text', 3: 'misc' },
      }),
      syntheticLayer({
        layer: 1,
        dSae: 8,
        acts: acts1,
        error: Array.from({ length: P }, () => 1),
        norm: Array.from({ length: P }, () => 4),
        logits: { 4: [' on', ' down'], 1: [' mat'] },
      }),
    ],
    elapsedMs: 3,
  };
}

function prediction(token: string, prob: number, tokenId: number): Prediction {
  return { token, tokenId, prob, logit: Math.log(prob) };
}

/** Predictions before and after: " on" falls from first to second, " down" rises. */
export function syntheticSteer(edits: FeatureEdit[], position: number, tokens: TokenInfo[] = syntheticTokens([' cat', ' sat'])): SteerFeaturesResult {
  return {
    tokens,
    position,
    before: [prediction(' on', 0.5, 319), prediction(' down', 0.2, 866), prediction(' there', 0.1, 612)],
    after: [prediction(' down', 0.45, 866), prediction(' on', 0.3, 319), prediction(' up', 0.05, 510)],
    logitDiff: null,
    applied: edits.map((e) => ({ layer: e.layer, feature: e.feature, position, before: 1, after: 0 })),
    elapsedMs: 2,
  };
}
