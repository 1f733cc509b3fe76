/**
 * The circuit view's data-to-drawing logic, pure so that it is tested in Node and shared by the
 * SVG on screen and the SVG export: a layered graph with the embedding at the top, each layer's
 * heads in a row and its MLP in the row below, and the logits at the bottom; each measured edge a
 * curve from its writer's bottom to its reader's top, width |score| and colour its sign (blue
 * toward the metric, orange away), ending at the reader's q, k or v port (left, middle, right of a
 * head; solid, dashed, dotted); the size slider over every circuit size (a log-scaled thumb) and the circuit at a measured size; which
 * edges path patching can check, and a check in words.
 */
import type { CircuitReport, EdgeCheck, FaithfulnessCurvePoint, ScoredEdge } from '../../../../protocol/circuit.js';
import { toHex, type Palette, type Rgb } from '../../shared/colour.js';
import { escapeXml, svgDocument, svgText } from '../../shared/svg.js';

export type HeadPort = 'q' | 'k' | 'v';

/** How each q/k/v input is drawn: where on the head the edge ends, and the stroke's dash. */
export const PORTS: Record<HeadPort, { offset: number; dash: string | null; label: string }> = {
  q: { offset: -1 / 3, dash: null, label: 'query (solid, left)' },
  k: { offset: 0, dash: '5 3', label: 'key (dashed, middle)' },
  v: { offset: 1 / 3, dash: '1.5 2.5', label: 'value (dotted, right)' },
};

export interface GraphShape {
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
}

export interface NodeBox {
  name: string;
  kind: 'embed' | 'head' | 'mlp' | 'logits';
  layer: number | null;
  x: number;
  y: number;
  width: number;
  height: number;
  /** In the drawn circuit (has an edge in or out). */
  active: boolean;
}

export interface EdgeLine {
  from: string;
  to: string;
  score: number;
  /** SVG path data. */
  d: string;
  width: number;
  colour: Rgb;
  dash: string | null;
  port: HeadPort | null;
}

export interface CircuitDrawing {
  width: number;
  height: number;
  nodes: NodeBox[];
  edges: EdgeLine[];
}

const MARGIN = { top: 14, right: 12, bottom: 14, left: 44 };
const ROW_HEIGHT = 44;
const NODE_HEIGHT = 16;
export const MIN_EDGE_WIDTH = 0.75;
export const MAX_EDGE_WIDTH = 7;

/** Rows top to bottom: embed, then per layer its heads and its MLP, then the logits. */
export function rowOf(kind: NodeBox['kind'], layer: number | null, nLayers: number): number {
  if (kind === 'embed') return 0;
  if (kind === 'logits') return 1 + 2 * nLayers;
  return 1 + 2 * layer! + (kind === 'mlp' ? 1 : 0);
}

/** A writer's or reader's name parsed: `embed`, `L5H1`, `L5H1.q`, `L5KV1.k`, `mlp5`, `logits`. */
export function parseNode(name: string): { kind: NodeBox['kind']; layer: number | null; head: number | null; kv: boolean; port: HeadPort | null } | null {
  if (name === 'embed' || name === 'logits') return { kind: name, layer: null, head: null, kv: false, port: null };
  const mlp = /^mlp(\d+)$/.exec(name);
  if (mlp) return { kind: 'mlp', layer: Number(mlp[1]), head: null, kv: false, port: null };
  const head = /^L(\d+)(H|KV)(\d+)(?:\.([qkv]))?$/.exec(name);
  if (!head) return null;
  return { kind: 'head', layer: Number(head[1]), head: Number(head[3]), kv: head[2] === 'KV', port: (head[4] as HeadPort | undefined) ?? null };
}

/** Every node of the model, placed: heads spread over the width, the embedding, MLPs and the logits centred. */
export function layoutNodes(shape: GraphShape, width: number, active: ReadonlySet<string>): NodeBox[] {
  const inner = Math.max(60, width - MARGIN.left - MARGIN.right);
  const column = inner / shape.nHeads;
  const headWidth = Math.max(6, Math.min(42, column - 4));
  const y = (row: number): number => MARGIN.top + row * ROW_HEIGHT;
  const centre = MARGIN.left + inner / 2;
  const box = (name: string, kind: NodeBox['kind'], layer: number | null, cx: number, w: number): NodeBox => ({
    name,
    kind,
    layer,
    x: cx - w / 2,
    y: y(rowOf(kind, layer, shape.nLayers)),
    width: w,
    height: NODE_HEIGHT,
    active: active.has(name),
  });
  const wide = Math.min(inner, Math.max(60, inner / 3));
  const nodes = [box('embed', 'embed', null, centre, wide)];
  for (let layer = 0; layer < shape.nLayers; layer++) {
    for (let h = 0; h < shape.nHeads; h++) nodes.push(box(`L${layer}H${h}`, 'head', layer, MARGIN.left + (h + 0.5) * column, headWidth));
    nodes.push(box(`mlp${layer}`, 'mlp', layer, centre, wide));
  }
  nodes.push(box('logits', 'logits', null, centre, wide));
  return nodes;
}

/** Where a reader's edge ends: a head's q/k/v port (a key/value head's at the middle of its query heads), else the top centre. */
function readerPoint(name: string, byName: ReadonlyMap<string, NodeBox>, shape: GraphShape): { x: number; y: number; port: HeadPort | null } | null {
  const parsed = parseNode(name);
  if (!parsed) return null;
  if (parsed.kind !== 'head') {
    const node = byName.get(name);
    return node ? { x: node.x + node.width / 2, y: node.y, port: null } : null;
  }
  const port = parsed.port ?? 'q';
  const group = parsed.kv ? shape.nHeads / shape.nKvHeads : 1;
  const heads = Array.from({ length: group }, (_, i) => byName.get(`L${parsed.layer}H${parsed.head! * group + i}`)).filter((n): n is NodeBox => !!n);
  if (heads.length === 0) return null;
  const x = heads.reduce((s, n) => s + n.x + n.width / 2 + PORTS[port].offset * n.width, 0) / heads.length;
  return { x, y: heads[0]!.y, port };
}

/** Stroke width from |score|: MIN..MAX_EDGE_WIDTH, proportional to |score| / the largest |score| drawn. */
export function edgeWidth(score: number, maxAbs: number): number {
  if (!(maxAbs > 0) || !Number.isFinite(score)) return MIN_EDGE_WIDTH;
  return MIN_EDGE_WIDTH + (MAX_EDGE_WIDTH - MIN_EDGE_WIDTH) * Math.min(1, Math.abs(score) / maxAbs);
}

/** Blue (the palette's positive) for an edge that raises the metric, orange (negative) for one that lowers it. */
export function edgeColour(score: number, palette: Palette): Rgb {
  return score >= 0 ? palette.positive : palette.negative;
}

/** The drawing of `edges` over every node of the model. */
export function circuitDrawing(shape: GraphShape, edges: readonly ScoredEdge[], width: number, palette: Palette): CircuitDrawing {
  const active = new Set<string>();
  for (const e of edges) {
    active.add(e.from);
    const reader = parseNode(e.to);
    if (reader?.kind === 'head' && !reader.kv) active.add(`L${reader.layer}H${reader.head}`);
    else if (reader?.kind === 'head') {
      const group = shape.nHeads / shape.nKvHeads;
      for (let i = 0; i < group; i++) active.add(`L${reader.layer}H${reader.head! * group + i}`);
    } else active.add(e.to);
  }
  const nodes = layoutNodes(shape, width, active);
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const maxAbs = edges.reduce((m, e) => (Number.isFinite(e.score) ? Math.max(m, Math.abs(e.score)) : m), 0);
  const lines: EdgeLine[] = [];
  // Smallest first, so that the strongest edges are drawn on top.
  for (const e of [...edges].sort((a, b) => Math.abs(a.score) - Math.abs(b.score))) {
    const writer = byName.get(e.from);
    const reader = readerPoint(e.to, byName, shape);
    if (!writer || !reader) continue;
    const x1 = writer.x + writer.width / 2;
    const y1 = writer.y + writer.height;
    const bend = Math.max(12, (reader.y - y1) / 2);
    lines.push({
      from: e.from,
      to: e.to,
      score: e.score,
      d: `M${x1.toFixed(1)} ${y1.toFixed(1)} C${x1.toFixed(1)} ${(y1 + bend).toFixed(1)} ${reader.x.toFixed(1)} ${(reader.y - bend).toFixed(1)} ${reader.x.toFixed(1)} ${reader.y.toFixed(1)}`,
      width: edgeWidth(e.score, maxAbs),
      colour: edgeColour(e.score, palette),
      dash: reader.port ? PORTS[reader.port].dash : null,
      port: reader.port,
    });
  }
  const height = MARGIN.top + rowOf('logits', null, shape.nLayers) * ROW_HEIGHT + NODE_HEIGHT + MARGIN.bottom;
  return { width, height, nodes, edges: lines };
}

/** Row labels of the drawing's left margin: embed, L0, mlp0, ..., logits. */
export function rowLabels(nLayers: number): { text: string; y: number }[] {
  const out = [{ text: 'embed', row: 0 }];
  for (let l = 0; l < nLayers; l++) out.push({ text: `L${l}`, row: rowOf('head', l, nLayers) }, { text: `mlp${l}`, row: rowOf('mlp', l, nLayers) });
  out.push({ text: 'logits', row: rowOf('logits', null, nLayers) });
  return out.map((r) => ({ text: r.text, y: MARGIN.top + r.row * ROW_HEIGHT + NODE_HEIGHT / 2 + 3 }));
}

// ---------------------------------------------------------------- the size slider

/**
 * The slider ranges over every circuit size k from 1 to the number of scored edges. Its thumb moves
 * on a log scale of k (small circuits, where faithfulness changes most, get most of the track);
 * the keys step one edge at a time, so every k is reachable. A k the curve has measured shows at
 * once; another is measured by the engine from the same scores and joins the curve.
 */
export const SLIDER_POSITIONS = 1000;

/** The circuit at a slider size: a measured point's circuit, or (size null: a threshold-chosen circuit off the curve) the report's own. */
export interface CircuitAtSize {
  edges: ScoredEdge[];
  faithfulness: number | null;
  /** Edges asked for (null for a threshold). */
  requested: number | null;
}

/** The largest size: every scored edge. */
export function maxSize(report: CircuitReport): number {
  return Math.max(1, report.allEdges.length);
}

/** The slider's starting size: the circuit's own number of edges asked for, or null when it was chosen by threshold. */
export function initialSize(report: CircuitReport): number | null {
  return 'edges' in report.size ? report.size.edges : null;
}

/** The thumb's position (0..SLIDER_POSITIONS) of size k on the log scale up to `max`. */
export function sliderPosition(k: number, max: number): number {
  return max <= 1 ? 0 : Math.round((SLIDER_POSITIONS * Math.log(Math.max(1, k))) / Math.log(max));
}

/** The size at a thumb position: the nearest whole number of edges on the log scale, 1..max. */
export function sizeAtPosition(position: number, max: number): number {
  if (max <= 1) return 1;
  const k = Math.round(Math.exp((Math.min(SLIDER_POSITIONS, Math.max(0, position)) / SLIDER_POSITIONS) * Math.log(max)));
  return Math.min(max, Math.max(1, k));
}

/** The curve point measured for k edges asked for, or −1. */
export function measuredIndex(report: CircuitReport, k: number): number {
  return (report.curve ?? []).findIndex((p) => p.requested === k);
}

/** The circuit at size k (null: the report's own); null when k has not been measured yet. */
export function circuitAtSize(report: CircuitReport, k: number | null): CircuitAtSize | null {
  if (k === null) return { edges: report.edges, faithfulness: report.faithfulness, requested: 'edges' in report.size ? report.size.edges : null };
  const i = measuredIndex(report, k);
  const circuit = report.curveCircuits[i];
  if (i < 0 || !circuit) return null;
  return { edges: circuit.map((j) => report.allEdges[j]!), faithfulness: report.curve![i]!.faithfulness, requested: k };
}

/**
 * The size a key moves the slider to, or null for a key it ignores: arrows one edge, Page Up /
 * Page Down the next / previous measured size, Home one edge, End every edge.
 */
export function keySize(report: CircuitReport, k: number | null, key: string): number | null {
  const max = maxSize(report);
  const current = k ?? Math.max(1, report.edges.length);
  const measured = (report.curve ?? []).map((p) => p.requested);
  switch (key) {
    case 'ArrowRight':
    case 'ArrowUp':
      return Math.min(max, current + 1);
    case 'ArrowLeft':
    case 'ArrowDown':
      return Math.max(1, current - 1);
    case 'PageUp':
      return Math.min(max, ...measured.filter((m) => m > current));
    case 'PageDown':
      return Math.max(1, ...measured.filter((m) => m < current));
    case 'Home':
      return 1;
    case 'End':
      return max;
    default:
      return null;
  }
}

/** What the slider announces while a size is being measured (or could not be). */
export function pendingSizeText(k: number, error: string | null): string {
  return `top ${k} edge${k === 1 ? '' : 's'}, ${error === null ? 'measuring faithfulness…' : `not measured: ${error}`}`;
}

/** What the slider announces: "8 edges (8 asked for), faithfulness 91.2%". */
export function sizeText(point: Pick<FaithfulnessCurvePoint, 'edges' | 'requested' | 'faithfulness'>): string {
  const share = point.faithfulness === null ? 'faithfulness undefined (clean and corrupted agree)' : `faithfulness ${formatShare(point.faithfulness)}`;
  return `${point.edges} edge${point.edges === 1 ? '' : 's'}${point.requested !== point.edges ? ` (top ${point.requested}, pruned)` : ''}, ${share}`;
}

export function formatShare(x: number | null): string {
  return x === null ? '—' : `${(x * 100).toFixed(1)}%`;
}

// ---------------------------------------------------------------- the faithfulness curve

export interface CurvePlot {
  width: number;
  height: number;
  /** Polyline points, x on a log scale of the edge count. */
  points: { x: number; y: number; requested: number; edges: number; faithfulness: number | null }[];
  /** x of a number of edges. */
  x: (edges: number) => number;
  /** y of 0% and 100%. */
  y0: number;
  y100: number;
}

/** The faithfulness against circuit size (edges, log scale), 0% and 100% marked; points without a faithfulness are left out. */
export function curvePlot(curve: readonly FaithfulnessCurvePoint[], width: number, height: number): CurvePlot {
  const pad = { left: 30, right: 8, top: 8, bottom: 16 };
  const shown = curve.filter((p) => p.faithfulness !== null && p.edges > 0);
  const values = shown.map((p) => p.faithfulness!);
  const lo = Math.min(0, ...values),
    hi = Math.max(1, ...values);
  const maxEdges = Math.max(1, ...shown.map((p) => p.edges));
  const x = (edges: number): number => pad.left + (maxEdges > 1 ? Math.log(edges) / Math.log(maxEdges) : 0.5) * (width - pad.left - pad.right);
  const y = (f: number): number => pad.top + ((hi - f) / (hi - lo)) * (height - pad.top - pad.bottom);
  return {
    width,
    height,
    points: curve.map((p) => ({
      x: x(Math.max(1, p.edges)),
      y: p.faithfulness === null ? NaN : y(p.faithfulness),
      requested: p.requested,
      edges: p.edges,
      faithfulness: p.faithfulness,
    })),
    x: (edges) => x(Math.min(maxEdges, Math.max(1, edges))),
    y0: y(0),
    y100: y(1),
  };
}

// ---------------------------------------------------------------- export

/** The graph as a standalone SVG document (the same drawing as on screen, with a legend). */
export function circuitSvg(drawing: CircuitDrawing, shape: GraphShape, caption: string, palette: Palette): string {
  const parts: string[] = [];
  const muted = (c: Rgb): string => toHex(c);
  for (const r of rowLabels(shape.nLayers)) parts.push(svgText(4, r.y, r.text, palette.foreground));
  for (const n of drawing.nodes) {
    parts.push(
      `<rect x="${n.x.toFixed(1)}" y="${n.y.toFixed(1)}" width="${n.width.toFixed(1)}" height="${n.height}" rx="3" fill="${n.active ? muted(palette.background) : 'none'}" stroke="${muted(n.active ? palette.foreground : palette.grid)}" stroke-width="${n.active ? 1.2 : 0.6}"><title>${escapeXml(n.name)}</title></rect>`,
    );
    if (n.active && n.width >= 24) parts.push(svgText(n.x + n.width / 2, n.y + n.height / 2 + 3, n.name, palette.foreground, 'middle', ' font-size="8"'));
  }
  for (const e of drawing.edges) {
    parts.push(
      `<path d="${e.d}" fill="none" stroke="${toHex(e.colour)}" stroke-width="${e.width.toFixed(2)}" stroke-opacity="0.85"${e.dash ? ` stroke-dasharray="${e.dash}"` : ''}><title>${escapeXml(`${e.from} → ${e.to}: ${e.score.toPrecision(4)}`)}</title></path>`,
    );
  }
  const legendY = drawing.height + 12;
  parts.push(svgText(4, legendY, caption, palette.foreground));
  const legend = (['q', 'k', 'v'] as const).map((p) => PORTS[p].label).join(' · ');
  parts.push(svgText(4, legendY + 14, `inputs: ${legend}; width |score|; blue raises the metric, orange lowers it`, palette.foreground));
  return svgDocument(drawing.width, drawing.height + 34, palette.background, parts.join(''), palette.fontFamily);
}

// ---------------------------------------------------------------- path-patching checks

/** Whether path patching can check an edge: out of a head, into the logits or a head's q, k or v input. */
export function edgeCheckable(from: string, to: string): boolean {
  return parseNode(from)?.kind === 'head' && (to === 'logits' || parseNode(to)?.port != null);
}

/** A check in words: "path patching L0H0 → L1H0.k: logit diff 1.23 (−85.0% of clean − corrupt 6.00 → 0.10)". */
export function edgeCheckText(check: EdgeCheck): string {
  const share = check.normalized === null ? 'clean and corrupted agree' : `${(check.normalized * 100).toFixed(1)}% of clean − corrupt`;
  return `path patching ${check.from} → ${check.to}: logit diff ${check.logitDiff.toFixed(3)} (${share}; clean ${check.cleanLogitDiff.toFixed(3)}, corrupt ${check.corruptLogitDiff.toFixed(3)})`;
}
