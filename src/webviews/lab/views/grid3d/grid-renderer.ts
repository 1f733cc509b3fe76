/** What the model grid needs from a renderer; implemented with WebGL (three) and with a 2D canvas fallback. */
import type { TracePathEdge } from '../../../../protocol/analysis.js';
import type { Palette, Rgb } from '../../shared/colour.js';
import type { HeadCursor } from '../../state/selection.js';

export interface GridData {
  nLayers: number;
  nHeads: number;
  /** Layer-major [layer, head]. */
  colours: Rgb[];
  lit: boolean[];
  /** The measured head → head edges of a circuit of this prompt (circuit-links.ts); empty without one. */
  edges: TracePathEdge[];
  /** Said on the drawing and its PNG whenever edges are drawn (see circuit-links.ts); null otherwise. */
  caption: string | null;
}

export interface ScreenPoint {
  x: number;
  y: number;
}

export interface GridRenderer {
  readonly kind: 'webgl' | 'canvas2d';
  readonly canvas: HTMLCanvasElement;
  setSize(width: number, height: number): void;
  setData(data: GridData, palette: Palette): void;
  /** The selected head (accent ring) and the keyboard cursor (thin ring). */
  setMarks(selected: HeadCursor | null, cursor: HeadCursor | null, palette: Palette): void;
  /** The head under a point of the canvas (CSS pixels), if any. */
  pick(x: number, y: number): HeadCursor | null;
  /** Where a head appears on the canvas; null when behind the camera. */
  project(layer: number, head: number): ScreenPoint | null;
  /** Puts the camera back to its starting view. */
  resetView(): void;
  render(): void;
  png(): Uint8Array;
  /** Called after every camera move (to move the HTML labels along). */
  onViewChange(listener: () => void): void;
  dispose(): void;
}
