/**
 * The logit lens view's data: a depth × position table of top guesses (every position when the
 * result has lens.perPosition, else the traced position only), and the target's probability and
 * rank through depth for the chart.
 */
import type { LogitLens, Prediction, TokenInfo } from '../../../../protocol/analysis.js';
import { tokenChip, type TokenChip } from '../../shared/token-display.js';

export interface LensTable {
  /** Depth labels, input side first ("resid_pre 0" ... "resid_post L-1"). */
  rows: string[];
  /** Token positions shown as columns. */
  positions: number[];
  /** The column headings: each position's token (the prepended BOS as ⟨BOS⟩). */
  headings: TokenChip[];
  /** [row][column] */
  cells: (Prediction | null)[][];
}

export function lensTable(lens: LogitLens, tokens: readonly TokenInfo[]): LensTable {
  const headings = (positions: number[]) => positions.map((p) => tokenChip(tokens[p], p));
  const rows = lens.layers.map((l) => l.label);
  if (lens.perPosition) {
    const positions = tokens.map((_, i) => i);
    return { rows, positions, headings: headings(positions), cells: lens.perPosition.map((depth) => positions.map((p) => depth[p] ?? null)) };
  }
  return { rows, positions: [lens.position], headings: headings([lens.position]), cells: lens.layers.map((l) => [l.top[0] ?? null]) };
}

export interface TargetSeries {
  /** Depth index 0..D-1. */
  depth: number[];
  prob: number[];
  /** 1-based rank (1 = top guess), for a log-scaled axis. */
  rank: number[];
}

export function targetSeries(lens: LogitLens): TargetSeries {
  return {
    depth: lens.layers.map((_, i) => i),
    prob: lens.layers.map((l) => l.targetProb),
    rank: lens.layers.map((l) => l.targetRank + 1),
  };
}

/** The first depth from which the target stays the top guess to the end; null when it never settles. */
export function settlingDepth(lens: LogitLens): number | null {
  let depth: number | null = null;
  for (let i = lens.layers.length - 1; i >= 0; i--) {
    if (lens.layers[i]!.targetRank === 0) depth = i;
    else break;
  }
  return depth;
}
