/**
 * The model grid's data-to-drawing logic: where each head sits (x = head, y = layer), its colour
 * (hue = sign and size of the direct contribution to the target, blue toward / orange away;
 * brightness = output norm, mean ‖z·W_O‖), which layers have arrived while streaming, and, when a
 * circuit was discovered for the prompt, its measured head → head edges as curved edges. Shared by
 * the WebGL scene and the 2D canvas fallback.
 */
import type { AnalysisResult, CircuitTrace, TracePathEdge } from '../../../../protocol/analysis.js';
import type { CircuitReport } from '../../../../protocol/circuit.js';
import { divergingColour, mix, symmetricExtent, type Palette, type Rgb } from '../../shared/colour.js';
import { circuitLinks } from '../../shared/circuit-links.js';

export type Vec3 = [number, number, number];

/** Spacing between neighbouring heads and layers, world units. */
export const GRID_SPACING = 1;

/** Centre of head (layer, head): heads along x, layers upward along y, the grid centred at the origin. */
export function headPosition(layer: number, head: number, nLayers: number, nHeads: number): Vec3 {
  return [(head - (nHeads - 1) / 2) * GRID_SPACING, (layer - (nLayers - 1) / 2) * GRID_SPACING, 0];
}

/** Mean over queries of the largest attention weight of one head, from a layer's [head, query, key] pattern. */
export function concentration(pattern: Float32Array, head: number, nTokens: number): number {
  if (nTokens === 0) return 0;
  const base = head * nTokens * nTokens;
  let sum = 0;
  for (let q = 0; q < nTokens; q++) {
    let max = 0;
    const row = base + q * nTokens;
    for (let k = 0; k <= q; k++) max = Math.max(max, pattern[row + k]!);
    sum += max;
  }
  return sum / nTokens;
}

/** What the grid says about its brightness encoding (legend and tooltips). */
export const OUTPUT_NORM_LABEL = 'output norm (mean ‖z·W_O‖)';

/** Brightness floor, so that a head with a tiny norm is still visible and hoverable. */
const MIN_BRIGHTNESS = 0.18;
/** How an unlit (not yet streamed) head looks: a faint trace of the neutral grey. */
const UNLIT = 0.1;

/**
 * Per-head colours, layer-major [layer, head]. With a result: hue from the trace's direct
 * contributions (diverging around a neutral grey), brightness from the output norm, mean ‖z·W_O‖
 * (relative to the largest). While streaming: the neutral grey, brightness from each head's
 * attention concentration in the layers that have arrived; other layers unlit.
 */
export function headColours(
  input: { result: AnalysisResult; trace: CircuitTrace } | { streamed: readonly (Float32Array | null)[]; nHeads: number; nTokens: number },
  palette: Palette,
): Rgb[] {
  const out: Rgb[] = [];
  if ('result' in input) {
    const { result, trace } = input;
    const maxDla = symmetricExtent(trace.heads);
    let maxNorm = 0;
    for (const h of result.heads) maxNorm = Math.max(maxNorm, h.outputNorm);
    const { nLayers, nHeads } = result.model;
    for (let i = 0; i < nLayers * nHeads; i++) {
      const summary = result.heads[i];
      const brightness = maxNorm > 0 && summary ? summary.outputNorm / maxNorm : 0;
      const hue = divergingColour(trace.heads[i]!, maxDla, palette, palette.neutral);
      out.push(mix(palette.background, hue, MIN_BRIGHTNESS + (1 - MIN_BRIGHTNESS) * brightness));
    }
    return out;
  }
  const { streamed, nHeads, nTokens } = input;
  for (let layer = 0; layer < streamed.length; layer++) {
    const pattern = streamed[layer];
    for (let head = 0; head < nHeads; head++) {
      if (!pattern) {
        out.push(mix(palette.background, palette.neutral, UNLIT));
        continue;
      }
      const c = concentration(pattern, head, nTokens);
      out.push(mix(palette.background, palette.neutral, MIN_BRIGHTNESS + (1 - MIN_BRIGHTNESS) * c));
    }
  }
  return out;
}

/** Which layers have data: all of them with a result, the streamed ones while streaming. */
export function litLayers(nLayers: number, streamed: readonly (Float32Array | null)[] | null): boolean[] {
  return Array.from({ length: nLayers }, (_, l) => streamed === null || streamed[l] != null);
}

/** The links the grid draws, with their caption: the circuit's measured head → head edges when it is of this analysis, else none. */
export function gridLinks(circuit: CircuitReport | null, result: AnalysisResult | null): { edges: TracePathEdge[]; caption: string | null } {
  const links = circuitLinks(circuit, result);
  return { edges: links.edges, caption: links.caption };
}

/**
 * A link between two heads as a polyline: a quadratic Bézier from one head to the other that bows
 * out of the grid's plane (toward the viewer, by `bulge` per layer crossed), so that edges between
 * heads of one column do not run through the heads between them.
 */
export function edgeCurve(edge: TracePathEdge, nLayers: number, nHeads: number, segments = 16, bulge = 0.35): Vec3[] {
  const a = headPosition(edge.from.layer, edge.from.head, nLayers, nHeads);
  const b = headPosition(edge.to.layer, edge.to.head, nLayers, nHeads);
  const span = Math.max(1, Math.abs(edge.to.layer - edge.from.layer));
  const control: Vec3 = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2, bulge * span];
  const points: Vec3[] = [];
  for (let i = 0; i <= segments; i++) {
    const t = i / segments;
    const u = 1 - t;
    points.push([
      u * u * a[0] + 2 * u * t * control[0] + t * t * b[0],
      u * u * a[1] + 2 * u * t * control[1] + t * t * b[1],
      u * u * a[2] + 2 * u * t * control[2] + t * t * b[2],
    ]);
  }
  return points;
}

/** Heads on the top path, as layer-major indices (outlined in the grid). */
export function topPathIndices(trace: CircuitTrace, nHeads: number): Set<number> {
  const out = new Set<number>();
  for (const layer of trace.topPath) for (const node of layer) out.add(node.layer * nHeads + node.head);
  return out;
}

/** Sphere radius of a head: a fixed size (size would compete with brightness as an encoding). */
export const HEAD_RADIUS = 0.3;
