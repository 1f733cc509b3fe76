/**
 * Colour for data: a diverging scale centred at zero (one hue toward the target, another away),
 * a sequential scale for probabilities and attention weights, and the palette they draw from.
 *
 * The palette comes from the VS Code theme (`--vscode-charts-blue`, `--vscode-charts-orange`,
 * `--vscode-editor-background`, ...; see theme.ts), so the same mapping is readable in light,
 * dark and high-contrast themes. Blue/orange is the diverging pair because it stays distinct
 * under the common colour-vision deficiencies (red/green would not).
 */

/** An sRGB colour, channels 0..255. */
export type Rgb = readonly [number, number, number];

export interface Palette {
  background: Rgb;
  foreground: Rgb;
  /** Toward the target (positive contribution, recovery). */
  positive: Rgb;
  /** Away from the target (negative contribution). */
  negative: Rgb;
  /** Middle of the 3D grid's scale: a visible grey, so that zero-contribution heads still show. */
  neutral: Rgb;
  /** Sequential scale's far end (attention weights, probabilities). */
  sequential: Rgb;
  /** Selection and focus. */
  accent: Rgb;
  /** The top path and other overlays. */
  path: Rgb;
  /** Grid lines and the masked (non-causal) triangle. */
  grid: Rgb;
  fontFamily: string;
  monoFontFamily: string;
}

/** Dark-theme values, used when a theme variable is missing (e.g. outside VS Code). */
export const FALLBACK_PALETTE: Palette = {
  background: [30, 30, 30],
  foreground: [204, 204, 204],
  positive: [55, 148, 255],
  negative: [209, 134, 22],
  neutral: [128, 128, 128],
  sequential: [179, 136, 255],
  accent: [0, 127, 212],
  path: [230, 230, 230],
  grid: [72, 72, 72],
  fontFamily: 'system-ui, sans-serif',
  monoFontFamily: 'monospace',
};

function clamp01(t: number): number {
  return t < 0 ? 0 : t > 1 ? 1 : Number.isNaN(t) ? 0 : t;
}

/** Parses the colour forms VS Code themes use: #rgb, #rgba, #rrggbb, #rrggbbaa, rgb(), rgba(). Alpha is dropped. */
export function parseCssColour(text: string): Rgb | null {
  const s = text.trim().toLowerCase();
  let m = /^#([0-9a-f]{3,4})$/.exec(s);
  if (m) {
    const h = m[1]!;
    return [parseInt(h[0]! + h[0]!, 16), parseInt(h[1]! + h[1]!, 16), parseInt(h[2]! + h[2]!, 16)];
  }
  m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/.exec(s);
  if (m) {
    const h = m[1]!;
    return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
  }
  m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)(?:[\s,/]+[\d.]+%?)?\s*\)$/.exec(s);
  if (m) return [Math.round(Math.min(255, Number(m[1]))), Math.round(Math.min(255, Number(m[2]))), Math.round(Math.min(255, Number(m[3])))];
  return null;
}

/** Linear interpolation in sRGB from `a` (t = 0) to `b` (t = 1); t is clamped. */
export function mix(a: Rgb, b: Rgb, t: number): Rgb {
  const u = clamp01(t);
  return [Math.round(a[0] + (b[0] - a[0]) * u), Math.round(a[1] + (b[1] - a[1]) * u), Math.round(a[2] + (b[2] - a[2]) * u)];
}

export function toHex(c: Rgb): string {
  return '#' + c.map((v) => v.toString(16).padStart(2, '0')).join('');
}

/** Relative luminance (WCAG), 0 (black) .. 1 (white). */
export function luminance(c: Rgb): number {
  const lin = (v: number) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
}

/** Black or white, whichever reads better on `background` (for text drawn on cells). */
export function textColourOn(background: Rgb): Rgb {
  return luminance(background) > 0.4 ? [0, 0, 0] : [255, 255, 255];
}

/** The largest |value| (finite values only); 1 when there is none, so that scales never divide by zero. */
export function symmetricExtent(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i]!);
    if (Number.isFinite(v) && v > max) max = v;
  }
  return max > 0 ? max : 1;
}

/**
 * Diverging scale centred at zero: the background at 0, the positive hue at +maxAbs, the negative
 * hue at −maxAbs; values beyond ±maxAbs saturate. `centre` replaces the background as the midpoint.
 */
export function divergingColour(value: number, maxAbs: number, palette: Palette, centre: Rgb = palette.background): Rgb {
  if (!Number.isFinite(value) || maxAbs <= 0) return centre;
  return mix(centre, value >= 0 ? palette.positive : palette.negative, Math.abs(value) / maxAbs);
}

/** Sequential scale: the background at 0, the sequential hue at `max` (values clamped). */
export function sequentialColour(value: number, max: number, palette: Palette): Rgb {
  if (!Number.isFinite(value) || max <= 0) return palette.background;
  return mix(palette.background, palette.sequential, value / max);
}
