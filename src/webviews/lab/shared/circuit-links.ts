/**
 * The measured head → head edges that the model grid and the circuit trace draw: those of the
 * discovered circuit (CircuitReport.edges, scored by EAP / EAP-IG) when it was found for the
 * analysis shown (same model, same token ids); nothing otherwise. An edge into a key/value head
 * under grouped-query attention goes to each query head of its group.
 */
import type { AnalysisResult, TracePathEdge, TracePathNode } from '../../../protocol/analysis.js';
import type { CircuitReport } from '../../../protocol/circuit.js';

export interface CircuitLinks {
  /** The heads with a drawn edge, `value` the largest |score| of their edges. */
  nodes: TracePathNode[];
  /** weight = |score| / the largest |score| drawn. */
  edges: (TracePathEdge & { score: number })[];
  /** What the drawing says about itself; null when nothing is drawn. */
  caption: string | null;
}

export const NO_CIRCUIT_LINKS: CircuitLinks = { nodes: [], edges: [], caption: null };

/** Whether `report` was measured on the analysis's prompt and model. */
export function circuitOfAnalysis(report: CircuitReport | null, result: AnalysisResult | null): boolean {
  if (!report || !result) return false;
  if (report.model.id !== result.model.id || report.cleanIds.length !== result.tokens.length) return false;
  return report.cleanIds.every((id, i) => result.tokens[i]!.id === id);
}

const HEAD = /^L(\d+)H(\d+)$/;
const READER = /^L(\d+)(H|KV)(\d+)\.[qkv]$/;

export function circuitLinks(report: CircuitReport | null, result: AnalysisResult | null): CircuitLinks {
  if (!report || !circuitOfAnalysis(report, result)) return NO_CIRCUIT_LINKS;
  const group = report.graph.nHeads / report.graph.nKvHeads;
  const raw: { from: { layer: number; head: number }; to: { layer: number; head: number }; score: number }[] = [];
  for (const e of report.edges) {
    const from = HEAD.exec(e.from);
    const to = READER.exec(e.to);
    if (!from || !to || !Number.isFinite(e.score)) continue;
    const heads = to[2] === 'KV' ? Array.from({ length: group }, (_, i) => Number(to[3]) * group + i) : [Number(to[3])];
    for (const head of heads) raw.push({ from: { layer: Number(from[1]), head: Number(from[2]) }, to: { layer: Number(to[1]), head }, score: e.score });
  }
  if (raw.length === 0) return NO_CIRCUIT_LINKS;
  const maxAbs = Math.max(...raw.map((e) => Math.abs(e.score)));
  const nodes = new Map<string, TracePathNode>();
  const touch = (n: { layer: number; head: number }, score: number): void => {
    const key = `${n.layer}:${n.head}`;
    const old = nodes.get(key);
    if (!old || old.value < Math.abs(score)) nodes.set(key, { layer: n.layer, head: n.head, value: Math.abs(score) });
  };
  for (const e of raw) {
    touch(e.from, e.score);
    touch(e.to, e.score);
  }
  const method = report.method === 'eap-ig' ? 'EAP-IG' : 'EAP';
  return {
    nodes: [...nodes.values()],
    edges: raw.map((e) => ({ ...e, weight: maxAbs > 0 ? Math.abs(e.score) / maxAbs : 1 })),
    caption: `measured head → head edges of the circuit (${method}, ${report.edges.length} edges)`,
  };
}
