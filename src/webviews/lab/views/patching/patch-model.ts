/**
 * The patching view's data: sweep entries as a layer × head grid and a layer × position grid of
 * the normalised metric (recovery: 0 = still corrupted, 1 = clean restored), and the strongest
 * components as a sorted list.
 *
 * Entry shapes by kind: 'heads-last' has (layer, head); 'resid' / 'attn' / 'mlp' have
 * (layer, position); 'heads-all' has (layer, head, position), shown as the head grid at one
 * position and the position grid of one head; 'single' has one entry.
 */
import type { PatchEntry, PatchSweepResult } from '../../../../protocol/analysis.js';
import type { LabSelection } from '../../../../protocol/webview-messages.js';
import { symmetricExtent } from '../../shared/colour.js';
import { headName } from '../../shared/format.js';

export interface PatchGrid {
  rows: number;
  cols: number;
  /** [row, col]; NaN where the sweep has no entry. */
  values: Float32Array;
  /** Which entry a cell came from (for selection), -1 where none. */
  entryIndex: Int32Array;
  caption: string;
}

export interface PatchView {
  headGrid: PatchGrid | null;
  positionGrid: PatchGrid | null;
  maxAbs: number;
}

function emptyGrid(rows: number, cols: number, caption: string): PatchGrid {
  return { rows, cols, values: new Float32Array(rows * cols).fill(NaN), entryIndex: new Int32Array(rows * cols).fill(-1), caption };
}

function maxOf(entries: readonly PatchEntry[], key: 'layer' | 'head' | 'position'): number {
  return entries.reduce((m, e) => Math.max(m, e[key] ?? -1), -1);
}

/** The strongest entry's head / position (where a 'heads-all' sweep is most interesting to start). */
function strongest(entries: readonly PatchEntry[]): PatchEntry | undefined {
  return entries.reduce<PatchEntry | undefined>((best, e) => (!best || Math.abs(e.recovery) > Math.abs(best.recovery) ? e : best), undefined);
}

export function patchView(result: PatchSweepResult, selection: LabSelection, nHeadsHint?: number): PatchView {
  const entries = result.entries;
  const nLayers = maxOf(entries, 'layer') + 1;
  const nHeads = Math.max(maxOf(entries, 'head') + 1, nHeadsHint ?? 0);
  const nPositions = result.corruptTokens.length;
  let headGrid: PatchGrid | null = null;
  let positionGrid: PatchGrid | null = null;
  const hasHead = entries.some((e) => e.head !== undefined);
  const hasPosition = entries.some((e) => e.position !== undefined);
  const top = strongest(entries);

  if (hasHead) {
    // 'heads-all': the grid at the selected position (default: the strongest entry's).
    const atPosition = hasPosition
      ? selection.position !== undefined && selection.position < nPositions
        ? selection.position
        : (top?.position ?? 0)
      : undefined;
    headGrid = emptyGrid(nLayers, nHeads, atPosition === undefined ? 'layer × head' : `layer × head at position ${atPosition}`);
    entries.forEach((e, i) => {
      if (e.head === undefined || (atPosition !== undefined && e.position !== atPosition)) return;
      headGrid!.values[e.layer * nHeads + e.head] = e.recovery;
      headGrid!.entryIndex[e.layer * nHeads + e.head] = i;
    });
  }
  if (hasPosition) {
    // 'heads-all': the positions of the selected head (default: the strongest entry's).
    const ofHead = hasHead
      ? selection.head !== undefined && selection.layer !== undefined
        ? { layer: selection.layer, head: selection.head }
        : top && top.head !== undefined
          ? { layer: top.layer, head: top.head }
          : undefined
      : undefined;
    positionGrid = emptyGrid(nLayers, nPositions, ofHead ? `layer × position of head ${ofHead.head} (every layer)` : 'layer × position');
    entries.forEach((e, i) => {
      if (e.position === undefined || e.position >= nPositions) return;
      if (ofHead && e.head !== ofHead.head) return;
      positionGrid!.values[e.layer * nPositions + e.position] = e.recovery;
      positionGrid!.entryIndex[e.layer * nPositions + e.position] = i;
    });
  }
  return { headGrid, positionGrid, maxAbs: symmetricExtent(entries.map((e) => e.recovery)) };
}

/** A component's name: L9H6, L9H6@5, resid L3@5, attn L3@5, mlp L3@5. */
export function entryName(kind: PatchSweepResult['kind'], e: PatchEntry): string {
  const at = e.position !== undefined ? `@${e.position}` : '';
  if (e.head !== undefined) return headName(e.layer, e.head) + at;
  const prefix = kind === 'attn' ? 'attn' : kind === 'mlp' ? 'mlp' : 'resid';
  return `${prefix} L${e.layer}${at}`;
}

/** The `k` entries with the largest |recovery|, strongest first. */
export function strongestEntries(result: PatchSweepResult, k: number): { entry: PatchEntry; name: string }[] {
  return [...result.entries]
    .sort((a, b) => Math.abs(b.recovery) - Math.abs(a.recovery))
    .slice(0, k)
    .map((entry) => ({ entry, name: entryName(result.kind, entry) }));
}

/** The selection clicking an entry makes (its layer, and its head and/or position when it has them). */
export function selectionOf(entry: PatchEntry): LabSelection {
  return {
    layer: entry.layer,
    ...(entry.head !== undefined ? { head: entry.head } : {}),
    ...(entry.position !== undefined ? { position: entry.position } : {}),
  };
}
