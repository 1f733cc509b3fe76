/**
 * Path patching (Wang et al. 2022, the IOI circuit), in the noising convention of ARENA's IOI
 * notebook: how much of the clean logit difference flows from one sender head to the receivers
 * (the logits, or chosen heads' q, k or v inputs) along direct paths, through MLPs and norms only.
 *
 *  step 1: the clean prompt with every head's hook_z frozen to its clean value except the sender's,
 *          which takes its corrupted value (MLPs and norms recomputed); it keeps the receivers'
 *          hook_q / hook_k / hook_v (for the receiver `logits`, its own logits are the result);
 *  step 2: the clean prompt with only the receivers' q, k or v patched from step 1.
 * Reported per sender: the patched logit difference and (patched − clean) / (clean − corrupt).
 *
 * Exact and fast from the structure of the computation:
 *  - every head frozen in a layer is that layer's clean hook_attn_out, so a sender's later layers
 *    patch one d_model row per position instead of a d_head row per head and position;
 *  - step 1 starts at the sender's layer from the clean resid_pre there (nothing below changes);
 *  - with attention frozen after the sender's layer, positions no longer mix: the logits at the
 *    last position depend on that position's stream alone, so step 1 for `logits` is a
 *    one-position pass against the clean run's keys and values; for head receivers, positions
 *    before the prompts' first difference keep their clean values, in both steps;
 *  - all senders run as variants of one batched call per step (a wavefront: each joins at its
 *    layer), so each layer's weights are read once for all of them.
 * Results stream per chunk of senders (`onProgress`) and the run can be cancelled between engine
 * calls (EngineError CANCELLED).
 */
import { assertAnalysable } from '../analysis/architecture-support.js';
import { bosToPrepend } from '../analysis/prompt-input.js';
import { tokenLogits } from '../analysis/token-logits.js';
import { throwIfCancelled } from '../errors.js';
import { layerHook, type HookName } from '../hooks.js';
import type { ModelConfig } from '../model/config.js';
import type { ForwardResult, ForwardRunner, InterventionRequest, InterventionVariant, ZPatch } from '../runtime/types.js';
import { tensor, type Tensor } from '../tensor.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import type { TokenInfo } from '../../protocol/analysis.js';
import { bytesPerVariant, DEFAULT_MEMORY_BUDGET_BYTES } from './batch-plan.js';
import { firstDifference, resolvePatchInputs, type PatchPromptRequest } from './patch-inputs.js';
import { RECOVERY_MIN_DENOMINATOR } from './patch-metric.js';
import { checkReceivers, formatReceivers, parseReceivers, senderLayerBound, type PathReceivers, type ReceiverHead } from './path-receivers.js';

export interface PathPatchRequest extends PatchPromptRequest {
  /** `logits`, or heads' inputs such as `L9H6:q,L9H9:q` (see path-receivers.ts). */
  receivers: string | PathReceivers;
}

export interface PathPatchEntry {
  /** The sender head. */
  layer: number;
  head: number;
  /** The logit difference (target − contrast; the target logit without a contrast) with the sender's path patched. */
  logitDiff: number;
  /** (patched − clean) / (clean − corrupt): −1 when the path carries the whole difference; NaN when clean and corrupt agree. */
  normalized: number;
}

export interface PathPatchResult {
  receivers: string;
  targetId: number;
  target: string;
  contrastId: number | null;
  contrast: string | null;
  prependBos: boolean;
  cleanTokens: TokenInfo[];
  corruptTokens: TokenInfo[];
  cleanLogitDiff: number;
  corruptLogitDiff: number;
  /** One per sender, layer-major. */
  entries: PathPatchEntry[];
  elapsedMs: number;
}

export interface PathPatchProgress {
  /** Senders measured so far, of `total`. */
  done: number;
  total: number;
  /** The entries measured since the last report. */
  entries: readonly PathPatchEntry[];
}

export interface PathPatchOptions {
  signal?: AbortSignal;
  onProgress?: (progress: PathPatchProgress) => void;
  /** The user's token limit (default: the model's context). */
  maxTokens?: number;
  /** Peak working set of one batched call (default: the patching sweeps'); more senders are split into several calls. */
  memoryBudgetBytes?: number;
}

const INPUT_HOOK = { q: 'attn.hook_q', k: 'attn.hook_k', v: 'attn.hook_v' } as const;

function receiverHook(r: ReceiverHead): HookName {
  return layerHook(r.layer, INPUT_HOOK[r.input]);
}

/** Head `head` of a [pos, head, d_head] tensor, as [pos, d_head]. */
function headRows(t: Tensor, head: number): Float32Array {
  const [P, H, Dh] = t.shape as [number, number, number];
  const out = new Float32Array(P * Dh);
  for (let p = 0; p < P; p++) out.set(t.data.subarray((p * H + head) * Dh, (p * H + head + 1) * Dh), p * Dh);
  return out;
}

function cached(result: ForwardResult, name: HookName): Tensor {
  const t = result.cache.get(name);
  if (!t) throw new Error(`path patching: the run did not keep ${name}`);
  return t;
}

export async function runPathPatching(
  runner: ForwardRunner,
  tokenizer: PromptTokenizer,
  request: PathPatchRequest,
  options: PathPatchOptions = {},
): Promise<PathPatchResult> {
  const started = performance.now();
  const { signal } = options;
  throwIfCancelled(signal);
  const { config } = runner;
  assertAnalysable(config, 'Patching');
  const receivers = typeof request.receivers === 'string' ? parseReceivers(request.receivers) : request.receivers;
  checkReceivers(receivers, config);
  const inputs = resolvePatchInputs(tokenizer, request, {
    maxTokens: options.maxTokens ?? config.nCtx,
    nCtx: config.nCtx,
    dVocab: config.dVocab,
    prependBosId: bosToPrepend(config, request.prependBos),
  });
  const clean = inputs.clean.ids,
    corrupt = inputs.corrupt.ids;
  const scored = inputs.contrastId === null ? [inputs.targetId] : [inputs.targetId, inputs.contrastId];
  const { nLayers, nHeads } = config;
  // The metric is read from the last row of each run's final residual stream (tokenLogits): two
  // unembedding rows instead of the whole vocabulary for every sender.
  const finalResid = layerHook(nLayers - 1, 'hook_resid_post');
  const logitDiffOf = (r: ForwardResult): number => {
    const resid = cached(r, finalResid);
    const D = config.dModel;
    const logits = tokenLogits(resid.data.subarray(resid.data.length - D), scored, runner.weights, config);
    return logits.length === 2 ? logits[0]! - logits[1]! : logits[0]!;
  };

  const P = clean.length,
    last = P - 1;
  // Positions before the prompts' first difference keep their clean values in both steps.
  const q0 = receivers.kind === 'logits' ? last : Math.min(firstDifference(clean, corrupt), last);
  const past = (r: ForwardResult): Pick<InterventionRequest, 'queryFrom' | 'past'> => (q0 > 0 ? { queryFrom: q0, past: r.keysValues! } : {});
  const bound = senderLayerBound(receivers, nLayers);
  const senders = Array.from({ length: bound * nHeads }, (_, i) => ({ layer: Math.floor(i / nHeads), head: i % nHeads }));
  const receiverHeads = receivers.kind === 'heads' ? receivers.heads : [];
  // Step 1 freezes attention in the layers after the sender's, up to the last one the result reads.
  const frozenEnd = receivers.kind === 'logits' ? nLayers : bound;

  // The clean and corrupted runs, as one batch: the clean one keeps every layer's attention output,
  // resid_pre where steps start, the receivers' clean inputs, and its keys and values; the corrupted
  // one its head outputs.
  const hooks = new Set<HookName>([finalResid]);
  for (let layer = 0; layer < bound; layer++) hooks.add(layerHook(layer, 'attn.hook_z')).add(layerHook(layer, 'hook_resid_pre'));
  for (let layer = 1; layer < frozenEnd; layer++) hooks.add(layerHook(layer, 'hook_attn_out'));
  for (const r of receiverHeads) hooks.add(receiverHook(r)).add(layerHook(r.layer, 'hook_resid_pre'));
  const [cleanRun, corruptRun] = (await runner.intervene({
    ids: clean,
    variants: [{}, { ids: corrupt }],
    hooks: [...hooks],
    keepKeysValues: true,
    ...(signal ? { signal } : {}),
  })) as [ForwardResult, ForwardResult];
  const cleanLogitDiff = logitDiffOf(cleanRun),
    corruptLogitDiff = logitDiffOf(corruptRun);

  /** Step 1 of a sender: its corrupted head output at its layer, clean attention outputs after it. */
  const step1 = (s: { layer: number; head: number }): InterventionVariant => {
    const zValue = tensor(headRows(cached(corruptRun, layerHook(s.layer, 'attn.hook_z')), s.head), [P, config.dHead]);
    const frozen = Array.from({ length: Math.max(0, frozenEnd - s.layer - 1) }, (_, i) => s.layer + 1 + i).map((layer) => ({
      layer,
      hook: 'hook_attn_out' as const,
      value: cached(cleanRun, layerHook(layer, 'hook_attn_out')),
    }));
    return {
      startLayer: s.layer,
      startResid: cached(cleanRun, layerHook(s.layer, 'hook_resid_pre')),
      zPatches: [{ layer: s.layer, head: s.head, value: zValue }],
      streamPatches: frozen,
    };
  };

  /** Step 2 of a sender: the clean prompt with its receivers' inputs (those after its layer) from step 1. */
  const step2 = (s: { layer: number }, step1Run: ForwardResult): InterventionVariant => {
    const reached = receiverHeads.filter((r) => r.layer > s.layer);
    const zPatches: ZPatch[] = reached.map((r) => {
      const cleanInput = cached(cleanRun, receiverHook(r)); // [pos, head, d_head]
      const patchedRun = cached(step1Run, receiverHook(r)); // [pos - q0, head, d_head]: the positions run
      const Dh = cleanInput.shape[2]!;
      const value = headRows(cleanInput, r.head);
      value.set(headRows(patchedRun, r.head), q0 * Dh);
      return { layer: r.layer, hook: INPUT_HOOK[r.input], head: r.head, value: tensor(value, [P, Dh]) };
    });
    const start = Math.min(...reached.map((r) => r.layer));
    return { startLayer: start, startResid: cached(cleanRun, layerHook(start, 'hook_resid_pre')), zPatches };
  };

  const perCall = Math.max(1, Math.floor((options.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET_BYTES) / callBytes(config, P - q0, P)));
  const entries: PathPatchEntry[] = [];
  const measuring = { hooks: [finalResid], ...(signal ? { signal } : {}) };
  for (let from = 0; from < senders.length; from += perCall) {
    throwIfCancelled(signal);
    const chunk = senders.slice(from, from + perCall);
    const first = await runner.intervene({
      ids: clean,
      variants: chunk.map(step1),
      ...past(cleanRun),
      // For head receivers, up to the latest receiver layer's block (its hook_q/k/v) and no further.
      ...(receivers.kind === 'logits'
        ? measuring
        : { hooks: [...new Set(receiverHeads.map(receiverHook))], endLayer: bound + 1, ...(signal ? { signal } : {}) }),
    });
    let measured = first;
    if (receivers.kind === 'heads') {
      throwIfCancelled(signal);
      measured = await runner.intervene({ ids: clean, variants: chunk.map((s, i) => step2(s, first[i]!)), ...past(cleanRun), ...measuring });
    }
    const done = chunk.map((s, i): PathPatchEntry => {
      const logitDiff = logitDiffOf(measured[i]!);
      return { layer: s.layer, head: s.head, logitDiff, normalized: normalizedEffect(logitDiff, cleanLogitDiff, corruptLogitDiff) };
    });
    entries.push(...done);
    throwIfCancelled(signal);
    options.onProgress?.({ done: entries.length, total: senders.length, entries: done });
  }

  return {
    receivers: formatReceivers(receivers),
    targetId: inputs.targetId,
    target: tokenizer.tokenText(inputs.targetId),
    contrastId: inputs.contrastId,
    contrast: inputs.contrastId === null ? null : tokenizer.tokenText(inputs.contrastId),
    prependBos: inputs.clean.prependBos,
    cleanTokens: inputs.clean.tokens,
    corruptTokens: inputs.corrupt.tokens,
    cleanLogitDiff,
    corruptLogitDiff,
    entries,
    elapsedMs: performance.now() - started,
  };
}

/** Rough peak working set of one sender in a call: its rows (bytesPerVariant) and its patch rows. */
function callBytes(config: Pick<ModelConfig, 'dModel' | 'dMlp' | 'nHeads' | 'dVocab' | 'nLayers'>, Q: number, P: number): number {
  return bytesPerVariant(config, Q, P) + 4 * config.nLayers * Q * config.dModel;
}

/** (patched − clean) / (clean − corrupt); NaN when |clean − corrupt| is below RECOVERY_MIN_DENOMINATOR, as the sweeps' recovery. */
export function normalizedEffect(patched: number, clean: number, corrupt: number): number {
  const denominator = clean - corrupt;
  if (!(Math.abs(denominator) >= RECOVERY_MIN_DENOMINATOR)) return NaN;
  return (patched - clean) / denominator;
}
