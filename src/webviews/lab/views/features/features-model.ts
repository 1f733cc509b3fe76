/**
 * What the Features view draws, computed from a FeaturesResult: per dictionary layer the top
 * features of each position with their labels (the dictionary's labels, else the feature's top
 * logits), the reconstruction error and its share of the hook's norm per position, the feature ×
 * position activation grid, the steering form's validation into FeatureEdits, and the predictions
 * before and after a steering run side by side. Pure, so it is tested in Node.
 */
import type { Prediction } from '../../../../protocol/analysis.js';
import type { FeatureEdit, FeaturesResult, LayerFeatures } from '../../../../protocol/features.js';
import { MAX_FEATURE_EDITS } from '../../../../protocol/feature-messages.js';
import { tokenLabel } from '../../shared/format.js';

/** A feature's name: `L8/1234`. */
export function featureName(layer: number, feature: number): string {
  return `L${layer}/${feature}`;
}

/**
 * What stands for a feature's meaning: its label when the dictionary has labels, else its top
 * logits (`→ " mat" " rug"`), else nothing. Looked up among the layer's heatmap features.
 */
export function featureLabel(layer: LayerFeatures, feature: number, maxTokens = 3): string {
  const i = heatmapIndex(layer, feature);
  if (i < 0) return '';
  const label = layer.labels[i];
  if (label) return label;
  const effects = layer.logitEffects?.find((e) => e.feature === feature);
  if (!effects || effects.top.length === 0) return '';
  return `→ ${effects.top
    .slice(0, maxTokens)
    .map((t) => JSON.stringify(tokenLabel(t.token)))
    .join(' ')}`;
}

/** Row of `feature` in the layer's heatmap, or -1. */
export function heatmapIndex(layer: LayerFeatures, feature: number): number {
  return layer.heatmap.features.indexOf(feature);
}

export interface TopFeature {
  feature: number;
  activation: number;
  label: string;
}

/** The active features at `position`, largest first (at most the result's k). */
export function topFeaturesAt(layer: LayerFeatures, position: number): TopFeature[] {
  const { k, features, activations } = layer.top;
  const out: TopFeature[] = [];
  for (let j = 0; j < k; j++) {
    const f = features[position * k + j]!;
    const a = activations[position * k + j]!;
    if (f < 0 || !(a > 0)) break;
    out.push({ feature: f, activation: a, label: featureLabel(layer, f) });
  }
  return out;
}

/** Per position: how many features are active (activation > 0). */
export function activeCounts(layer: LayerFeatures, nPositions: number): number[] {
  const counts = new Array<number>(nPositions).fill(0);
  for (const p of layer.active.positions) if (p < nPositions) counts[p]!++;
  return counts;
}

export interface ErrorRow {
  position: number;
  error: number;
  norm: number;
  share: number;
}

/** The reconstruction error per position, its hook's norm and its share of it. */
export function errorRows(layer: LayerFeatures): ErrorRow[] {
  return Array.from(layer.reconstructionError, (error, position) => ({
    position,
    error,
    norm: layer.hookNorm[position]!,
    share: layer.errorShare[position]!,
  }));
}

export interface FeatureGrid {
  /** Heatmap features shown (rows), largest activation first. */
  features: number[];
  /** [row, position] */
  values: Float32Array;
  rows: number;
  cols: number;
  max: number;
}

/** The first `maxRows` heatmap features × every position (the engine orders them by their largest activation). */
export function featureGrid(layer: LayerFeatures, nPositions: number, maxRows = 32): FeatureGrid {
  const total = layer.heatmap.features.length;
  const rows = Math.min(total, maxRows);
  const values = layer.heatmap.activations.slice(0, rows * nPositions);
  let max = 0;
  for (const v of values) if (v > max) max = v;
  return { features: Array.from(layer.heatmap.features.slice(0, rows)), values, rows, cols: nPositions, max: max > 0 ? max : 1 };
}

// ---------------------------------------------------------------- steering form

export type SteerMode = 'ablate' | 'set' | 'scale' | 'add';

export interface SteerForm {
  layer: number;
  feature: string;
  mode: SteerMode;
  /** The value to set or add, or the factor to scale by (ignored for ablate). */
  amount: string;
  /** Positions: empty = every position; else comma-separated positions and ranges (`3, 5-7`). */
  positions: string;
}

export interface SteerLimits {
  layers: readonly LayerFeatures[];
  nPositions: number;
}

export type SteerParse = { ok: true; edit: FeatureEdit } | { ok: false; error: string };

/** Positions such as "3, 5-7"; throws a message for anything else. */
export function parsePositions(text: string, nPositions: number): number[] | undefined {
  const t = text.trim();
  if (t === '' || t.toLowerCase() === 'all') return undefined;
  const out = new Set<number>();
  for (const part of t.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new Error(`"${part.trim()}" is not a position or a range such as 5-7.`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new Error(`The range ${from}-${to} runs backwards.`);
    if (to >= nPositions) throw new Error(`Position ${to} is past the prompt's last position, ${nPositions - 1}.`);
    for (let p = from; p <= to; p++) out.add(p);
  }
  return [...out].sort((a, b) => a - b);
}

/** The steering form as one FeatureEdit, or what is wrong with it. */
export function parseSteerForm(form: SteerForm, limits: SteerLimits): SteerParse {
  const layer = limits.layers.find((l) => l.layer === form.layer);
  if (!layer) return { ok: false, error: `The dictionary has no layer ${form.layer}.` };
  if (!/^\d+$/.test(form.feature.trim())) return { ok: false, error: 'The feature is a whole number (its index in the dictionary).' };
  const feature = Number(form.feature.trim());
  if (feature >= layer.dSae) return { ok: false, error: `Layer ${layer.layer} has features 0..${layer.dSae - 1}.` };
  let positions: number[] | undefined;
  try {
    positions = parsePositions(form.positions, limits.nPositions);
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  const where = { layer: layer.layer, feature, ...(positions ? { positions } : {}) };
  if (form.mode === 'ablate') return { ok: true, edit: { ...where, kind: 'set', value: 0 } };
  const amount = Number(form.amount.trim());
  if (form.amount.trim() === '' || !Number.isFinite(amount))
    return { ok: false, error: form.mode === 'scale' ? 'The factor is a number, e.g. 2 or 0.5.' : 'The value is a number, e.g. 10 or -5.' };
  if (Math.abs(amount) > 1e6) return { ok: false, error: 'The amount is beyond ±1e6.' };
  if (form.mode === 'scale') return { ok: true, edit: { ...where, kind: 'scale', factor: amount } };
  return { ok: true, edit: { ...where, kind: form.mode, value: amount } };
}

/** Adds an edit to the list (replacing one of the same layer and feature); refuses past MAX_FEATURE_EDITS. */
export function addEdit(edits: readonly FeatureEdit[], edit: FeatureEdit): FeatureEdit[] | string {
  const rest = edits.filter((e) => !(e.layer === edit.layer && e.feature === edit.feature));
  if (rest.length >= MAX_FEATURE_EDITS) return `At most ${MAX_FEATURE_EDITS} edits at once.`;
  return [...rest, edit];
}

/** An edit as one line: `L8/1234 × 2 at 3, 5`. */
export function describeEdit(edit: FeatureEdit): string {
  const what = edit.kind === 'set' ? (edit.value === 0 ? 'ablated' : `set to ${edit.value}`) : edit.kind === 'scale' ? `× ${edit.factor}` : `+ ${edit.value}`;
  const where = edit.positions ? `at ${edit.positions.join(', ')}` : 'at every position';
  return `${featureName(edit.layer, edit.feature)} ${what} ${where}`;
}

// ---------------------------------------------------------------- before / after

export interface PredictionChange {
  token: string;
  tokenId: number;
  before: number | null;
  after: number | null;
  /** Rank before and after (0 = top); null when outside that list. */
  rankBefore: number | null;
  rankAfter: number | null;
}

/** The union of both top lists, in the order of the steered run, then those that dropped out. */
export function predictionChanges(before: readonly Prediction[], after: readonly Prediction[]): PredictionChange[] {
  const out: PredictionChange[] = [];
  const rankBefore = new Map(before.map((p, i) => [p.tokenId, i]));
  const rankAfter = new Map(after.map((p, i) => [p.tokenId, i]));
  for (const [i, p] of after.entries()) {
    const b = rankBefore.get(p.tokenId);
    out.push({ token: p.token, tokenId: p.tokenId, before: b === undefined ? null : before[b]!.prob, after: p.prob, rankBefore: b ?? null, rankAfter: i });
  }
  for (const [i, p] of before.entries()) {
    if (!rankAfter.has(p.tokenId)) out.push({ token: p.token, tokenId: p.tokenId, before: p.prob, after: null, rankBefore: i, rankAfter: null });
  }
  return out;
}

/** The layers of a result in model order, and the one to show first. */
export function defaultLayer(result: FeaturesResult | null): number | null {
  return result?.layers[0]?.layer ?? null;
}

export interface FeatureProfile {
  /** The feature's activation at each position of the prompt. */
  activations: number[];
  /** Its label, or its top logits standing in. */
  label: string;
  /** Its direct logit effects, when the result has them: largest first, then most negative. */
  top: Array<{ token: string; effect: number }>;
  bottom: Array<{ token: string; effect: number }>;
}

/** What the result knows of feature `feature` of model layer `layer`: activations across the prompt and logits; null when it is not among the heatmap's. */
export function featureProfile(result: FeaturesResult, layer: number, feature: number): FeatureProfile | null {
  const view = result.layers.find((l) => l.layer === layer);
  if (!view) return null;
  const row = heatmapIndex(view, feature);
  if (row < 0) return null;
  const P = result.tokens.length;
  const effects = view.logitEffects?.find((e) => e.feature === feature);
  return {
    activations: Array.from(view.heatmap.activations.subarray(row * P, (row + 1) * P)),
    label: featureLabel(view, feature),
    top: effects?.top.map((t) => ({ token: t.token, effect: t.effect })) ?? [],
    bottom: effects?.bottom.map((t) => ({ token: t.token, effect: t.effect })) ?? [],
  };
}
