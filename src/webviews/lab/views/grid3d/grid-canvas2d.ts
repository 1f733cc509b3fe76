/**
 * The model grid without WebGL: the same heads, colours, lit layers, measured circuit edges (with their
 * caption) and marks drawn flat on a 2D canvas (layers bottom to top, heads left to right). No
 * orbit; picking by cell.
 */
import type { Palette } from '../../shared/colour.js';
import { CAPTION_HEIGHT, canvasPng, css, drawCaption, prepareCanvas } from '../../shared/canvas.js';
import type { HeadCursor } from '../../state/selection.js';
import type { GridData, GridRenderer, ScreenPoint } from './grid-renderer.js';

const MARGIN = { left: 34, right: 10, top: 10, bottom: 22 };

export class Canvas2dGrid implements GridRenderer {
  readonly kind = 'canvas2d' as const;
  readonly canvas = document.createElement('canvas');
  private width = 1;
  private height = 1;
  private data: GridData | null = null;
  private palette: Palette | null = null;
  private selected: HeadCursor | null = null;
  private cursor: HeadCursor | null = null;

  setSize(width: number, height: number): void {
    this.width = Math.max(1, width);
    this.height = Math.max(1, height);
  }

  setData(data: GridData, palette: Palette): void {
    this.data = data;
    this.palette = palette;
  }

  setMarks(selected: HeadCursor | null, cursor: HeadCursor | null, palette: Palette): void {
    this.selected = selected;
    this.cursor = cursor;
    this.palette = palette;
  }

  /** The grid's top edge: below the caption when there is one. */
  private top(): number {
    return MARGIN.top + (this.data?.caption ? CAPTION_HEIGHT : 0);
  }

  private cell(): { w: number; h: number } {
    const d = this.data;
    if (!d || d.nHeads === 0 || d.nLayers === 0) return { w: 0, h: 0 };
    return { w: (this.width - MARGIN.left - MARGIN.right) / d.nHeads, h: (this.height - this.top() - MARGIN.bottom) / d.nLayers };
  }

  project(layer: number, head: number): ScreenPoint | null {
    const d = this.data;
    if (!d) return null;
    const { w, h } = this.cell();
    return { x: MARGIN.left + (head + 0.5) * w, y: this.top() + (d.nLayers - 1 - layer + 0.5) * h };
  }

  pick(x: number, y: number): HeadCursor | null {
    const d = this.data;
    const { w, h } = this.cell();
    if (!d || w <= 0 || h <= 0) return null;
    const head = Math.floor((x - MARGIN.left) / w);
    const row = Math.floor((y - this.top()) / h);
    if (head < 0 || head >= d.nHeads || row < 0 || row >= d.nLayers) return null;
    return { layer: d.nLayers - 1 - row, head };
  }

  resetView(): void {
    this.render();
  }

  render(): void {
    const d = this.data;
    const p = this.palette;
    const ctx = prepareCanvas(this.canvas, this.width, this.height);
    if (!d || !p) return;
    ctx.fillStyle = css(p.background);
    ctx.fillRect(0, 0, this.width, this.height);
    const { w, h } = this.cell();
    const radius = Math.max(2, Math.min(w, h) * 0.34);
    ctx.font = `10px ${p.fontFamily}`;
    ctx.textBaseline = 'middle';
    if (d.caption) drawCaption(ctx, d.caption, p.foreground, p.fontFamily);
    for (let l = 0; l < d.nLayers; l++) {
      const y = this.top() + (d.nLayers - 1 - l) * h;
      if (d.lit[l]) {
        ctx.fillStyle = css(p.foreground, 0.06);
        ctx.fillRect(MARGIN.left, y + 1, d.nHeads * w, h - 2);
      }
      ctx.fillStyle = css(p.foreground);
      ctx.textAlign = 'right';
      ctx.fillText(`L${l}`, MARGIN.left - 6, y + h / 2);
    }
    ctx.textAlign = 'center';
    for (let hd = 0; hd < d.nHeads; hd++) ctx.fillText(`H${hd}`, MARGIN.left + (hd + 0.5) * w, this.height - MARGIN.bottom / 2);
    for (const edge of d.edges) {
      const a = this.project(edge.from.layer, edge.from.head)!;
      const b = this.project(edge.to.layer, edge.to.head)!;
      ctx.strokeStyle = css(p.path, 0.35 + 0.6 * edge.weight);
      ctx.lineWidth = 1 + 3 * edge.weight;
      ctx.beginPath();
      ctx.moveTo(a.x, a.y);
      ctx.quadraticCurveTo((a.x + b.x) / 2 + w * 0.6, (a.y + b.y) / 2, b.x, b.y);
      ctx.stroke();
    }
    for (let l = 0; l < d.nLayers; l++) {
      for (let hd = 0; hd < d.nHeads; hd++) {
        const c = this.project(l, hd)!;
        ctx.fillStyle = css(d.colours[l * d.nHeads + hd] ?? p.neutral);
        ctx.beginPath();
        ctx.arc(c.x, c.y, radius, 0, Math.PI * 2);
        ctx.fill();
      }
    }
    const ring = (at: HeadCursor | null, width: number, dash: number[], colour: readonly [number, number, number]) => {
      if (!at || at.layer >= d.nLayers || at.head >= d.nHeads) return;
      const c = this.project(at.layer, at.head)!;
      ctx.setLineDash(dash);
      ctx.lineWidth = width;
      ctx.strokeStyle = css(colour);
      ctx.beginPath();
      ctx.arc(c.x, c.y, radius + 3, 0, Math.PI * 2);
      ctx.stroke();
      ctx.setLineDash([]);
    };
    ring(this.selected, 2.5, [], p.accent);
    ring(this.cursor, 1.5, [3, 2], p.foreground);
  }

  png(): Uint8Array {
    this.render();
    return canvasPng(this.canvas);
  }

  onViewChange(): void {
    // A flat grid never moves.
  }

  dispose(): void {
    this.data = null;
  }
}
