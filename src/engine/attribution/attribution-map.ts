/**
 * The Lab's attribution maps from runAttribution (run-attribution.ts): one call per kind, each
 * scored on the same clean and corrupted ids, laid out as grids.
 *  - AtP / AtP*: heads ([layer, head], hook_z summed over positions), then resid_pre, attn_out and
 *    mlp_out ([layer, position]): four passes.
 *  - EAP-IG: one pass over every edge; a head's node score is the sum of its outgoing edges
 *    (Σ_v EAP(u → v) = AtP(u) for EAP; with EAP-IG, the integrated-gradients form of it). Edge
 *    scores are summed over positions, so EAP-IG has no [layer, position] maps.
 * The prompts resolve as a patch sweep's (patch-inputs.ts: BOS rule, same length, one-token target),
 * so a map and an exact sweep of the same request measure the same ids. Cancellable between passes
 * and inside them (EngineError CANCELLED).
 */
import { bosToPrepend } from '../analysis/prompt-input.js';
import type { AttributionMap, AttributionMapRequest, AttributionProgress, PositionComponent } from '../../protocol/attribution.js';
import { LAB_ATTRIBUTION_METHODS } from '../../protocol/attribution.js';
import { EngineError, throwIfCancelled } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import { resolvePatchInputs } from '../patching/patch-inputs.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import { DEFAULT_IG_STEPS, type AttributionKind, type AttributionOptions, type AttributionRequest, type AttributionResult } from './attribution-types.js';

/** Runs one attribution request (the loaded model's gradient graphs). */
export type Attribute = (request: AttributionRequest, options?: AttributionOptions) => Promise<AttributionResult>;

export interface AttributionMapOptions {
  signal?: AbortSignal;
  onProgress?: (progress: AttributionProgress) => void;
  /** The user's token limit (default: the model's context). */
  maxTokens?: number;
}

/** The [layer, position] kinds and the component each one fills. */
const POSITION_KINDS: readonly { kind: AttributionKind; component: PositionComponent }[] = [
  { kind: 'resid', component: 'resid_pre' },
  { kind: 'attn-out', component: 'attn_out' },
  { kind: 'mlp-out', component: 'mlp_out' },
];

const HEAD_NODE = /^L(\d+)H(\d+)$/;

/** [layer, head] of node scores that carry a head (layer-major). */
function headGrid(result: AttributionResult, config: ModelConfig): Float32Array {
  const grid = new Float32Array(config.nLayers * config.nHeads);
  for (const e of result.entries) {
    if (!('layer' in e) || e.head === undefined) continue;
    grid[e.layer * config.nHeads + e.head]! += e.score;
  }
  return grid;
}

/** [layer, head]: each head's outgoing edge scores summed. */
function headGridFromEdges(result: AttributionResult, config: ModelConfig): Float32Array {
  const grid = new Float32Array(config.nLayers * config.nHeads);
  for (const e of result.entries) {
    if (!('from' in e)) continue;
    const m = HEAD_NODE.exec(e.from);
    if (m) grid[Number(m[1]) * config.nHeads + Number(m[2])]! += e.score;
  }
  return grid;
}

/** [layer, position] of per-position node scores. */
function positionGrid(result: AttributionResult, config: ModelConfig, positions: number): Float32Array {
  const grid = new Float32Array(config.nLayers * positions);
  for (const e of result.entries) {
    if (!('layer' in e) || e.position === undefined) continue;
    grid[e.layer * positions + e.position] = e.score;
  }
  return grid;
}

export async function runAttributionMap(
  attribute: Attribute,
  config: ModelConfig,
  tokenizer: PromptTokenizer,
  request: AttributionMapRequest,
  options: AttributionMapOptions = {},
): Promise<AttributionMap> {
  const started = performance.now();
  const { signal } = options;
  throwIfCancelled(signal);
  if (!(LAB_ATTRIBUTION_METHODS as readonly string[]).includes(request.method))
    throw new EngineError('BAD_ARGUMENT', `Unknown attribution method "${String(request.method)}".`, `Use one of ${LAB_ATTRIBUTION_METHODS.join(', ')}.`);
  if (request.steps !== undefined && request.method !== 'eap-ig')
    throw new EngineError('BAD_ARGUMENT', `Interpolation steps apply to eap-ig only, not ${request.method}.`);
  const inputs = resolvePatchInputs(tokenizer, request, {
    maxTokens: options.maxTokens ?? config.nCtx,
    nCtx: config.nCtx,
    dVocab: config.dVocab,
    prependBosId: bosToPrepend(config, request.prependBos),
  });
  const P = inputs.clean.ids.length;
  const base = { cleanIds: inputs.clean.ids, corruptIds: inputs.corrupt.ids, targetId: inputs.targetId, contrastId: inputs.contrastId };
  const passOptions: AttributionOptions = signal ? { signal } : {};

  let heads: Float32Array;
  let positions: AttributionMap['positions'] = null;
  let metric: AttributionResult['metric'];
  let steps: number | null = null;
  if (request.method === 'eap-ig') {
    steps = request.steps ?? DEFAULT_IG_STEPS;
    options.onProgress?.({ done: 0, total: 1 });
    const edges = await attribute({ ...base, method: 'eap-ig', kind: 'edges', steps }, passOptions);
    heads = headGridFromEdges(edges, config);
    metric = edges.metric;
    options.onProgress?.({ done: 1, total: 1 });
  } else {
    const total = 1 + POSITION_KINDS.length;
    options.onProgress?.({ done: 0, total });
    const headResult = await attribute({ ...base, method: request.method, kind: 'heads' }, passOptions);
    heads = headGrid(headResult, config);
    metric = headResult.metric;
    options.onProgress?.({ done: 1, total });
    const grids: Partial<Record<PositionComponent, Float32Array>> = {};
    for (const [i, { kind, component }] of POSITION_KINDS.entries()) {
      throwIfCancelled(signal);
      grids[component] = positionGrid(await attribute({ ...base, method: request.method, kind }, passOptions), config, P);
      options.onProgress?.({ done: 2 + i, total });
    }
    positions = grids as Record<PositionComponent, Float32Array>;
  }

  return {
    method: request.method,
    steps,
    targetId: inputs.targetId,
    target: tokenizer.tokenText(inputs.targetId),
    contrastId: inputs.contrastId,
    contrast: inputs.contrastId === null ? null : tokenizer.tokenText(inputs.contrastId),
    prependBos: inputs.clean.prependBos,
    cleanTokens: inputs.clean.tokens,
    corruptTokens: inputs.corrupt.tokens,
    nLayers: config.nLayers,
    nHeads: config.nHeads,
    metric: { name: inputs.contrastId === null ? 'log_prob' : 'logit_diff', clean: metric.clean, corrupt: metric.corrupt },
    heads,
    positions,
    elapsedMs: performance.now() - started,
  };
}
