/**
 * The naive method of activation patching, kept as the known answer the fast sweep must equal and
 * as the benchmark's baseline: every site is a full re-run of the corrupted prompt from the
 * embeddings, all positions, with that one activation replaced by its clean value. No cached
 * residual streams, no incremental passes, no batching, no shared-prefix shortcut.
 */
import type { PatchEntry, PatchSweepResult } from '../../protocol/analysis.js';
import type { PatchRequest } from '../../protocol/engine.js';
import { throwIfCancelled } from '../errors.js';
import type { HookName } from '../hooks.js';
import type { ForwardRunner } from '../runtime/types.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import { patchEntry } from './patch-metric.js';
import { siteHookName } from './patch-sites.js';
import { CleanPatchValues } from './patch-values.js';
import { measureRuns, prepareSweep, scoredTokens, sweepResult } from './run-patch-sweep.js';

export async function runNaivePatchSweep(
  runner: ForwardRunner,
  tokenizer: PromptTokenizer,
  request: PatchRequest,
  options: { signal?: AbortSignal; maxTokens?: number } = {},
): Promise<PatchSweepResult> {
  const started = performance.now();
  const { signal } = options;
  const prepared = prepareSweep(runner, tokenizer, request, options.maxTokens);
  const { inputs, sites, tokens, last } = prepared;
  const scoring = { logitPositions: [last], scoreTokens: scoredTokens(tokens), ...(signal ? { signal } : {}) };
  const [cleanRun] = await runner.intervene({ ids: inputs.clean.ids, variants: [{}], hooks: [...new Set<HookName>(sites.map(siteHookName))], ...scoring });
  const [corruptRun] = await runner.intervene({ ids: inputs.corrupt.ids, variants: [{}], hooks: [], ...scoring });
  const [clean, corrupt] = measureRuns([cleanRun!, corruptRun!], tokens);
  const baselines = { clean: clean!, corrupt: corrupt! };
  const values = new CleanPatchValues(cleanRun!.cache, runner.config.nHeads);
  const entries: PatchEntry[] = [];
  for (const site of sites) {
    throwIfCancelled(signal);
    const [result] = await runner.intervene({ ids: inputs.corrupt.ids, variants: [values.variant(site)], hooks: [], ...scoring });
    const [measured] = measureRuns([result!], tokens);
    entries.push(patchEntry(site, measured!, baselines));
  }
  return sweepResult(request, prepared, tokenizer, baselines.clean, baselines.corrupt, entries, performance.now() - started);
}
