/**
 * The one selection every view follows (a head, a token position, a layer), and the pure
 * operations on it: clamping to the model's size, keyboard moves, and the default selection for a
 * fresh result (the strongest direct contributor at the traced position).
 */
import type { AnalysisResult } from '../../../protocol/analysis.js';
import type { LabSelection } from '../../../protocol/webview-messages.js';

export interface Dimensions {
  nLayers: number;
  nHeads: number;
  nTokens: number;
}

function within(value: number | undefined, size: number): value is number {
  return value !== undefined && Number.isInteger(value) && value >= 0 && value < size;
}

/** Drops the fields that fall outside the model or prompt (e.g. a restored selection on a shorter prompt). */
export function clampSelection(selection: LabSelection, dims: Dimensions): LabSelection {
  const out: LabSelection = {};
  if (within(selection.layer, dims.nLayers)) out.layer = selection.layer;
  if (within(selection.head, dims.nHeads) && out.layer !== undefined) out.head = selection.head;
  if (within(selection.position, dims.nTokens)) out.position = selection.position;
  return out;
}

export function selectionEquals(a: LabSelection, b: LabSelection): boolean {
  return a.layer === b.layer && a.head === b.head && a.position === b.position;
}

/** Selecting a head selects its layer too. */
export function selectHead(selection: LabSelection, layer: number, head: number): LabSelection {
  return { ...selection, layer, head };
}

/** Selecting a layer alone clears the head unless it is in that layer's row already. */
export function selectLayer(selection: LabSelection, layer: number): LabSelection {
  const out: LabSelection = { ...selection, layer };
  if (selection.layer !== layer) delete out.head;
  return out;
}

export function selectPosition(selection: LabSelection, position: number): LabSelection {
  return { ...selection, position };
}

export interface HeadCursor {
  layer: number;
  head: number;
}

/** Moves a head cursor by (dLayer, dHead), stopping at the edges of the grid. */
export function moveCursor(cursor: HeadCursor, dLayer: number, dHead: number, dims: Pick<Dimensions, 'nLayers' | 'nHeads'>): HeadCursor {
  const clamp = (v: number, n: number) => Math.max(0, Math.min(n - 1, v));
  return { layer: clamp(cursor.layer + dLayer, dims.nLayers), head: clamp(cursor.head + dHead, dims.nHeads) };
}

/** Where keyboard navigation starts: the selected head, else head 0 of the selected layer, else L0H0. */
export function cursorFrom(selection: LabSelection): HeadCursor {
  return { layer: selection.layer ?? 0, head: selection.head ?? 0 };
}

/** For a fresh result: the head with the largest |direct contribution|, at the traced position. */
export function defaultSelection(result: AnalysisResult): LabSelection {
  const { nLayers, nHeads } = result.model;
  const heads = result.trace.heads; // [layer, head]
  let best = 0;
  for (let i = 1; i < nLayers * nHeads; i++) if (Math.abs(heads[i]!) > Math.abs(heads[best]!)) best = i;
  return { layer: Math.floor(best / nHeads), head: best % nHeads, position: result.trace.position };
}
