/**
 * A cell heatmap drawn on canvas (one putImageData for all cells, so 64×64 and larger stay
 * smooth), with row and column labels, highlighted row/column/cell, an overlay hook (paths),
 * a tooltip, click to select, and keyboard navigation (arrow keys move a cursor, Enter selects).
 * The same layout generates the SVG export.
 */
import type { ComponentChildren, RefObject } from 'preact';
import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { drawCells, css, canvasPng, prepareCanvas } from '../shared/canvas.js';
import type { Palette, Rgb } from '../shared/colour.js';
import { cellAt, cellCentre, cellRect, labelShown, layoutHeatmap, type HeatmapLayout } from '../shared/heatmap-layout.js';
import { heatmapSvgBody, MUTED_LABEL_OPACITY, svgDocument } from '../shared/svg.js';
import { useSize } from '../shared/use-size.js';
import { Tooltip, type TooltipAnchor } from './tooltip.js';

export interface Cell {
  row: number;
  col: number;
}

export interface HeatmapMargins {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export interface CanvasHeatmapProps {
  rows: number;
  cols: number;
  colourAt: (row: number, col: number) => Rgb | null;
  rowLabels: readonly string[];
  colLabels: readonly string[];
  square: boolean;
  margins: HeatmapMargins;
  palette: Palette;
  /** Changes whenever the cell colours change (the canvas redraws on it, not on every render). */
  drawKey: unknown;
  highlightRow?: number | undefined;
  highlightCol?: number | undefined;
  highlightCell?: Cell | undefined;
  /** Row and column labels drawn muted (e.g. a prepended BOS on a token axis). */
  mutedLabels?: ReadonlySet<number> | undefined;
  /** Extra drawing over the cells (canvas), and the same as SVG for the export. */
  overlay?: (ctx: CanvasRenderingContext2D, layout: HeatmapLayout) => void;
  svgOverlay?: (layout: HeatmapLayout) => string;
  tooltip: (cell: Cell) => ComponentChildren;
  /** One line read by screen readers for the keyboard cursor's cell. */
  describe: (cell: Cell) => string;
  onSelect: (cell: Cell) => void;
  ariaLabel: string;
  /** Called after each draw with data. */
  onDrawn?: () => void;
  /** Label font: monospace for tokens. */
  mono?: boolean;
  /** Receives the export functions. */
  handle?: RefObject<CanvasHeatmapHandle | null>;
}

export interface CanvasHeatmapHandle {
  png(): Uint8Array;
  svg(): string;
}

const LABEL_FONT_PX = 10;

export function CanvasHeatmap(props: CanvasHeatmapProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [size, boxRef] = useSize<HTMLDivElement>();
  const [hover, setHover] = useState<{ cell: Cell; anchor: TooltipAnchor } | null>(null);
  const [cursor, setCursor] = useState<Cell | null>(null);
  const layout = useMemo(
    () =>
      layoutHeatmap({
        rows: props.rows,
        cols: props.cols,
        width: size.width,
        height: size.height,
        ...props.margins,
        square: props.square,
        minLabelSpacing: LABEL_FONT_PX + 2,
      }),
    [props.rows, props.cols, size.width, size.height, props.margins.left, props.margins.top, props.margins.right, props.margins.bottom, props.square],
  );
  const font = `${LABEL_FONT_PX}px ${props.mono ? props.palette.monoFontFamily : props.palette.fontFamily}`;

  useLayoutEffect(() => {
    const el = canvas.current;
    if (!el || size.width === 0 || size.height === 0) return;
    const ctx = prepareCanvas(el, size.width, size.height);
    const p = props.palette;
    ctx.clearRect(0, 0, size.width, size.height);
    drawCells(ctx, layout, props.colourAt);
    ctx.font = font;
    ctx.fillStyle = css(p.foreground);
    ctx.textBaseline = 'middle';
    // Row labels, right-aligned left of the cells.
    ctx.textAlign = 'right';
    for (let r = 0; r < layout.rows; r++) {
      if (!labelShown(r, layout.rowLabelStride, props.highlightRow)) continue;
      ctx.fillStyle = r === props.highlightRow ? css(p.accent) : css(p.foreground, props.mutedLabels?.has(r) ? MUTED_LABEL_OPACITY : 1);
      ctx.fillText(props.rowLabels[r] ?? '', layout.x0 - 4, layout.y0 + (r + 0.5) * layout.cellHeight, layout.x0 - 6);
    }
    // Column labels, rotated above the cells.
    ctx.textAlign = 'left';
    for (let c = 0; c < layout.cols; c++) {
      if (!labelShown(c, layout.colLabelStride, props.highlightCol)) continue;
      const x = layout.x0 + (c + 0.5) * layout.cellWidth;
      ctx.save();
      ctx.translate(x, layout.y0 - 4);
      ctx.rotate(-Math.PI / 3);
      ctx.fillStyle = c === props.highlightCol ? css(p.accent) : css(p.foreground, props.mutedLabels?.has(c) ? MUTED_LABEL_OPACITY : 1);
      ctx.fillText(props.colLabels[c] ?? '', 0, 0, props.margins.top * 1.1);
      ctx.restore();
    }
    props.overlay?.(ctx, layout);
    ctx.lineWidth = 2;
    ctx.strokeStyle = css(p.accent);
    if (props.highlightRow !== undefined && props.highlightRow < layout.rows) {
      ctx.strokeRect(layout.x0, layout.y0 + props.highlightRow * layout.cellHeight, layout.cols * layout.cellWidth, layout.cellHeight);
    }
    if (props.highlightCol !== undefined && props.highlightCol < layout.cols) {
      ctx.strokeRect(layout.x0 + props.highlightCol * layout.cellWidth, layout.y0, layout.cellWidth, layout.rows * layout.cellHeight);
    }
    if (props.highlightCell && props.highlightCell.row < layout.rows && props.highlightCell.col < layout.cols) {
      // A background-coloured halo under the accent, so the outline reads on a cell of the accent's own hue.
      const r = cellRect(layout, props.highlightCell.row, props.highlightCell.col);
      ctx.lineWidth = 4.5;
      ctx.strokeStyle = css(p.background);
      ctx.strokeRect(r.x - 1, r.y - 1, r.width + 2, r.height + 2);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = css(p.accent);
      ctx.strokeRect(r.x - 1, r.y - 1, r.width + 2, r.height + 2);
    }
    if (cursor) {
      const r = cellRect(layout, cursor.row, cursor.col);
      ctx.setLineDash([3, 2]);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = css(p.foreground);
      ctx.strokeRect(r.x - 1, r.y - 1, r.width + 2, r.height + 2);
      ctx.setLineDash([]);
    }
    if (layout.rows > 0 && layout.cols > 0) props.onDrawn?.();
  }, [
    layout,
    props.drawKey,
    props.mutedLabels,
    props.palette,
    props.highlightRow,
    props.highlightCol,
    props.highlightCell?.row,
    props.highlightCell?.col,
    cursor,
    font,
  ]);

  if (props.handle)
    props.handle.current = {
      png: () => {
        if (!canvas.current) throw new Error('nothing drawn');
        return canvasPng(canvas.current);
      },
      svg: () =>
        svgDocument(
          size.width,
          size.height,
          props.palette.background,
          heatmapSvgBody({
            layout,
            colourAt: props.colourAt,
            rowLabels: props.rowLabels,
            colLabels: props.colLabels,
            foreground: props.palette.foreground,
            ...(props.mutedLabels ? { mutedLabels: props.mutedLabels } : {}),
            ...(props.svgOverlay ? { overlay: props.svgOverlay(layout) } : {}),
          }),
          props.mono ? props.palette.monoFontFamily : props.palette.fontFamily,
        ),
    };

  const pointerCell = (event: MouseEvent): { cell: Cell; anchor: TooltipAnchor } | null => {
    const rect = (event.currentTarget as HTMLElement).getBoundingClientRect();
    const x = event.clientX - rect.left;
    const y = event.clientY - rect.top;
    const cell = cellAt(layout, x, y);
    return cell ? { cell, anchor: { x, y } } : null;
  };

  const onKeyDown = (event: KeyboardEvent) => {
    const moves: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const move = moves[event.key];
    const start = cursor ?? props.highlightCell ?? { row: props.highlightRow ?? 0, col: props.highlightCol ?? 0 };
    if (move) {
      event.preventDefault();
      const next = { row: Math.max(0, Math.min(props.rows - 1, start.row + move[0])), col: Math.max(0, Math.min(props.cols - 1, start.col + move[1])) };
      setCursor(next);
      const c = cellCentre(layout, next.row, next.col);
      setHover({ cell: next, anchor: { x: c.x, y: c.y } });
    } else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      props.onSelect(start);
    } else if (event.key === 'Escape') {
      setCursor(null);
      setHover(null);
    }
  };

  return (
    <div class="heatmap-box" ref={boxRef}>
      <canvas
        ref={canvas}
        class="heatmap-canvas"
        tabIndex={0}
        role="img"
        aria-label={props.ariaLabel}
        onMouseMove={(e) => setHover(pointerCell(e))}
        onMouseLeave={() => setHover(null)}
        onClick={(e) => {
          const hit = pointerCell(e);
          if (hit) props.onSelect(hit.cell);
        }}
        onKeyDown={onKeyDown}
        onBlur={() => {
          setCursor(null);
          setHover(null);
        }}
      />
      <div class="sr-only" aria-live="polite">
        {cursor ? props.describe(cursor) : ''}
      </div>
      <Tooltip anchor={hover?.anchor ?? null} containerWidth={size.width}>
        {hover ? props.tooltip(hover.cell) : null}
      </Tooltip>
    </div>
  );
}
