/**
 * Generated SVG documents for export (heatmaps and the views drawn as HTML), built as strings so
 * that the export works the same in a test and in the webview.
 */
import { toHex, type Rgb } from './colour.js';
import { cellRect, labelShown, type HeatmapLayout } from './heatmap-layout.js';

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export function svgDocument(width: number, height: number, background: Rgb, body: string, fontFamily: string): string {
  const w = Math.ceil(width);
  const h = Math.ceil(height);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="${escapeXml(fontFamily)}" font-size="10">` +
    `<rect width="${w}" height="${h}" fill="${toHex(background)}"/>${body}</svg>`
  );
}

export function svgText(x: number, y: number, text: string, fill: Rgb, anchor: 'start' | 'middle' | 'end' = 'start', extra = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" fill="${toHex(fill)}" text-anchor="${anchor}"${extra}>${escapeXml(text)}</text>`;
}

export interface HeatmapSvgOptions {
  layout: HeatmapLayout;
  colourAt: (row: number, col: number) => Rgb | null;
  rowLabels: readonly string[];
  colLabels: readonly string[];
  /** Label colour. */
  foreground: Rgb;
  /** Extra SVG drawn over the cells (paths, outlines). */
  overlay?: string;
  /** Row and column labels drawn muted (e.g. a prepended BOS on a token axis). */
  mutedLabels?: ReadonlySet<number>;
}

/** Opacity of a muted label, on canvas and in SVG. */
export const MUTED_LABEL_OPACITY = 0.55;

function muted(o: HeatmapSvgOptions, index: number): string {
  return o.mutedLabels?.has(index) ? ` fill-opacity="${MUTED_LABEL_OPACITY}"` : '';
}

/** A heatmap's cells and labels as SVG elements (one rect per non-empty cell). */
export function heatmapSvgBody(o: HeatmapSvgOptions): string {
  const parts: string[] = [];
  const { layout } = o;
  for (let r = 0; r < layout.rows; r++) {
    for (let c = 0; c < layout.cols; c++) {
      const colour = o.colourAt(r, c);
      if (!colour) continue;
      const rect = cellRect(layout, r, c);
      parts.push(
        `<rect x="${rect.x.toFixed(2)}" y="${rect.y.toFixed(2)}" width="${rect.width.toFixed(2)}" height="${rect.height.toFixed(2)}" fill="${toHex(colour)}"/>`,
      );
    }
  }
  for (let r = 0; r < layout.rows; r++) {
    if (!labelShown(r, layout.rowLabelStride)) continue;
    const y = layout.y0 + (r + 0.5) * layout.cellHeight + 3;
    parts.push(svgText(layout.x0 - 4, y, o.rowLabels[r] ?? '', o.foreground, 'end', muted(o, r)));
  }
  for (let c = 0; c < layout.cols; c++) {
    if (!labelShown(c, layout.colLabelStride)) continue;
    const x = layout.x0 + (c + 0.5) * layout.cellWidth;
    const y = layout.y0 - 4;
    parts.push(svgText(x, y, o.colLabels[c] ?? '', o.foreground, 'start', ` transform="rotate(-60 ${x.toFixed(1)} ${y.toFixed(1)})"${muted(o, c)}`));
  }
  if (o.overlay) parts.push(o.overlay);
  return parts.join('');
}
