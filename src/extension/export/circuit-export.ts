/**
 * A discovered circuit as a self-contained JSON document: the model, both prompts (text, token ids
 * and token texts), the target and metric, how the edges were scored and the circuit chosen, its
 * nodes and scored edges, its exact faithfulness, the faithfulness curve with each point's
 * circuit, and every edge's score. Free of `vscode` imports so that it is unit tested in plain Node.
 */
import type { CircuitReport, FaithfulnessCurvePoint, ScoredEdge } from '../../protocol/circuit.js';
import type { MetricValue, TokenInfo } from '../../protocol/analysis.js';

export const CIRCUIT_EXPORT_FORMAT = 'circuit-trace/circuit';
export const CIRCUIT_EXPORT_VERSION = 1;

export interface CircuitExportPrompt {
  /** As given; null when the prompt was given as token ids. */
  text: string | null;
  ids: number[];
  tokens: string[];
}

export interface CircuitExport {
  format: typeof CIRCUIT_EXPORT_FORMAT;
  version: typeof CIRCUIT_EXPORT_VERSION;
  model: { id: string; displayName: string; nLayers: number; nHeads: number; nKvHeads: number; parallelResidual: boolean };
  prompts: { clean: CircuitExportPrompt; corrupt: CircuitExportPrompt; prependBos: boolean };
  target: { id: number; text: string };
  contrast: { id: number; text: string } | null;
  metric: { clean: MetricValue; corrupt: MetricValue; circuit: MetricValue };
  method: CircuitReport['method'];
  steps?: number;
  size: CircuitReport['size'];
  faithfulness: number | null;
  nodes: string[];
  /** The circuit's edges, by |score| descending. */
  edges: ScoredEdge[];
  /** Each curve point with its circuit's edges (as `from → to` names). */
  curve: (FaithfulnessCurvePoint & { circuit: string[] })[];
  /** Every edge of the model with its score. */
  allEdges: ScoredEdge[];
  elapsedMs: number;
}

function prompt(text: string | null, ids: number[], tokens: readonly TokenInfo[]): CircuitExportPrompt {
  return { text, ids: [...ids], tokens: tokens.map((t) => t.text) };
}

export function circuitExport(report: CircuitReport): CircuitExport {
  return {
    format: CIRCUIT_EXPORT_FORMAT,
    version: CIRCUIT_EXPORT_VERSION,
    model: { ...report.model, ...report.graph },
    prompts: {
      clean: prompt(report.cleanText, report.cleanIds, report.cleanTokens),
      corrupt: prompt(report.corruptText, report.corruptIds, report.corruptTokens),
      prependBos: report.prependBos,
    },
    target: { id: report.targetId, text: report.target },
    contrast: report.contrastId === null ? null : { id: report.contrastId, text: report.contrast ?? '' },
    metric: report.metric,
    method: report.method,
    ...(report.steps !== undefined ? { steps: report.steps } : {}),
    size: report.size,
    faithfulness: report.faithfulness,
    nodes: report.nodes,
    edges: report.edges,
    curve: (report.curve ?? []).map((point, i) => ({
      ...point,
      circuit: (report.curveCircuits[i] ?? []).map((j) => `${report.allEdges[j]!.from} → ${report.allEdges[j]!.to}`),
    })),
    allEdges: report.allEdges,
    elapsedMs: report.elapsedMs,
  };
}
