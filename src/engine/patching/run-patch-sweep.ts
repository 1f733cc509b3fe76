/**
 * Activation patching sweeps: run the corrupted prompt with one activation replaced by its value
 * from the clean run, for every component of the chosen kind, and measure how much of the clean
 * prediction comes back.
 *
 * Exact, and fast from the structure of the computation (see batch-plan.ts):
 *  - the clean and corrupted prompts are run once each and cached (the clean run keeps the patched
 *    activations, the corrupted run its resid_pre of every layer and its keys and values);
 *  - a patch at layer L starts at layer L from the corrupted resid_pre (layers below are untouched);
 *  - a patch at position p runs only positions p.. against the corrupted keys and values of the
 *    positions before it (a one-token pass for the last position);
 *  - the sites of a layer run as variants of batched engine calls, with logits at the last
 *    position only;
 *  - head sweeps that fit go further as one packed run (runPackedHeadSweep): the clean and
 *    corrupted prompts and every patched site are rows of one sequence per block call, so each
 *    layer's weights are read once for all of them and the patch values come from the same call.
 * Results stream per layer (`onLayer` after each layer's patches are done) and the sweep can be
 * cancelled between engine calls (EngineError CANCELLED).
 */
import { assertAnalysable } from '../analysis/architecture-support.js';
import type { PatchBaseline, PatchEntry, PatchSweepResult } from '../../protocol/analysis.js';
import type { PatchRequest } from '../../protocol/engine.js';
import { throwIfCancelled } from '../errors.js';
import { layerHook, type HookName } from '../hooks.js';
import type { ForwardResult, ForwardRunner, InterventionVariant, PackedBranch, TokenScores } from '../runtime/types.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import { graphFamily, type ModelConfig } from '../model/config.js';
import { bytesPerVariant, DEFAULT_MEMORY_BUDGET_BYTES, firstChangedPosition, planBatches, type BatchPlan } from './batch-plan.js';
import { firstDifference, resolvePatchInputs, type PatchInputs } from './patch-inputs.js';
import { patchEntry, type PatchMetricTokens } from './patch-metric.js';
import { bosToPrepend } from '../analysis/prompt-input.js';
import { defaultMetric, metricOfScores, metricTokens, resolveNamedMetric, type ResolvedMetric } from '../analysis/target-metric.js';
import { patchSites, siteHookName, type PatchSite } from './patch-sites.js';
import { CleanPatchValues } from './patch-values.js';
import { packedScoreRows } from '../runtime/packed-layout.js';

export interface PatchSweepOptions {
  signal?: AbortSignal;
  /** Called when every patch of `layer` is done (layers in ascending order). */
  onLayer?: (layer: number) => void;
  /** The user's token limit (default: the model's context). */
  maxTokens?: number;
  /**
   * Skip what the clean and corrupted prompts' shared first tokens make provably unchanged
   * (default true; see batch-plan.ts). Off, every site is run.
   */
  skipSharedPrefix?: boolean;
  /** Batch planning knobs (see batch-plan.ts), for benchmarks and tests. */
  callCostRows?: number;
  memoryBudgetBytes?: number;
  /**
   * Run head sweeps as one packed run (default true; see runPackedHeadSweep) when they fit the
   * memory budget. Off, they run as cached runs plus batched incremental passes like other kinds.
   */
  packed?: boolean;
}

/** What both the fast sweep and the naive one share: resolved inputs, sites and metric tokens. */
export interface PreparedSweep {
  inputs: PatchInputs;
  sites: PatchSite[];
  tokens: PatchMetricTokens & { metric: ResolvedMetric };
  /** The last position, where the metric is read. */
  last: number;
}

export function prepareSweep(runner: ForwardRunner, tokenizer: PromptTokenizer, request: PatchRequest, maxTokens: number | undefined): PreparedSweep {
  const { config } = runner;
  assertAnalysable(config, 'Patching');
  // Both prompts follow the BOS rule (ids are used as given); positions below count the BOS as 0.
  const inputs = resolvePatchInputs(tokenizer, request, {
    maxTokens: maxTokens ?? config.nCtx,
    nCtx: config.nCtx,
    dVocab: config.dVocab,
    prependBosId: bosToPrepend(config, request.prependBos),
  });
  const metric = request.metric ? resolveNamedMetric(tokenizer, config.dVocab, request.metric) : defaultMetric(inputs.targetId, inputs.contrastId);
  const nPos = inputs.clean.ids.length;
  const sites = patchSites(
    request.kind,
    { nLayers: config.nLayers, nHeads: config.nHeads, nKvHeads: config.nKvHeads ?? config.nHeads, nPos },
    {
      ...(request.position !== undefined ? { position: request.position } : {}),
      ...(request.component !== undefined ? { component: request.component } : {}),
    },
  );
  return { inputs, sites, tokens: { targetId: inputs.targetId, contrastId: inputs.contrastId, metric }, last: nPos - 1 };
}

/** The target and contrast (if any): what logitDiff and prob read. */
function targetTokens(tokens: PatchMetricTokens): number[] {
  return tokens.contrastId === null ? [tokens.targetId] : [tokens.targetId, tokens.contrastId];
}

/** The tokens a sweep scores: the target, the contrast if there is one, then a named metric's tokens. */
export function scoredTokens(tokens: PatchMetricTokens): number[] {
  const metric = tokens.metric ?? defaultMetric(tokens.targetId, tokens.contrastId);
  // The default metrics read the target and contrast themselves.
  return metric.name === 'prob_diff_greater_than' ? [...targetTokens(tokens), ...metricTokens(metric)] : targetTokens(tokens);
}

/**
 * The metrics of runs (or variants) from their token scores at the one position they computed
 * (requested with `scoreTokens: scoredTokens(tokens)`): the softmax is ONNX Runtime's, over the
 * whole vocabulary, next to the logits.
 */
export function measureRuns(results: ReadonlyArray<Pick<ForwardResult, 'tokenScores'>>, tokens: PatchMetricTokens): PatchBaseline[] {
  const metric = tokens.metric ?? defaultMetric(tokens.targetId, tokens.contrastId);
  const width = scoredTokens(tokens).length;
  const own = targetTokens(tokens).length;
  const metricFrom = metric.name === 'prob_diff_greater_than' ? own : 0;
  return results.map((result) => {
    const scores = result.tokenScores;
    if (!scores || scores.logits.length !== width) throw new Error('patching: expected the scores of the scored tokens at exactly one position');
    return {
      value: metricOfScores(metric, scores.logits.subarray(metricFrom), scores.probs.subarray(metricFrom)),
      logitDiff: own === 2 ? scores.logits[0]! - scores.logits[1]! : scores.logits[0]!,
      prob: scores.probs[0]!,
    };
  });
}

export function sweepResult(
  request: PatchRequest,
  prepared: PreparedSweep,
  tokenizer: PromptTokenizer,
  clean: PatchBaseline,
  corrupt: PatchBaseline,
  entries: PatchEntry[],
  elapsedMs: number,
): PatchSweepResult {
  const { inputs } = prepared;
  return {
    kind: request.kind,
    targetId: inputs.targetId,
    target: tokenizer.tokenText(inputs.targetId),
    contrastId: inputs.contrastId,
    contrast: inputs.contrastId === null ? null : tokenizer.tokenText(inputs.contrastId),
    metric: prepared.tokens.metric.name,
    ...(prepared.tokens.metric.name === 'prob_diff_greater_than' ? { startYear: prepared.tokens.metric.startYear } : {}),
    prependBos: inputs.clean.prependBos,
    cleanTokens: inputs.clean.tokens,
    corruptTokens: inputs.corrupt.tokens,
    clean,
    corrupt,
    entries,
    elapsedMs,
  };
}

export async function runPatchSweep(
  runner: ForwardRunner,
  tokenizer: PromptTokenizer,
  request: PatchRequest,
  options: PatchSweepOptions = {},
): Promise<PatchSweepResult> {
  const started = performance.now();
  const { signal } = options;
  throwIfCancelled(signal);
  const prepared = prepareSweep(runner, tokenizer, request, options.maxTokens);
  const { inputs, sites, tokens, last } = prepared;
  const nPos = last + 1;
  const differFrom = firstDifference(inputs.clean.ids, inputs.corrupt.ids); // nPos for identical prompts
  const shortcutFrom = options.skipSharedPrefix === false ? 0 : differFrom;
  const plan: BatchPlan = planBatches(sites, runner.config, {
    nPos,
    firstDifference: shortcutFrom,
    ...(options.callCostRows !== undefined ? { callCostRows: options.callCostRows } : {}),
    ...(options.memoryBudgetBytes !== undefined ? { memoryBudgetBytes: options.memoryBudgetBytes } : {}),
  });

  // Identical prompts (patching clean into clean) run once, so their two baselines are one number.
  // Families whose graphs have no packed inputs run their head sweeps as variants like other kinds.
  const family = graphFamily(runner.config);
  const packable =
    options.packed !== false && (family === 'gpt2' || family === 'llama' || family === 'gemma' || family === 'neox' || family === 'neox_sequential');
  const packedBranches = !packable ? null : headBranches(sites, plan, shortcutFrom, nPos, differFrom === nPos ? 0 : 1);
  if (packedBranches && packedRunBytes(runner.config, nPos, packedBranches) <= (options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES)) {
    return runPackedHeadSweep(runner, request, prepared, tokenizer, plan, packedBranches, options, started);
  }

  // The two cached runs, as one batch of two prompts (every layer's weights read once for both).
  // The clean run keeps what the patches copy; the corrupted run keeps each starting layer's
  // resid_pre and, for incremental passes, every layer's keys and values. Neither computes logits:
  // their final residual streams join the first patched batch at the unembedding instead, so the
  // [vocab, d_model] matrix is read once for baselines and patches together.
  const { nLayers } = runner.config;
  const finalResid = layerHook(nLayers - 1, 'hook_resid_post');
  const run = plan.batches.map((b) => b.sites).flat();
  const cachedHooks = new Set<HookName>([finalResid]);
  for (const i of run) cachedHooks.add(siteHookName(sites[i]!));
  for (const layer of new Set(plan.batches.map((b) => b.layer))) cachedHooks.add(layerHook(layer, 'hook_resid_pre'));
  const [cleanRun, corruptRun] = (await runner.intervene({
    ids: inputs.corrupt.ids,
    variants: [{ ids: inputs.clean.ids }, {}],
    hooks: [...cachedHooks],
    keepKeysValues: plan.batches.some((b) => b.queryFrom > 0),
    ...(signal ? { signal } : {}),
  })) as [ForwardResult, ForwardResult];
  const values = new CleanPatchValues(cleanRun.cache, runner.config.nHeads);
  const baselineVariants: InterventionVariant[] = [cleanRun, corruptRun].map((r) => ({ startLayer: nLayers, startResid: r.cache.get(finalResid)! }));

  const entries: Array<PatchEntry | undefined> = new Array(sites.length);
  let baselines: { clean: PatchBaseline; corrupt: PatchBaseline } | null = null;
  /** Runs patched variants (and, the first time, the two baselines) and returns their metrics. */
  const runVariants = async (variants: InterventionVariant[], queryFrom: number): Promise<PatchBaseline[]> => {
    const withBaselines = baselines === null;
    const results = await runner.intervene({
      ids: inputs.corrupt.ids,
      variants: withBaselines ? [...baselineVariants, ...variants] : variants,
      hooks: [],
      logitPositions: [last],
      scoreTokens: scoredTokens(tokens),
      ...(queryFrom > 0 ? { queryFrom, past: corruptRun.keysValues! } : {}),
      ...(signal ? { signal } : {}),
    });
    const measured = measureRuns(results, tokens);
    if (withBaselines) baselines = { clean: measured[0]!, corrupt: measured[1]! };
    return withBaselines ? measured.slice(2) : measured;
  };
  const baselinesNow = async (): Promise<{ clean: PatchBaseline; corrupt: PatchBaseline }> => {
    if (baselines === null) await runVariants([], 0);
    return baselines!;
  };

  // Batches that share a first changed position run together as one wavefront, whatever their
  // layers: each variant joins at its own layer, so every layer's weights are read once per call
  // instead of once per starting layer (small batches are bound by reading weights, not arithmetic).
  const layersLeft = new Map<number, number>();
  for (const batch of plan.batches) layersLeft.set(batch.layer, (layersLeft.get(batch.layer) ?? 0) + 1);
  const byQueryFrom = new Map<number, typeof plan.batches>();
  for (const batch of plan.batches) byQueryFrom.set(batch.queryFrom, [...(byQueryFrom.get(batch.queryFrom) ?? []), batch]);
  for (const [queryFrom, batches] of [...byQueryFrom].sort((a, b) => a[0] - b[0])) {
    const budget = options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES;
    const perCall = Math.max(1, Math.floor(budget / bytesPerVariant(runner.config, nPos - queryFrom, nPos)));
    const siteList = batches.flatMap((b) => b.sites);
    for (let from = 0; from < siteList.length; from += perCall) {
      throwIfCancelled(signal);
      const chunk = siteList.slice(from, from + perCall);
      const measured = await runVariants(
        chunk.map((i) => {
          const site = sites[i]!;
          return { ...values.variant(site), startLayer: site.layer, startResid: corruptRun.cache.get(layerHook(site.layer, 'hook_resid_pre'))! };
        }),
        queryFrom,
      );
      const both = await baselinesNow();
      measured.forEach((m, k) => {
        const i = chunk[k]!;
        entries[i] = patchEntry(sites[i]!, m, both);
      });
    }
    // A layer's results are complete once every group holding its sites has run.
    for (const batch of batches) {
      const left = layersLeft.get(batch.layer)! - 1;
      layersLeft.set(batch.layer, left);
      if (left === 0) {
        throwIfCancelled(signal);
        options.onLayer?.(batch.layer);
      }
    }
  }
  throwIfCancelled(signal);
  return finishSweep(request, prepared, tokenizer, plan, entries, await baselinesNow(), started);
}

/**
 * The sweep's result once its run sites have entries: the sites a patch provably leaves unchanged
 * get the corrupted run's metrics.
 */
function finishSweep(
  request: PatchRequest,
  prepared: PreparedSweep,
  tokenizer: PromptTokenizer,
  plan: BatchPlan,
  entries: Array<PatchEntry | undefined>,
  both: { clean: PatchBaseline; corrupt: PatchBaseline },
  started: number,
): PatchSweepResult {
  const { sites } = prepared;
  for (const i of plan.unchanged) entries[i] = patchEntry(sites[i]!, both.corrupt, both);
  const complete = entries.map((e, i) => {
    if (!e) throw new Error(`patching: site ${i} was never run`);
    return e;
  });
  return sweepResult(request, prepared, tokenizer, both.clean, both.corrupt, complete, performance.now() - started);
}

/** Most rows a packed run with a dense mask may have: its attention is dense over them (see runPackedHeadSweep). */
const PACKED_MAX_ROWS = 512;

/**
 * The packed run's branches for a sweep whose sites are all heads (null otherwise, or when the
 * packed sequence would be too long): each site patches the corrupted prompt (prompt `corrupt`: 1,
 * or 0 when it is the clean prompt itself) from its first changed position, at its layer, with the
 * clean prompt's (prompt 0) values of its head.
 */
function headBranches(sites: readonly PatchSite[], plan: BatchPlan, shortcutFrom: number, nPos: number, corrupt: 0 | 1): PackedBranch[] | null {
  const run = plan.batches.flatMap((b) => b.sites);
  if (run.length === 0 || run.some((i) => sites[i]!.hook !== 'z')) return null;
  const branches = run.map((i): PackedBranch => {
    const site = sites[i]!;
    const from = firstChangedPosition(site, shortcutFrom, nPos)!;
    return {
      prompt: corrupt,
      from,
      layer: site.layer,
      zFrom: { prompt: 0, heads: [site.head!], ...(site.position !== undefined ? { positions: [site.position] } : {}) },
    };
  });
  // Branches of the last position only attend to the prompts' rows and themselves (the layout's
  // prefix rows), so their attention grows with the rows, not with their square.
  return prefixRowsOnly(nPos, branches) || packedRows(nPos, branches) <= PACKED_MAX_ROWS ? branches : null;
}

/** Rows of a packed run's last call: both prompts' (one when the corrupted prompt is the clean one), then every branch's. */
function packedRows(nPos: number, branches: readonly PackedBranch[]): number {
  const prompts = branches.some((b) => b.prompt === 1) ? 2 : 1;
  return branches.reduce((n, b) => n + nPos - b.from, prompts * nPos);
}

/** Whether every branch is its prompt's last position alone (packed-layout.ts's 'prefix' mode). */
function prefixRowsOnly(nPos: number, branches: readonly PackedBranch[]): boolean {
  return branches.every((b) => b.from === nPos - 1);
}

/**
 * Rough peak float32 working set of a packed run (cf. bytesPerVariant): rows, attention (over every
 * row, or over the prompts' rows and each row's own key), and the logits and softmax of one final call.
 */
function packedRunBytes(config: Pick<ModelConfig, 'dModel' | 'dMlp' | 'nHeads' | 'dVocab'>, nPos: number, branches: readonly PackedBranch[]): number {
  const { dModel: D, dMlp: M, nHeads: H, dVocab: V } = config;
  const N = packedRows(nPos, branches);
  const keys = prefixRowsOnly(nPos, branches) ? 2 * nPos + 1 : N;
  return 4 * (N * (14 * D + 2 * M) + 3 * H * N * keys + 2 * Math.min(branches.length + 2, packedScoreRows(V)) * V);
}

/**
 * A head sweep as one packed run (PackedRunRequest): the clean and corrupted prompts and every
 * patched site run as rows of one sequence per block call, each site's rows joining at its layer
 * from the corrupted prompt's residual stream there and taking its head's values from the clean
 * prompt's rows of the same call. Against cached runs plus incremental passes this saves a block
 * call per layer (the weights of each layer are read once, not twice) and the prompts' small
 * products; the results are the same (the patching tests run both against the naive method).
 */
async function runPackedHeadSweep(
  runner: ForwardRunner,
  request: PatchRequest,
  prepared: PreparedSweep,
  tokenizer: PromptTokenizer,
  plan: BatchPlan,
  branches: PackedBranch[],
  options: PatchSweepOptions,
  started: number,
): Promise<PatchSweepResult> {
  const { inputs, sites, tokens } = prepared;
  const { signal } = options;
  const corrupt = branches[0]!.prompt;
  const result = await runner.runPacked({
    prompts: corrupt === 0 ? [inputs.clean.ids] : [inputs.clean.ids, inputs.corrupt.ids],
    branches,
    scoreTokens: scoredTokens(tokens),
    ...(signal ? { signal } : {}),
  });
  const measure = (scores: readonly TokenScores[]): PatchBaseline[] =>
    measureRuns(
      scores.map((tokenScores) => ({ tokenScores })),
      tokens,
    );
  const prompts = measure(result.prompts);
  const both = { clean: prompts[0]!, corrupt: prompts[corrupt]! };
  const entries: Array<PatchEntry | undefined> = new Array(sites.length);
  const patched = measure(result.branches);
  plan.batches
    .flatMap((b) => b.sites)
    .forEach((i, k) => {
      entries[i] = patchEntry(sites[i]!, patched[k]!, both);
    });
  for (const layer of [...new Set(plan.batches.map((b) => b.layer))].sort((a, b) => a - b)) {
    throwIfCancelled(signal);
    options.onLayer?.(layer);
  }
  return finishSweep(request, prepared, tokenizer, plan, entries, both, started);
}
