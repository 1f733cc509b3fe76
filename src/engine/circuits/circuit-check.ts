/**
 * A circuit hypothesis as a test (`@circuit L9H6 L9H9 L10H0 ≥ 80%` in a `.prompt` file): the circuit
 * of the named nodes is measured exactly by edge-level patching and compared with its threshold.
 *
 * The circuit of nodes N (heads, and optionally MLPs) is every edge u → v of the edge graph with
 *   u the embedding, a head in N, or an MLP in N (every MLP when N names none), and
 *   v the q, k or v input of a head in N, the input of an MLP in N (every MLP when N names none),
 *   or the logits;
 * with grouped-query attention a key/value input belongs to the named heads of its group. Every
 * other edge carries its corrupted value, and faithfulness = (m_circuit − m_corrupt) / (m_clean −
 * m_corrupt) with the prompt's metric (Hanna et al. 2024).
 */
import type { CircuitCheckRequest, CircuitCheckResult } from '../../protocol/circuit-check.js';
import type { TokenRef } from '../../protocol/engine.js';
import { bosToPrepend, resolvePrompt } from '../analysis/prompt-input.js';
import { defaultMetric, resolveNamedMetric } from '../analysis/target-metric.js';
import { EngineError, throwIfCancelled } from '../errors.js';
import { resolvePatchInputs } from '../patching/patch-inputs.js';
import { recovery } from '../patching/patch-metric.js';
import { circuitNodeName, parseCircuitNode, type CircuitNode } from '../prompt-file/circuit-directive.js';
import type { ForwardRunner } from '../runtime/types.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import type { EdgeGraph } from './edge-graph.js';
import type { EdgePatcher } from './edge-patcher.js';

/** The named nodes, checked against the graph's model; a typed error names the first that does not exist. */
export function resolveCircuitNodes(graph: EdgeGraph, names: readonly string[]): CircuitNode[] {
  const { nLayers, nHeads } = graph.shape;
  const shape = `it has layers 0..${nLayers - 1} with heads 0..${nHeads - 1} each`;
  if (names.length === 0) throw new EngineError('BAD_ARGUMENT', 'A circuit hypothesis needs at least one node.', 'Name heads (L9H6) and MLPs (mlp3).');
  return names.map((name) => {
    const node = parseCircuitNode(name);
    if (!node) throw new EngineError('BAD_ARGUMENT', `"${name}" is not a circuit node.`, 'Name heads as L<layer>H<head> (e.g. L9H6) and MLPs as mlp<layer>.');
    if (node.layer >= nLayers || (node.kind === 'head' && node.head >= nHeads)) {
      throw new EngineError(
        'BAD_ARGUMENT',
        `The circuit names ${circuitNodeName(node)}, which this model does not have: ${shape}.`,
        'Fix the node names of @circuit.',
      );
    }
    return node;
  });
}

/** The circuit's membership over graph.edges (see the file comment). */
export function hypothesisCircuit(graph: EdgeGraph, nodes: readonly CircuitNode[]): Uint8Array {
  const { nHeads } = graph.shape;
  const perKv = nHeads / (graph.shape.nKvHeads ?? nHeads);
  const heads = new Set(nodes.filter((n) => n.kind === 'head').map((n) => `${n.layer}:${n.head}`));
  const kvHeads = new Set(nodes.filter((n) => n.kind === 'head').map((n) => `${n.layer}:${Math.floor(n.head / perKv)}`));
  const namedMlps = nodes.filter((n) => n.kind === 'mlp').map((n) => n.layer);
  const mlpIn = (layer: number): boolean => namedMlps.length === 0 || namedMlps.includes(layer);
  const writes = graph.upstream.map((u) => u.kind === 'embed' || (u.kind === 'head' ? heads.has(`${u.layer}:${u.head}`) : mlpIn(u.layer)));
  const reads = graph.downstream.map((v) => {
    if (v.kind === 'logits') return true;
    if (v.kind === 'mlp') return mlpIn(v.layer);
    // With grouped-query attention a k or v reader is a key/value head, shared by its group's query heads.
    return (v.input === 'q' || !graph.groupedQueryAttention ? heads : kvHeads).has(`${v.layer}:${v.head}`);
  });
  return Uint8Array.from(graph.edges, (e) => (writes[e.from] && reads[e.to] ? 1 : 0));
}

export interface CircuitCheckOptions {
  /** The user's token limit (default: the model's context). */
  maxTokens?: number;
  signal?: AbortSignal;
}

/** Measures the hypothesis of `request` on the model `runner` and `patcher` run. */
export async function checkCircuit(
  runner: ForwardRunner,
  tokenizer: PromptTokenizer,
  patcher: EdgePatcher,
  request: CircuitCheckRequest,
  options: CircuitCheckOptions = {},
): Promise<CircuitCheckResult> {
  const started = performance.now();
  const { config } = runner;
  if (!(request.threshold >= 0 && request.threshold <= 1)) {
    throw new EngineError('BAD_ARGUMENT', `A circuit's threshold must be between 0% and 100% (got ${request.threshold * 100}%).`);
  }
  const nodes = resolveCircuitNodes(patcher.graph, request.nodes);
  const limits = {
    maxTokens: options.maxTokens ?? config.nCtx,
    nCtx: config.nCtx,
    dVocab: config.dVocab,
    prependBosId: bosToPrepend(config, request.prependBos),
  };
  const target = request.target ?? (await topPrediction(runner, tokenizer, request.clean, limits));
  throwIfCancelled(options.signal);
  const inputs = resolvePatchInputs(
    tokenizer,
    { clean: request.clean, corrupt: request.corrupt, target, ...(request.contrast ? { contrast: request.contrast } : {}) },
    limits,
  );
  const metric = request.metric ? resolveNamedMetric(tokenizer, config.dVocab, request.metric) : defaultMetric(inputs.targetId, inputs.contrastId);
  const circuit = hypothesisCircuit(patcher.graph, nodes);
  const result = await patcher.run({
    clean: inputs.clean.ids,
    corrupt: inputs.corrupt.ids,
    metric,
    circuits: [circuit],
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const value = result.values[0]!;
  const faithfulness = recovery(value, result.clean, result.corrupt);
  return {
    nodes: nodes.map(circuitNodeName),
    threshold: request.threshold,
    faithfulness,
    passed: faithfulness >= request.threshold,
    edges: circuit.reduce((n, x) => n + x, 0),
    totalEdges: circuit.length,
    clean: result.clean,
    corrupt: result.corrupt,
    circuit: value,
    metric: metric.name,
    targetId: inputs.targetId,
    contrastId: inputs.contrastId,
    prependBos: inputs.clean.prependBos,
    elapsedMs: performance.now() - started,
  };
}

/** The clean prompt's most likely next token, the default target (as the patch CodeLens takes it). */
async function topPrediction(runner: ForwardRunner, tokenizer: PromptTokenizer, clean: string, limits: Parameters<typeof resolvePrompt>[2]): Promise<TokenRef> {
  const { ids } = resolvePrompt(tokenizer, { prompt: clean }, limits);
  const logits = (await runner.forward(ids, { hooks: ['logits'], logitPositions: [ids.length - 1] })).cache.get('logits')!.data;
  let best = 0;
  for (let t = 1; t < logits.length; t++) if (logits[t]! > logits[best]!) best = t;
  return { id: best };
}
