/**
 * The token-flow arc diagram's geometry: which token-to-token attention totals are drawn
 * (thresholded, strongest kept), how thick each arc is, where tokens sit, and the arc shapes.
 * flow.total is attention summed over every layer and head, [query, key]; each query row sums to
 * nLayers × nHeads, so dividing by that gives the mean attention weight in [0, 1].
 */
import type { TokenInfo } from '../../../../protocol/analysis.js';
import { tokenQuoted } from '../../shared/token-display.js';

export interface FlowArc {
  /** The attended-to (earlier) token. */
  key: number;
  /** The attending (later) token. */
  query: number;
  /** Mean attention weight over every layer and head. */
  value: number;
  /** value relative to the strongest drawn arc, (0, 1]. */
  weight: number;
}

export interface FlowOptions {
  /** Arcs below this mean weight are not drawn. */
  threshold: number;
  /** At most this many arcs (the strongest). */
  maxArcs: number;
  /** Leave out attention to the first token (the attention sink most heads rest on). */
  skipFirstKey: boolean;
}

export const DEFAULT_FLOW_OPTIONS: FlowOptions = { threshold: 0.02, maxArcs: 400, skipFirstKey: true };

/** The arcs to draw, weakest first (so the strongest are drawn on top). Self-attention is left out. */
export function flowArcs(total: Float32Array, nTokens: number, heads: number, options: FlowOptions = DEFAULT_FLOW_OPTIONS): FlowArc[] {
  const arcs: FlowArc[] = [];
  const norm = heads > 0 ? heads : 1;
  for (let q = 1; q < nTokens; q++) {
    for (let k = options.skipFirstKey ? 1 : 0; k < q; k++) {
      const value = total[q * nTokens + k]! / norm;
      if (value >= options.threshold && value > 0) arcs.push({ key: k, query: q, value, weight: 0 });
    }
  }
  arcs.sort((a, b) => b.value - a.value);
  const kept = arcs.slice(0, options.maxArcs);
  const max = kept[0]?.value ?? 1;
  for (const arc of kept) arc.weight = arc.value / max;
  return kept.reverse();
}

/** x of each token's anchor, evenly spread over [left, right]. */
export function tokenXs(nTokens: number, left: number, right: number): number[] {
  if (nTokens === 1) return [(left + right) / 2];
  const step = (right - left) / (nTokens - 1);
  return Array.from({ length: nTokens }, (_, i) => left + i * step);
}

/**
 * SVG path of an arc from key to query above `baseline`: half an ellipse whose width is the
 * distance between the tokens and whose height is scaled so that the widest possible arc (first
 * to last token) just reaches `maxHeight`.
 */
export function arcPath(xKey: number, xQuery: number, baseline: number, maxHeight: number, maxSpan: number): string {
  const rx = Math.abs(xQuery - xKey) / 2;
  const ry = maxSpan > 0 ? (rx / (maxSpan / 2)) * maxHeight : 0;
  return `M ${xKey.toFixed(1)} ${baseline.toFixed(1)} A ${rx.toFixed(1)} ${ry.toFixed(1)} 0 0 1 ${xQuery.toFixed(1)} ${baseline.toFixed(1)}`;
}

/** Stroke width of an arc, px: thin for weak arcs, up to `maxWidth` for the strongest. */
export function arcWidth(weight: number, maxWidth = 6): number {
  return 0.5 + weight * (maxWidth - 0.5);
}

/** Whether an arc touches `token` (hovering a token isolates its arcs). */
export function touches(arc: FlowArc, token: number): boolean {
  return arc.key === token || arc.query === token;
}

/** What the focused token attends to most and what attends to it most (the isolated arcs, in words). */
export function focusSummary(arcs: readonly FlowArc[], token: number, tokens: readonly TokenInfo[]): string {
  let out: FlowArc | null = null;
  let into: FlowArc | null = null;
  for (const a of arcs) {
    if (a.query === token && (!out || a.value > out.value)) out = a;
    if (a.key === token && (!into || a.value > into.value)) into = a;
  }
  const name = (i: number) => `${i} ${tokenQuoted(tokens[i])}`;
  const parts = [`token ${name(token)}`];
  if (out) parts.push(`attends most to ${name(out.key)} (${out.value.toFixed(3)})`);
  if (into) parts.push(`most attended by ${name(into.query)} (${into.value.toFixed(3)})`);
  return parts.join(' · ');
}
