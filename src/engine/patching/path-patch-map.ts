/**
 * Path patching (path-patching.ts) for the Lab's layer × head map: every sender's patched logit
 * difference and its share of clean − corrupt, with the model's shape, streamed per chunk of
 * senders and cancellable. A share with no denominator (clean and corrupt agree) is null, not NaN.
 */
import type { PathPatchMap, PathPatchMapProgress, PathPatchMapRequest } from '../../protocol/attribution.js';
import type { ForwardRunner } from '../runtime/types.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import { runPathPatching } from './path-patching.js';

export async function runPathPatchMap(
  runner: ForwardRunner,
  tokenizer: PromptTokenizer,
  request: PathPatchMapRequest,
  options: { signal?: AbortSignal; onProgress?: (progress: PathPatchMapProgress) => void; maxTokens?: number } = {},
): Promise<PathPatchMap> {
  const { onProgress, ...rest } = options;
  const result = await runPathPatching(runner, tokenizer, request, {
    ...rest,
    ...(onProgress ? { onProgress: (p: PathPatchMapProgress) => onProgress({ done: p.done, total: p.total }) } : {}),
  });
  return {
    receivers: result.receivers,
    targetId: result.targetId,
    target: result.target,
    contrastId: result.contrastId,
    contrast: result.contrast,
    prependBos: result.prependBos,
    cleanTokens: result.cleanTokens,
    corruptTokens: result.corruptTokens,
    nLayers: runner.config.nLayers,
    nHeads: runner.config.nHeads,
    cleanLogitDiff: result.cleanLogitDiff,
    corruptLogitDiff: result.corruptLogitDiff,
    entries: result.entries.map((e) => ({
      layer: e.layer,
      head: e.head,
      logitDiff: e.logitDiff,
      normalized: Number.isFinite(e.normalized) ? e.normalized : null,
    })),
    elapsedMs: result.elapsedMs,
  };
}
