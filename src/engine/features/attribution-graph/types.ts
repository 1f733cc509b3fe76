/**
 * An attribution graph as the engine returns it (the protocol's result types), and the settings of
 * one graph (circuit-tracer's attribute and prune_graph defaults when absent).
 */
export type { AttributionGraphResult, GraphLink, GraphNode, GraphNodeKind } from '../../../protocol/attribution-graph-run.js';

export interface AttributionGraphOptions {
  nodeThreshold?: number;
  edgeThreshold?: number;
  maxFeatureNodes?: number;
  maxLogits?: number;
  logitProbability?: number;
  batchSize?: number;
  zeroBos?: boolean;
}
