/**
 * The attribution graph as the file the Lab's JSON export writes: circuit-tracer's graph JSON from
 * the engine's exporter (graph-json.ts, a pure module), with the user's pins and supernodes as its
 * qParams, named after the prompt. Free of `vscode` imports so that it is unit tested in plain Node.
 */
import { toCircuitTracerJson, type CircuitTracerGraph } from '../../engine/features/attribution-graph/graph-json.js';
import type { AttributionGraphResult } from '../../protocol/attribution-graph-run.js';
import type { GraphPins, GraphSource } from './lab-features.js';

/** A file-name-safe slug of the prompt (circuit-tracer's graph slug): lower case, dashes, at most 48 characters. */
export function graphSlug(prompt: string): string {
  const slug = prompt
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return slug || 'graph';
}

export function graphJsonDocument(graph: AttributionGraphResult, source: GraphSource, pins: GraphPins): CircuitTracerGraph {
  const json = toCircuitTracerJson(graph, { slug: graphSlug(source.prompt), scan: source.dictionaryName, prompt: source.prompt, nLayers: graph.nLayers });
  return { ...json, qParams: { ...json.qParams, pinnedIds: [...pins.pinnedIds], supernodes: pins.supernodes.map((s) => [...s]) } };
}
