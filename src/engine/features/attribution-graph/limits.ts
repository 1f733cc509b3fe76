/**
 * Limits of an attribution graph, checked before any work. The edge matrix holds a row per visited
 * feature and logit and a column per active feature, error and token node, and active features and
 * error nodes grow with the prompt: 64 tokens keep a GPT-2-small graph with per-layer transcoders
 * of realistic sparsity (L0 near 100) within a few gigabytes.
 */
import { EngineError } from '../../errors.js';

export const MAX_GRAPH_TOKENS = 64;
/** The largest edge matrix built while visiting features, in bytes. */
export const MAX_EDGE_MATRIX_BYTES = 3 * 2 ** 30;

export function checkGraphPrompt(ids: readonly number[]): void {
  if (ids.length === 0) throw new EngineError('EMPTY_PROMPT', 'An attribution graph needs a prompt of at least one token.');
  if (ids.length > MAX_GRAPH_TOKENS)
    throw new EngineError(
      'PROMPT_TOO_LONG',
      `The prompt has ${ids.length} tokens; attribution graphs take at most ${MAX_GRAPH_TOKENS}.`,
      'Shorten the prompt: the graph attributes the last position’s prediction.',
    );
}

export function checkEdgeMatrixSize(rows: number, columns: number): void {
  const bytes = rows * columns * 4;
  if (bytes > MAX_EDGE_MATRIX_BYTES)
    throw new EngineError(
      'BAD_ARGUMENT',
      `The attribution graph's edge matrix would take ${(bytes / 2 ** 30).toFixed(1)} GB (${rows} rows × ${columns} sources).`,
      'Lower --max-feature-nodes or shorten the prompt.',
    );
}

/** The graph's settings, checked before any work: BAD_ARGUMENT naming the first that is out of range. */
export function checkGraphOptions(options: {
  nodeThreshold?: number;
  edgeThreshold?: number;
  maxFeatureNodes?: number;
  maxLogits?: number;
  logitProbability?: number;
  batchSize?: number;
}): void {
  const fraction = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v <= 1))
      throw new EngineError('BAD_ARGUMENT', `The ${name} must be a number from 0 to 1 (got ${v}).`);
  };
  const count = (name: string, v: number | undefined, min: number): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min))
      throw new EngineError('BAD_ARGUMENT', `The ${name} must be an integer of at least ${min} (got ${v}).`);
  };
  fraction('node threshold', options.nodeThreshold);
  fraction('edge threshold', options.edgeThreshold);
  fraction('logit probability', options.logitProbability);
  count('number of features visited', options.maxFeatureNodes, 0);
  count('number of logits', options.maxLogits, 1);
  count('batch size', options.batchSize, 1);
}
