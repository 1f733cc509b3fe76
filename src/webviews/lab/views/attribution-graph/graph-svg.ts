/**
 * The attribution graph as a standalone SVG document (the view's SVG and PNG exports): the same
 * layout and edge styles as the view, pinned nodes outlined, supernodes named beside their members,
 * the scores in a caption.
 */
import type { AttributionGraphResult } from '../../../../protocol/attribution-graph-run.js';
import { mix, toHex, type Palette } from '../../shared/colour.js';
import { tokenLabel, truncateLabel } from '../../shared/format.js';
import { escapeXml, svgDocument, svgText } from '../../shared/svg.js';
import { edgeStroke, maxAbsWeight, nodeShortName, supernodeOf, type GraphLayout, type PinState } from './graph-model.js';

export const NODE_RADIUS = 6;

/** The fill of a node: features in the sequential hue, errors grey, tokens and logits in the foreground's tint. */
export function nodeFill(kind: AttributionGraphResult['nodes'][number]['kind'], palette: Palette): string {
  if (kind === 'feature') return toHex(palette.sequential);
  if (kind === 'error') return toHex(palette.neutral);
  return toHex(mix(palette.background, palette.foreground, 0.35));
}

export function graphCaption(graph: AttributionGraphResult): string {
  return `replacement ${graph.replacementScore.toFixed(3)} · completeness ${graph.completenessScore.toFixed(3)} · ${graph.counts.keptNodes} nodes, ${graph.counts.keptLinks} edges · node threshold ${graph.nodeThreshold}, edge threshold ${graph.edgeThreshold}`;
}

export function graphSvg(graph: AttributionGraphResult, layout: GraphLayout, pins: PinState, palette: Palette): string {
  const maxAbs = maxAbsWeight(graph.links);
  const parts: string[] = [];
  layout.rowLabels.forEach((label, r) => parts.push(svgText(6, layout.rowHeight * r + layout.rowHeight / 2 + 12, label, palette.foreground)));
  graph.tokens.forEach((t, p) =>
    parts.push(
      svgText(
        layout.left + (p + 0.5) * layout.columnWidth,
        layout.height - 10,
        truncateLabel(tokenLabel(t), 12),
        palette.foreground,
        'middle',
        ' font-family="monospace"',
      ),
    ),
  );
  for (const link of graph.links) {
    const s = layout.byId.get(link.source);
    const t = layout.byId.get(link.target);
    if (!s || !t) continue;
    const stroke = edgeStroke(link.weight, maxAbs);
    parts.push(
      `<line x1="${s.x.toFixed(1)}" y1="${s.y.toFixed(1)}" x2="${t.x.toFixed(1)}" y2="${t.y.toFixed(1)}" stroke="${toHex(stroke.positive ? palette.positive : palette.negative)}" stroke-width="${stroke.width.toFixed(2)}" stroke-opacity="${stroke.opacity.toFixed(2)}"/>`,
    );
  }
  for (const p of layout.placed) {
    const pinned = pins.pinned.includes(p.node.id);
    const outline = pinned ? ` stroke="${toHex(palette.accent)}" stroke-width="2.5"` : '';
    const title = `<title>${escapeXml(`${nodeShortName(p.node)} ${p.node.label}`.trim())}</title>`;
    if (p.node.kind === 'feature')
      parts.push(`<circle cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="${NODE_RADIUS}" fill="${nodeFill('feature', palette)}"${outline}>${title}</circle>`);
    else
      parts.push(
        `<rect x="${(p.x - NODE_RADIUS).toFixed(1)}" y="${(p.y - NODE_RADIUS).toFixed(1)}" width="${2 * NODE_RADIUS}" height="${2 * NODE_RADIUS}" fill="${nodeFill(p.node.kind, palette)}"${outline}>${title}</rect>`,
      );
    const group = supernodeOf(pins, p.node.id);
    if (group) parts.push(svgText(p.x, p.y - NODE_RADIUS - 3, truncateLabel(group.name, 16), palette.accent, 'middle'));
  }
  parts.push(svgText(6, layout.height + 10, graphCaption(graph), palette.foreground));
  return svgDocument(Math.max(layout.width, 560), layout.height + 16, palette.background, parts.join(''), palette.fontFamily);
}
