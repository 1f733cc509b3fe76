/**
 * The variant forward (interventions): copies of a prompt run as one batch, each variant with its
 * own patches, its own start point (layer and residual stream) and optionally its own prompt of
 * the same length; optionally only the last query positions, against cached keys and values.
 * Variants that start at different layers run as one wavefront: each joins the batch at its
 * start layer, so every layer's weights are read once for all of them.
 */
import { EngineError, throwIfCancelled } from '../errors.js';
import { graphFamily } from '../model/config.js';
import type { ActivationCache } from '../hooks.js';
import { embed } from './embedding.js';
import { positionFeeds, rotaryFeeds, variantBlockFeeds } from './block-feeds.js';
import { layerMasks, recordBlockOutputs, runFinal, splitBatch, variantKeysValues } from './forward-steps.js';
import { planHooks } from './hook-plan.js';
import { throwIfNonFinite } from './output-check.js';
import { applyResidPatches } from './patch-rows.js';
import { checkIds, checkScoreTokens } from './prompt-checks.js';
import type { ModelSessions } from './sessions.js';
import type { ForwardResult, InterventionRequest, KeysValues, TokenScores } from './types.js';

/** Runs every variant of the request as one batch; returns one result per variant, in order. */
export async function runVariants(s: ModelSessions, request: InterventionRequest): Promise<ForwardResult[]> {
  const started = performance.now();
  const { config } = s;
  const { dModel: D, nLayers } = config;
  const { ids, variants } = request;
  checkIds(ids, config);
  const B = variants.length;
  if (B === 0) return [];
  const keepKV = request.keepKeysValues ?? false;
  const P = ids.length;
  const plan = planHooks(request.hooks ?? ['logits'], nLayers, graphFamily(config));
  const q0 = request.queryFrom ?? 0;
  if (q0 < 0 || q0 >= P) throw new EngineError('BAD_ARGUMENT', `queryFrom ${q0} must be within the prompt (0..${P - 1}).`);
  if (q0 > 0 && (!request.past || request.past.length < nLayers))
    throw new EngineError('BAD_ARGUMENT', 'queryFrom needs the cached keys and values of every layer (past).');
  const Q = P - q0; // query positions run
  const caches: ActivationCache[] = Array.from({ length: B }, () => new Map());
  // With keepKV: per variant, per layer, its keys and values of every position.
  const keysValues: KeysValues[][] = Array.from({ length: B }, () => []);

  // Where each variant starts, and the residual stream it starts from ([q, d_model] rows).
  const starts = variants.map((v) => v.startLayer ?? 0);
  for (const s0 of starts) {
    if (!Number.isInteger(s0) || s0 < 0 || s0 > nLayers) throw new EngineError('BAD_ARGUMENT', `startLayer ${s0} is outside 0..${nLayers}.`);
  }
  // Blocks below `end` run; with an earlier end there is no final call.
  const end = request.endLayer ?? nLayers;
  if (!Number.isInteger(end) || end < Math.max(...starts) || end > nLayers)
    throw new EngineError('BAD_ARGUMENT', `endLayer ${end} must be from the latest startLayer to ${nLayers}.`);
  if (end < nLayers && (request.scoreTokens || plan.global.has('logits') || plan.global.has('ln_final.hook_scale')))
    throw new EngineError('BAD_ARGUMENT', `A run that ends at layer ${end}, before the last, has no logits, scores or ln_final.hook_scale.`);
  if (keepKV && starts.some((s0) => s0 !== 0)) throw new EngineError('BAD_ARGUMENT', 'keepKeysValues needs every variant to start at layer 0.');
  const promptOf = (b: number): readonly number[] => variants[b]!.ids ?? ids;
  variants.forEach((variant, b) => {
    if (!variant.ids) return;
    checkIds(variant.ids, config);
    if (variant.ids.length !== P)
      throw new EngineError(
        'BAD_ARGUMENT',
        `A variant's own prompt has ${variant.ids.length} tokens; the request's has ${P}.`,
        'Variants of one batch run prompts of the same length.',
      );
    if (starts[b] !== 0 || variant.startResid)
      throw new EngineError('BAD_ARGUMENT', "A variant's own prompt starts from its embeddings: no startLayer or startResid.");
    for (let p = 0; p < q0; p++) {
      if (variant.ids[p] !== ids[p])
        throw new EngineError(
          'BAD_ARGUMENT',
          `A variant's own prompt differs from the request's at position ${p}, before queryFrom ${q0}, where the cached keys and values are the request's.`,
        );
    }
  });
  // Embedding rows per distinct prompt, recording hook_embed / hook_pos_embed for its variants.
  const embedded = new Map<readonly number[], Float32Array>();
  const initialRows = (b: number): Float32Array => {
    const own = variants[b]!.startResid;
    if (own) {
      if (own.data.length !== P * D) throw new EngineError('BAD_ARGUMENT', `startResid must be [${P}, ${D}].`);
      return own.data.subarray(q0 * D);
    }
    if (starts[b] !== 0) throw new EngineError('BAD_ARGUMENT', 'A start layer above 0 needs startResid.');
    const prompt = promptOf(b);
    let rows = embedded.get(prompt);
    if (!rows) {
      const recordIn = caches.filter((_, v) => starts[v] === 0 && promptOf(v) === prompt && !variants[v]!.startResid);
      rows = embed(s.weights, D, prompt, q0, plan, recordIn);
      embedded.set(prompt, rows);
    }
    return rows;
  };
  const masks = layerMasks(config, P, q0);
  const positions = positionFeeds(s.blocks[0]!, q0, Q);
  const rotary = rotaryFeeds(
    s.blocks[0]!,
    config,
    Array.from({ length: Q }, (_, i) => q0 + i),
  );

  // The batch is a wavefront: a variant joins at its start layer. `active` lists the batch's rows.
  let active: number[] = [];
  let resid: Float32Array = new Float32Array(0);
  const residPost: Float32Array[] = [];
  const join = (layer: number): void => {
    const joiners = starts.flatMap((s0, b) => (s0 === layer ? [b] : []));
    if (joiners.length === 0) return;
    const grown = new Float32Array((active.length + joiners.length) * Q * D);
    grown.set(resid);
    joiners.forEach((b, k) => grown.set(initialRows(b), (active.length + k) * Q * D));
    resid = grown;
    active = [...active, ...joiners];
  };
  const first = Math.min(...starts);
  for (let layer = first; layer < end; layer++) {
    throwIfCancelled(request.signal);
    join(layer);
    const rows = active.map((b) => caches[b]!);
    const batch = active.map((b) => variants[b]!);
    resid = applyResidPatches(resid, batch, layer, q0, Q, D);
    // Views, not copies: `resid` is this run's own array (the joined batch, a patched copy or the
    // previous block's output), never the caller's, and nothing writes to it afterwards. So
    // hook_resid_pre of layer L and hook_resid_post of L - 1 share their values, as in PyTorch.
    const residPre = plan.residPre[layer];
    if (residPre) splitBatch(resid, [Q, D], rows, residPre);

    const past = q0 > 0 ? request.past![layer]! : null;
    const feeds = variantBlockFeeds(config, s.unpatched, batch, past, layer, resid, masks[layer]!, q0, Q);
    const fetches = keepKV ? [...plan.fetches[layer]!, 'k', 'v'] : plan.fetches[layer]!;
    const out = await s.blocks[layer]!.run({ ...feeds, ...positions, ...rotary(batch.length), ...s.weightFeeds[layer] }, fetches);
    recordBlockOutputs(out, plan.outputs[layer]!, rows);
    if (keepKV) {
      active.forEach((b, row) =>
        keysValues[b]!.push(variantKeysValues(out['k']!.data as Float32Array, out['v']!.data as Float32Array, row, request.past?.[layer], config, q0, Q)),
      );
    }
    resid = out['resid_post']!.data as Float32Array;
    residPost[layer] = resid;
  }
  join(end);

  const scoreTokens = request.scoreTokens ? checkScoreTokens(request.scoreTokens, config) : undefined;
  const scores: Array<TokenScores | undefined> = new Array(B);
  if (plan.global.has('logits') || plan.global.has('ln_final.hook_scale') || scoreTokens) {
    throwIfCancelled(request.signal);
    const rows = active.map((b) => caches[b]!);
    const positions = (request.logitPositions ?? Array.from({ length: Q }, (_, i) => q0 + i)).map((p) => p - q0);
    const rowScores = await runFinal(s, plan, resid, rows, Q, positions, scoreTokens);
    rowScores?.forEach((score, row) => {
      scores[active[row]!] = score;
    });
  }
  const extra = scores.flatMap((score) => (score ? [score.logits, score.probs] : []));
  if (s.logitsMayOverflow)
    caches.forEach((cache) => {
      const logits = cache.get('logits');
      if (logits) extra.push(logits.data);
    });
  throwIfNonFinite({ nLayers, finalResid: resid, residPost, caches: active.map((b) => caches[b]!), extra });

  const elapsedMs = performance.now() - started;
  return caches.map((cache, b) => ({
    cache,
    provider: s.provider,
    elapsedMs,
    ...(keepKV ? { keysValues: keysValues[b]! } : {}),
    ...(scores[b] ? { tokenScores: scores[b] } : {}),
  }));
}
