/** Canvas plumbing shared by the canvas-drawn views: device-pixel sizing, fast cell drawing, PNG export. */
import { toHex, type Rgb } from './colour.js';
import { cellPixels, type HeatmapLayout } from './heatmap-layout.js';

/** Sizes a canvas for crisp drawing at the screen's pixel ratio; returns a context in CSS pixels. */
export function prepareCanvas(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const ratio = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(width * ratio));
  const h = Math.max(1, Math.round(height * ratio));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('2D canvas is unavailable');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

let scratch: HTMLCanvasElement | null = null;

/** Draws every cell at once: one pixel per cell into a scratch canvas, scaled up without smoothing. */
export function drawCells(ctx: CanvasRenderingContext2D, layout: HeatmapLayout, colourAt: (row: number, col: number) => Rgb | null): void {
  if (layout.rows === 0 || layout.cols === 0) return;
  scratch ??= document.createElement('canvas');
  scratch.width = layout.cols;
  scratch.height = layout.rows;
  const sctx = scratch.getContext('2d');
  if (!sctx) return;
  const image = sctx.createImageData(layout.cols, layout.rows);
  image.data.set(cellPixels(layout.rows, layout.cols, colourAt));
  sctx.putImageData(image, 0, 0);
  ctx.save();
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch, layout.x0, layout.y0, layout.cols * layout.cellWidth, layout.rows * layout.cellHeight);
  ctx.restore();
}

/** A one-line note on a drawing, by default in its top-left corner (what the drawing says about itself, kept in its PNG). */
export function drawCaption(ctx: CanvasRenderingContext2D, text: string, colour: Rgb, fontFamily: string, at: { x: number; y: number } = CAPTION_INSET): void {
  ctx.save();
  ctx.font = `10px ${fontFamily}`;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillStyle = css(colour);
  ctx.fillText(text, at.x, at.y);
  ctx.restore();
}

/** Where drawCaption writes, CSS pixels from the top-left corner (the same as .drawing-caption in lab.css). */
export const CAPTION_INSET = { x: 6, y: 4 } as const;
/** Room a caption takes at the top of a drawing, CSS pixels. */
export const CAPTION_HEIGHT = 16;

export function css(c: Rgb, alpha = 1): string {
  return alpha >= 1 ? toHex(c) : `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${alpha})`;
}

/** The bytes of a data: URL (PNG export). */
export function dataUrlBytes(url: string): Uint8Array {
  const comma = url.indexOf(',');
  const binary = atob(url.slice(comma + 1));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function canvasPng(canvas: HTMLCanvasElement): Uint8Array {
  return dataUrlBytes(canvas.toDataURL('image/png'));
}

/** Rasterises an SVG document to PNG bytes (at 2× for print quality); data: images are allowed by the CSP. */
export async function svgPng(svg: string, width: number, height: number, scale = 2): Promise<Uint8Array> {
  const image = new Image();
  image.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg);
  await image.decode();
  const canvas = document.createElement('canvas');
  canvas.width = Math.ceil(width * scale);
  canvas.height = Math.ceil(height * scale);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('2D canvas is unavailable');
  ctx.scale(scale, scale);
  ctx.drawImage(image, 0, 0, width, height);
  return canvasPng(canvas);
}
