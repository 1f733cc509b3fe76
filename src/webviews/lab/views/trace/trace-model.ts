/**
 * The circuit trace view's data: a layers × (heads + MLP) grid of direct contributions, the
 * embedding / positional embedding / bias strip, one shared diverging extent centred at zero,
 * the measured head → head edges of a circuit discovered for the prompt as segments between cell
 * centres, and a head's split by source token.
 */
import type { AnalysisResult, CircuitTrace, TracePathNode } from '../../../../protocol/analysis.js';
import type { CircuitReport } from '../../../../protocol/circuit.js';
import { symmetricExtent } from '../../shared/colour.js';
import { circuitLinks } from '../../shared/circuit-links.js';

export interface TraceGrid {
  rows: number;
  /** nHeads head columns, then the MLP column. */
  cols: number;
  /** [layer, nHeads + 1]: heads, then MLP. */
  values: Float32Array;
  /** The strip under the grid: embed, pos_embed, bias. */
  extras: { name: string; value: number }[];
  /** Largest |value| over everything drawn (the scale's end). */
  maxAbs: number;
}

export function traceGrid(trace: CircuitTrace, nLayers: number, nHeads: number): TraceGrid {
  const cols = nHeads + 1;
  const values = new Float32Array(nLayers * cols);
  for (let l = 0; l < nLayers; l++) {
    for (let h = 0; h < nHeads; h++) values[l * cols + h] = trace.heads[l * nHeads + h]!;
    values[l * cols + nHeads] = trace.mlp[l]!;
  }
  const extras = [
    { name: 'embed', value: trace.embed },
    // Rotary models have no position embedding: no 'pos' cell rather than a zero.
    ...(trace.posEmbed !== null ? [{ name: 'pos', value: trace.posEmbed }] : []),
    { name: 'bias', value: trace.bias },
  ];
  const maxAbs = symmetricExtent([...values, ...extras.map((e) => e.value)]);
  return { rows: nLayers, cols, values, extras, maxAbs };
}

export interface PathSegment {
  from: { row: number; col: number };
  to: { row: number; col: number };
  weight: number;
}

export interface CircuitOverlay {
  /** The measured edges as grid segments (row = layer, col = head). */
  segments: PathSegment[];
  /** The heads with an edge, marked with a dot. */
  nodes: TracePathNode[];
  /** Drawn under the grid (and in its exports) with the overlay; null when there is none. */
  caption: string | null;
}

/** What the trace draws over its grid: the measured head → head edges of a circuit of this analysis, else nothing. */
export function circuitOverlay(circuit: CircuitReport | null, result: AnalysisResult | null): CircuitOverlay {
  const links = circuitLinks(circuit, result);
  return {
    segments: links.edges.map((e) => ({ from: { row: e.from.layer, col: e.from.head }, to: { row: e.to.layer, col: e.to.head }, weight: e.weight })),
    nodes: links.nodes,
    caption: links.caption,
  };
}

/** One head's contribution split by source (key) position: a view of headBySource [layer, head, key]. */
export function sourceSplit(trace: CircuitTrace, nHeads: number, nTokens: number, layer: number, head: number): Float32Array {
  const start = (layer * nHeads + head) * nTokens;
  return trace.headBySource.subarray(start, start + nTokens);
}

/**
 * What the metric measures, in words: `logit " Mary"` or `logit " Mary" − " John"`; for a model
 * with a final logit soft-cap (Gemma 2), `pre-softcap logit " Mary"`, which is what is attributed.
 */
export function metricDescription(trace: CircuitTrace): string {
  const logit = trace.logitSoftcap === undefined || trace.logitSoftcap === null ? 'logit' : 'pre-softcap logit';
  if (trace.metric === 'logit_diff' && trace.contrast !== null) return `${logit} ${JSON.stringify(trace.target)} − ${JSON.stringify(trace.contrast)}`;
  return `${logit} ${JSON.stringify(trace.target)}`;
}
