/**
 * The attribution view as one picture (its SVG and PNG export): every map it shows, each heatmap's
 * own SVG under its title, stacked top to bottom, then the AtP-vs-exact scatter drawn as SVG
 * (points, the y = x line, Pearson's r). Pure, so it is tested in Node.
 */
import type { LabAttributionMethod } from '../../../../protocol/attribution.js';
import type { ScatterPoint } from '../../../../protocol/attribution-scatter.js';
import { toHex, type Palette } from '../../shared/colour.js';
import { escapeXml, svgDocument, svgText } from '../../shared/svg.js';
import { METHOD_LABELS } from './attribution-model.js';

const TITLE_HEIGHT = 18;
const GAP = 10;
const PAD = 8;

/** A standalone SVG document's width and height (its root element's attributes). */
export function svgSize(svg: string): { width: number; height: number } {
  const root = /^<svg\b[^>]*>/.exec(svg.trim())?.[0] ?? '';
  const width = Number(/\swidth="([\d.]+)"/.exec(root)?.[1]);
  const height = Number(/\sheight="([\d.]+)"/.exec(root)?.[1]);
  if (!(width > 0) || !(height > 0)) throw new Error('An SVG part without its width and height.');
  return { width, height };
}

/** The scatter as SVG: x the exact patching effect, y the attribution score (metric units), the y = x line, r in the caption. */
export function scatterSvg(
  points: readonly ScatterPoint[],
  r: number | null,
  method: LabAttributionMethod,
  palette: Palette,
  width = 360,
  height = 260,
): string {
  const box = { left: 44, right: width - 10, top: 24, bottom: height - 30 };
  const values = points.flatMap((p) => [p.exact, p.score]);
  const lo = Math.min(0, ...values),
    hi = Math.max(0, ...values);
  const pad = (hi - lo) * 0.05 || 1;
  const [min, max] = [lo - pad, hi + pad];
  const x = (v: number) => box.left + ((v - min) / (max - min)) * (box.right - box.left);
  const y = (v: number) => box.bottom - ((v - min) / (max - min)) * (box.bottom - box.top);
  const fg = toHex(palette.foreground);
  const parts = [
    svgText(PAD, 14, `${METHOD_LABELS[method]} vs exact (per head, metric units), Pearson r = ${r === null ? 'undefined' : r.toFixed(3)}`, palette.foreground),
    `<rect x="${box.left}" y="${box.top}" width="${box.right - box.left}" height="${box.bottom - box.top}" fill="none" stroke="${toHex(palette.grid)}"/>`,
    `<line x1="${x(min).toFixed(1)}" y1="${y(min).toFixed(1)}" x2="${x(max).toFixed(1)}" y2="${y(max).toFixed(1)}" stroke="${toHex(palette.grid)}" stroke-dasharray="4 3"><title>y = x</title></line>`,
    svgText((box.left + box.right) / 2, height - 8, 'exact effect', palette.foreground, 'middle'),
    svgText(
      12,
      (box.top + box.bottom) / 2,
      METHOD_LABELS[method],
      palette.foreground,
      'middle',
      ` transform="rotate(-90 12 ${((box.top + box.bottom) / 2).toFixed(1)})"`,
    ),
    svgText(box.left - 4, box.bottom, min.toPrecision(3), palette.foreground, 'end'),
    svgText(box.left - 4, box.top + 8, max.toPrecision(3), palette.foreground, 'end'),
  ];
  for (const p of points) {
    parts.push(
      `<circle cx="${x(p.exact).toFixed(1)}" cy="${y(p.score).toFixed(1)}" r="3" fill="${toHex(palette.positive)}" fill-opacity="0.8" stroke="${fg}" stroke-width="0.4"><title>${escapeXml(`${p.name}: exact ${p.exact.toPrecision(4)}, ${METHOD_LABELS[method]} ${p.score.toPrecision(4)}`)}</title></circle>`,
    );
  }
  return svgDocument(width, height, palette.background, parts.join(''), palette.fontFamily);
}

/** One SVG of the parts (each a standalone SVG document) stacked under their titles, with a caption line on top. */
export function stackedSvg(
  caption: string,
  parts: readonly { title: string; svg: string }[],
  palette: Palette,
): { svg: string; width: number; height: number } {
  if (parts.length === 0) throw new Error('There is nothing drawn to export yet.');
  let y = PAD + TITLE_HEIGHT;
  const body = [svgText(PAD, PAD + 11, caption, palette.foreground, 'start', ' font-size="11"')];
  let width = 0;
  for (const part of parts) {
    const size = svgSize(part.svg);
    body.push(svgText(PAD, y + 12, part.title, palette.foreground));
    y += TITLE_HEIGHT;
    // A nested <svg> keeps each part's own coordinates; only its position changes.
    body.push(part.svg.trim().replace(/^<svg\b/, `<svg x="${PAD}" y="${y.toFixed(1)}"`));
    y += size.height + GAP;
    width = Math.max(width, size.width + 2 * PAD);
  }
  const height = y - GAP + PAD;
  return { svg: svgDocument(width, height, palette.background, body.join(''), palette.fontFamily), width, height };
}
