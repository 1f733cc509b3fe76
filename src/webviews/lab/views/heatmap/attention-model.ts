/**
 * The attention heatmap's data: one head's [query, key] pattern, a layer's average over heads,
 * and the census detection pattern (TransformerLens's head-detector probe) for the head's census
 * label, or for the class the head matches best on this prompt.
 */
import type { AnalysisResult } from '../../../../protocol/analysis.js';
import { detectionPattern, type DetectorKind } from '../../../../protocol/detection-pattern.js';

export { detectionPattern, type DetectorKind };

export type AttentionMode = 'head' | 'layer' | 'census';

/** One head's pattern [query, key] as a view into attention [layer, head, query, key] (no copy). */
export function headPattern(attention: Float32Array, nHeads: number, nTokens: number, layer: number, head: number): Float32Array {
  const size = nTokens * nTokens;
  const start = (layer * nHeads + head) * size;
  return attention.subarray(start, start + size);
}

/** The mean over heads of one layer's patterns, from a [head, query, key] block. */
export function averageOverHeads(layerPatterns: Float32Array, nHeads: number, nTokens: number): Float32Array {
  const size = nTokens * nTokens;
  const out = new Float32Array(size);
  for (let h = 0; h < nHeads; h++) {
    const base = h * size;
    for (let i = 0; i < size; i++) out[i]! += layerPatterns[base + i]!;
  }
  for (let i = 0; i < size; i++) out[i]! /= nHeads;
  return out;
}

/** One layer's [head, query, key] block of attention [layer, head, query, key]. */
export function layerBlock(attention: Float32Array, nHeads: number, nTokens: number, layer: number): Float32Array {
  const size = nHeads * nTokens * nTokens;
  return attention.subarray(layer * size, (layer + 1) * size);
}

/** TransformerLens's "mul" score: Σ attn ⊙ D / Σ attn (0 when the pattern is all zeros). */
export function detectionScore(pattern: Float32Array /* [query, key] */, detection: Uint8Array /* [query, key] */): number {
  let hit = 0;
  let total = 0;
  for (let i = 0; i < pattern.length; i++) {
    total += pattern[i]!;
    if (detection[i] === 1) hit += pattern[i]!;
  }
  return total > 0 ? hit / total : 0;
}

const LABEL_KIND: Partial<Record<string, DetectorKind>> = { 'previous-token': 'previous', 'duplicate-token': 'duplicate', induction: 'induction' };

export interface CensusPattern {
  kind: DetectorKind;
  /** 'census': the head's census label names the class; 'best match': the class this head's pattern scores highest on. */
  source: 'census' | 'best match';
  /** This head's detection score on this prompt for that class. */
  score: number;
  pattern: Uint8Array;
}

/**
 * The detection pattern to compare a head with: its census label's, when the census labels it a
 * previous-token, duplicate-token or induction head; otherwise the class whose detection score
 * on this prompt is highest (classes whose pattern is empty on this prompt cannot match). Null
 * when no class can be tested (a one-token prompt).
 */
export function censusPatternFor(result: AnalysisResult, layer: number, head: number): CensusPattern | null {
  const n = result.tokens.length;
  const ids = result.tokens.map((t) => t.id);
  const pattern = headPattern(result.attention, result.model.nHeads, n, layer, head);
  const entry = result.census?.entries.find((e) => e.layer === layer && e.head === head);
  const censusKind = entry ? LABEL_KIND[entry.label] : undefined;
  if (censusKind) {
    const d = detectionPattern(censusKind, ids);
    return { kind: censusKind, source: 'census', score: detectionScore(pattern, d), pattern: d };
  }
  let best: CensusPattern | null = null;
  for (const kind of ['induction', 'duplicate', 'previous'] as const) {
    const d = detectionPattern(kind, ids);
    if (!d.includes(1)) continue;
    const score = detectionScore(pattern, d);
    if (!best || score > best.score) best = { kind, source: 'best match', score, pattern: d };
  }
  return best;
}
