/**
 * Geometry of a cell heatmap (rows × cols) inside a fixed box: label margins, square or stretched
 * cells, which labels fit without overlapping, and the inverse mapping from a pointer to a cell.
 * Pure, so that canvas drawing, SVG export and hit testing agree on every pixel.
 */

export interface HeatmapBox {
  rows: number;
  cols: number;
  /** Whole drawing area, CSS pixels. */
  width: number;
  height: number;
  /** Margins reserved for labels. */
  left: number;
  top: number;
  right: number;
  bottom: number;
  /** Square cells (attention patterns) or cells stretched to fill the box (layers × heads). */
  square: boolean;
  /** Smallest distance between two drawn labels, CSS pixels (about one line of text). */
  minLabelSpacing: number;
}

export interface HeatmapLayout {
  rows: number;
  cols: number;
  /** Top-left corner of the cell area. */
  x0: number;
  y0: number;
  cellWidth: number;
  cellHeight: number;
  /** Draw every n-th row / column label (1 = all). */
  rowLabelStride: number;
  colLabelStride: number;
}

/** Every `stride`-th label fits when cells are `cellPx` apart and labels need `minSpacing`. */
export function labelStride(cellPx: number, minSpacing: number): number {
  if (cellPx <= 0) return Number.MAX_SAFE_INTEGER;
  return Math.max(1, Math.ceil(minSpacing / cellPx));
}

export function layoutHeatmap(box: HeatmapBox): HeatmapLayout {
  const availW = Math.max(0, box.width - box.left - box.right);
  const availH = Math.max(0, box.height - box.top - box.bottom);
  let cellWidth = box.cols > 0 ? availW / box.cols : 0;
  let cellHeight = box.rows > 0 ? availH / box.rows : 0;
  if (box.square) {
    const side = Math.min(cellWidth, cellHeight);
    cellWidth = side;
    cellHeight = side;
  }
  return {
    rows: box.rows,
    cols: box.cols,
    x0: box.left,
    y0: box.top,
    cellWidth,
    cellHeight,
    rowLabelStride: labelStride(cellHeight, box.minLabelSpacing),
    colLabelStride: labelStride(cellWidth, box.minLabelSpacing),
  };
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export function cellRect(layout: HeatmapLayout, row: number, col: number): Rect {
  return { x: layout.x0 + col * layout.cellWidth, y: layout.y0 + row * layout.cellHeight, width: layout.cellWidth, height: layout.cellHeight };
}

/** Centre of a cell (for path overlays). */
export function cellCentre(layout: HeatmapLayout, row: number, col: number): { x: number; y: number } {
  return { x: layout.x0 + (col + 0.5) * layout.cellWidth, y: layout.y0 + (row + 0.5) * layout.cellHeight };
}

/** The cell under a point, or null outside the cell area. */
export function cellAt(layout: HeatmapLayout, x: number, y: number): { row: number; col: number } | null {
  if (layout.cellWidth <= 0 || layout.cellHeight <= 0) return null;
  const col = Math.floor((x - layout.x0) / layout.cellWidth);
  const row = Math.floor((y - layout.y0) / layout.cellHeight);
  if (row < 0 || col < 0 || row >= layout.rows || col >= layout.cols) return null;
  return { row, col };
}

/** Whether the label of row/column `i` is drawn; the highlighted one always is. */
export function labelShown(i: number, stride: number, highlighted?: number): boolean {
  return i === highlighted || i % stride === 0;
}

/**
 * RGBA pixels, one per cell, row-major (drawn at 1 px per cell and scaled up without smoothing:
 * one putImageData instead of rows × cols fillRect calls). `colourAt` returns null for an empty
 * cell (transparent).
 */
export function cellPixels(rows: number, cols: number, colourAt: (row: number, col: number) => readonly [number, number, number] | null): Uint8ClampedArray {
  const out = new Uint8ClampedArray(rows * cols * 4);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const colour = colourAt(r, c);
      if (!colour) continue;
      const o = (r * cols + c) * 4;
      out[o] = colour[0];
      out[o + 1] = colour[1];
      out[o + 2] = colour[2];
      out[o + 3] = 255;
    }
  }
  return out;
}
