/**
 * Which engine calls a sweep makes. Each site is run as one variant of a batched intervention that
 * starts at the site's layer (layers below are untouched by the patch, so they start from the
 * corrupted run's resid_pre) and runs only the query positions the patch can change:
 *
 *  - a patch at position p changes positions >= p only (attention is causal), so the pass runs
 *    positions p.. against the corrupted run's cached keys and values of positions < p;
 *  - when the clean and corrupted prompts share their first tokens, the two runs are identical on
 *    that shared prefix: an all-position patch then changes positions >= the first differing one
 *    only, and a patch at a position inside the prefix changes nothing at all (no run needed).
 *
 * Sites of one layer are grouped into batches sharing one `queryFrom` (the smallest first changed
 * position of the group). Grouping trades the fixed cost of an engine call (reading every weight
 * of every layer run) against the rows a batch runs (variants × query positions); the grouping of
 * sorted sites is chosen by dynamic programming, under a memory bound per call.
 */
import type { ModelConfig } from '../model/config.js';
import type { PatchSite } from './patch-sites.js';

export interface PatchBatch {
  layer: number;
  /** First query position run; 0 runs the whole prompt. */
  queryFrom: number;
  /** Indices into the site list. */
  sites: number[];
}

export interface BatchPlan {
  /** In ascending layer order; all batches of a layer are adjacent. */
  batches: PatchBatch[];
  /** Sites whose patch provably changes nothing (inside the shared prefix): their result is the corrupted run. */
  unchanged: number[];
}

export interface BatchPlanOptions {
  nPos: number;
  /** First position where the clean and corrupted prompts differ (nPos if nowhere); 0 disables the shared-prefix shortcut. */
  firstDifference: number;
  /** The fixed cost of one engine call, in query rows (see CALL_COST_ROWS). */
  callCostRows?: number;
  /** Upper bound on the memory one call may use. */
  memoryBudgetBytes?: number;
}

/**
 * One engine call costs about as much as this many extra query rows: an incremental pass of a
 * handful of rows is bound by reading the layer's weights, not by arithmetic.
 */
export const CALL_COST_ROWS = 32;
export const DEFAULT_MEMORY_BUDGET_BYTES = 256 * 2 ** 20;
const MAX_VARIANTS_PER_CALL = 512;

/** The first changed query position of a site, or null if the patch changes nothing. */
export function firstChangedPosition(site: PatchSite, firstDifference: number, nPos: number): number | null {
  const from = site.position ?? firstDifference;
  if (site.position !== undefined && site.position < firstDifference) return null;
  return from < nPos ? from : null;
}

/**
 * Rough peak float32 working set of one variant in a block run with `Q` query rows over `T` key
 * positions: inputs and patch arrays, Q/K/V, attention scores and softmax [head, Q, T], the MLP
 * hidden layer, outputs, and one row of logits.
 */
export function bytesPerVariant(config: Pick<ModelConfig, 'dModel' | 'dMlp' | 'nHeads' | 'dVocab'>, Q: number, T: number): number {
  const { dModel: D, dMlp: M, nHeads: H, dVocab: V } = config;
  return 4 * (Q * (14 * D + 2 * M) + 4 * T * D + 3 * H * Q * T + V);
}

export function planBatches(
  sites: readonly PatchSite[],
  config: Pick<ModelConfig, 'dModel' | 'dMlp' | 'nHeads' | 'dVocab'>,
  options: BatchPlanOptions,
): BatchPlan {
  const { nPos } = options;
  const callCost = options.callCostRows ?? CALL_COST_ROWS;
  const budget = options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES;
  const maxVariants = (from: number): number => Math.max(1, Math.min(MAX_VARIANTS_PER_CALL, Math.floor(budget / bytesPerVariant(config, nPos - from, nPos))));

  const unchanged: number[] = [];
  const byLayer = new Map<number, Array<{ index: number; from: number }>>();
  sites.forEach((site, index) => {
    const from = firstChangedPosition(site, options.firstDifference, nPos);
    if (from === null) {
      unchanged.push(index);
      return;
    }
    let list = byLayer.get(site.layer);
    if (!list) byLayer.set(site.layer, (list = []));
    list.push({ index, from });
  });

  const batches: PatchBatch[] = [];
  for (const layer of [...byLayer.keys()].sort((a, b) => a - b)) {
    // Stable sort by first changed position keeps the sweep's order inside each batch.
    const items = byLayer
      .get(layer)!
      .slice()
      .sort((a, b) => a.from - b.from);
    const n = items.length;
    // best[j]: least cost of running items 0..j-1; cut[j]: where the last group of that solution starts.
    const best = new Float64Array(n + 1).fill(Infinity);
    const cut = new Int32Array(n + 1);
    best[0] = 0;
    for (let j = 1; j <= n; j++) {
      for (let i = j - 1; i >= 0; i--) {
        const from = items[i]!.from;
        const size = j - i;
        if (size > maxVariants(from)) break;
        const cost = best[i]! + callCost + size * (nPos - from);
        if (cost < best[j]!) {
          best[j] = cost;
          cut[j] = i;
        }
      }
    }
    const groups: PatchBatch[] = [];
    for (let j = n; j > 0; j = cut[j]!) {
      const i = cut[j]!;
      groups.push({ layer, queryFrom: items[i]!.from, sites: items.slice(i, j).map((item) => item.index) });
    }
    batches.push(...groups.reverse());
  }
  return { batches, unchanged };
}
