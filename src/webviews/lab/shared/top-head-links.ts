/**
 * The circuit trace's top heads by |DLA| (CircuitTrace.topPath) and the links between them
 * (CircuitTrace.edges: every top head of layer L joined to every top head of layer L+1, weighted
 * |a|·|b|). The links are not measured interactions between heads, so the Lab draws them only when
 * the user asks, and always under TOP_HEAD_LINKS_LABEL (3D grid, 2D grid, trace, their exports).
 */
import type { CircuitTrace, TracePathEdge, TracePathNode } from '../../../protocol/analysis.js';

export const TOP_HEAD_LINKS_LABEL = 'top heads by |DLA| (not measured edges)';

export interface TopHeadLinks {
  /** The top heads of every layer, flattened. */
  nodes: TracePathNode[];
  edges: TracePathEdge[];
  /** What the drawing must say about itself; null when nothing is drawn. */
  caption: string | null;
}

export const NO_TOP_HEAD_LINKS: TopHeadLinks = { nodes: [], edges: [], caption: null };

/** What to draw of the top heads: nothing unless `shown` (the user's toggle), else the heads, their links and the label. */
export function topHeadLinks(trace: CircuitTrace | null, shown: boolean): TopHeadLinks {
  if (!trace || !shown) return NO_TOP_HEAD_LINKS;
  return { nodes: trace.topPath.flat(), edges: trace.edges, caption: TOP_HEAD_LINKS_LABEL };
}
