/**
 * What the Attribution Graph view draws, from an AttributionGraphResult: the layout (rows from the logits
 * at the top, through the layers, to the token embeddings at the bottom; a column per position,
 * the nodes of one cell side by side), edge widths and signs, keyboard moves between nodes, each
 * node's name and details, and the user's pins and supernodes (named groups of pinned nodes) with
 * the pinned subgraph's summed edges and circuit-tracer's qParams for the export. Pure, so it is
 * tested in Node.
 */
import type { AttributionGraphResult, GraphLink, GraphNode } from '../../../../protocol/attribution-graph-run.js';
import { tokenLabel } from '../../shared/format.js';

export interface PlacedNode {
  node: GraphNode;
  /** Row from the top: 0 = logits, 1 .. nLayers = layers nLayers-1 .. 0, nLayers + 1 = embeddings. */
  row: number;
  x: number;
  y: number;
}

export interface GraphLayout {
  width: number;
  height: number;
  rows: number;
  /** Left edge of the node area (room for the row labels). */
  left: number;
  columnWidth: number;
  rowHeight: number;
  placed: PlacedNode[];
  byId: Map<string, PlacedNode>;
  /** Row labels, top to bottom. */
  rowLabels: string[];
  /** Node ids per row, left to right (keyboard order). */
  rowOrder: string[][];
}

/** Spacing in px; a column widens so that the nodes of its most crowded cell stay `nodeSpacing` apart. */
export const LAYOUT = { left: 56, top: 8, columnWidth: 84, nodeSpacing: 16, rowHeight: 44, bottom: 28 } as const;

export function rowOf(node: GraphNode, nLayers: number): number {
  if (node.kind === 'logit') return 0;
  if (node.kind === 'token') return nLayers + 1;
  return nLayers - (node.layer ?? 0);
}

export function layoutGraph(graph: AttributionGraphResult): GraphLayout {
  const nPos = graph.tokens.length;
  const rows = graph.nLayers + 2;
  const cells = new Map<string, GraphNode[]>();
  for (const node of graph.nodes) {
    const key = `${rowOf(node, graph.nLayers)}:${node.position}`;
    const list = cells.get(key) ?? [];
    list.push(node);
    cells.set(key, list);
  }
  const { left, top, rowHeight, bottom } = LAYOUT;
  let crowded = 0;
  for (const list of cells.values()) crowded = Math.max(crowded, list.length);
  const columnWidth = Math.max(LAYOUT.columnWidth, (crowded + 1) * LAYOUT.nodeSpacing);
  const placed: PlacedNode[] = [];
  for (const [key, list] of cells) {
    const [row, position] = key.split(':').map(Number) as [number, number];
    // Within a cell: features by index, then the error node, spread evenly.
    list.sort((a, b) => (a.kind === b.kind ? (a.index ?? 0) - (b.index ?? 0) : a.kind === 'error' ? 1 : -1));
    list.forEach((node, k) =>
      placed.push({ node, row, x: left + position * columnWidth + ((k + 1) * columnWidth) / (list.length + 1), y: top + row * rowHeight + rowHeight / 2 }),
    );
  }
  placed.sort((a, b) => a.row - b.row || a.x - b.x);
  const rowOrder: string[][] = Array.from({ length: rows }, () => []);
  for (const p of placed) rowOrder[p.row]!.push(p.node.id);
  const rowLabels = ['Logits', ...Array.from({ length: graph.nLayers }, (_, i) => `L${graph.nLayers - 1 - i}`), 'Embed'];
  return {
    width: left + Math.max(1, nPos) * columnWidth + 8,
    height: top + rows * rowHeight + bottom,
    rows,
    left,
    columnWidth,
    rowHeight,
    placed,
    byId: new Map(placed.map((p) => [p.node.id, p])),
    rowLabels,
    rowOrder,
  };
}

/** The largest |weight| of the links (1 when there are none). */
export function maxAbsWeight(links: readonly GraphLink[]): number {
  let max = 0;
  for (const l of links) max = Math.max(max, Math.abs(l.weight));
  return max > 0 ? max : 1;
}

/** An edge's stroke: width from |w| (0.5 to 5 px), its sign for the colour, opacity rising with |w|. */
export function edgeStroke(weight: number, maxAbs: number): { width: number; positive: boolean; opacity: number } {
  const t = Math.min(1, Math.abs(weight) / maxAbs);
  return { width: 0.5 + 4.5 * t, positive: weight >= 0, opacity: 0.25 + 0.65 * t };
}

export type NavKey = 'ArrowLeft' | 'ArrowRight' | 'ArrowUp' | 'ArrowDown' | 'Home' | 'End';

/** The node a key moves to from `id`: along its row, or the nearest node (by x) in the next non-empty row up or down. */
export function moveFocus(layout: GraphLayout, id: string | null, key: NavKey): string | null {
  const first = layout.rowOrder.find((r) => r.length > 0)?.[0] ?? null;
  if (id === null) return first;
  const at = layout.byId.get(id);
  if (!at) return first;
  const row = layout.rowOrder[at.row]!;
  const i = row.indexOf(id);
  if (key === 'ArrowLeft') return row[Math.max(0, i - 1)]!;
  if (key === 'ArrowRight') return row[Math.min(row.length - 1, i + 1)]!;
  if (key === 'Home') return row[0]!;
  if (key === 'End') return row[row.length - 1]!;
  const step = key === 'ArrowUp' ? -1 : 1;
  for (let r = at.row + step; r >= 0 && r < layout.rows; r += step) {
    const candidates = layout.rowOrder[r]!;
    if (candidates.length === 0) continue;
    let best = candidates[0]!;
    for (const c of candidates) if (Math.abs(layout.byId.get(c)!.x - at.x) < Math.abs(layout.byId.get(best)!.x - at.x)) best = c;
    return best;
  }
  return id;
}

/** A node's short name: `L3 #1234`, `Err L3`, `Emb`, `Logit`. */
export function nodeShortName(node: GraphNode): string {
  switch (node.kind) {
    case 'feature':
      return `L${node.layer} #${node.index}`;
    case 'error':
      return `Err L${node.layer}`;
    case 'token':
      return 'Emb';
    case 'logit':
      return 'Logit';
  }
}

/** A node in a sentence, with its position and token: `feature L3 #1234 at 5 " cat"`. */
export function describeNode(node: GraphNode, tokens: readonly string[]): string {
  const token = JSON.stringify(tokenLabel(tokens[node.position] ?? ''));
  switch (node.kind) {
    case 'feature':
      return `feature L${node.layer} #${node.index} at ${node.position} ${token}, activation ${node.activation?.toFixed(3) ?? '–'}${node.label ? `: ${node.label}` : ''}`;
    case 'error':
      return `reconstruction error of layer ${node.layer} at ${node.position} ${token}`;
    case 'token':
      return `embedding of ${token} at ${node.position}`;
    case 'logit':
      return node.label || `logit ${node.index} at ${node.position}, p = ${node.probability?.toFixed(3) ?? '–'}`;
  }
}

export interface NodeLinks {
  /** Strongest first by |weight|. */
  incoming: Array<{ node: string; weight: number }>;
  outgoing: Array<{ node: string; weight: number }>;
}

/** A node's strongest direct inputs and outputs. */
export function nodeLinks(graph: AttributionGraphResult, id: string, limit = 5): NodeLinks {
  const incoming = graph.links.filter((l) => l.target === id).map((l) => ({ node: l.source, weight: l.weight }));
  const outgoing = graph.links.filter((l) => l.source === id).map((l) => ({ node: l.target, weight: l.weight }));
  const byAbs = (a: { weight: number }, b: { weight: number }) => Math.abs(b.weight) - Math.abs(a.weight);
  return { incoming: incoming.sort(byAbs).slice(0, limit), outgoing: outgoing.sort(byAbs).slice(0, limit) };
}

// ---------------------------------------------------------------- pins and supernodes

export interface Supernode {
  name: string;
  members: string[];
}

export interface PinState {
  /** Pinned node ids, in pinning order. */
  pinned: string[];
  supernodes: Supernode[];
}

export const NO_PINS: PinState = { pinned: [], supernodes: [] };

export function togglePin(state: PinState, id: string): PinState {
  if (state.pinned.includes(id)) {
    // Unpinning a node takes it out of its supernode; a supernode left empty goes.
    const supernodes = state.supernodes.map((s) => ({ ...s, members: s.members.filter((m) => m !== id) })).filter((s) => s.members.length > 0);
    return { pinned: state.pinned.filter((p) => p !== id), supernodes };
  }
  return { ...state, pinned: [...state.pinned, id] };
}

export type GroupResult = { ok: true; state: PinState } | { ok: false; error: string };

/** Groups pinned nodes under a name (they leave any other supernode); names are unique and non-empty. */
export function groupPinned(state: PinState, ids: readonly string[], name: string): GroupResult {
  const trimmed = name.trim();
  if (trimmed === '') return { ok: false, error: 'Name the supernode.' };
  if (trimmed.length > 80) return { ok: false, error: 'A supernode name has at most 80 characters.' };
  if (state.supernodes.some((s) => s.name === trimmed)) return { ok: false, error: `There is already a supernode "${trimmed}".` };
  const members = ids.filter((id) => state.pinned.includes(id));
  if (members.length < 2) return { ok: false, error: 'Choose at least two pinned nodes to group.' };
  const supernodes = state.supernodes.map((s) => ({ ...s, members: s.members.filter((m) => !members.includes(m)) })).filter((s) => s.members.length > 0);
  return { ok: true, state: { ...state, supernodes: [...supernodes, { name: trimmed, members }] } };
}

export function ungroup(state: PinState, name: string): PinState {
  return { ...state, supernodes: state.supernodes.filter((s) => s.name !== name) };
}

/** Keeps only pins and members that are nodes of the graph (after a new graph or a re-pruning). */
export function prunePins(state: PinState, graph: AttributionGraphResult): PinState {
  const ids = new Set(graph.nodes.map((n) => n.id));
  const pinned = state.pinned.filter((p) => ids.has(p));
  const supernodes = state.supernodes.map((s) => ({ ...s, members: s.members.filter((m) => ids.has(m)) })).filter((s) => s.members.length > 0);
  return { pinned, supernodes };
}

/** The supernode holding `id`, if any. */
export function supernodeOf(state: PinState, id: string): Supernode | undefined {
  return state.supernodes.find((s) => s.members.includes(id));
}

export interface SubgraphEdge {
  source: string;
  target: string;
  weight: number;
}

/** The pinned subgraph: each supernode one unit (by name), other pinned nodes themselves; edges between units, weights summed. */
export function pinnedSubgraph(graph: AttributionGraphResult, state: PinState): { units: string[]; edges: SubgraphEdge[] } {
  const unitOf = new Map<string, string>();
  for (const id of state.pinned) unitOf.set(id, supernodeOf(state, id)?.name ?? id);
  const sums = new Map<string, SubgraphEdge>();
  for (const l of graph.links) {
    const s = unitOf.get(l.source);
    const t = unitOf.get(l.target);
    if (s === undefined || t === undefined || s === t) continue;
    const key = `${s}\u0000${t}`;
    const e = sums.get(key) ?? { source: s, target: t, weight: 0 };
    e.weight += l.weight;
    sums.set(key, e);
  }
  return { units: [...new Set(unitOf.values())], edges: [...sums.values()].sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)) };
}

/** circuit-tracer's qParams for the pins: pinnedIds, and supernodes as [name, ...node ids]. */
export function qParams(state: PinState): { pinnedIds: string[]; supernodes: string[][] } {
  return { pinnedIds: [...state.pinned], supernodes: state.supernodes.map((s) => [s.name, ...s.members]) };
}

/** Checks a threshold slider's value: a share in (0, 1]. */
export function validThreshold(value: number): boolean {
  return Number.isFinite(value) && value > 0 && value <= 1;
}
