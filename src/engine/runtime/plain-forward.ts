/**
 * The plain forward: one prompt from its embeddings through every block and the final graph,
 * fetching only the requested hooks. No variants, patches, cached past or start point: those
 * belong to the variant forward (variant-forward.ts).
 */
import { throwIfCancelled } from '../errors.js';
import { graphFamily } from '../model/config.js';
import type { ActivationCache } from '../hooks.js';
import { tensor } from '../tensor.js';
import { positionFeeds, rotaryFeeds } from './block-feeds.js';
import { embed } from './embedding.js';
import { layerMasks, recordBlockOutputs, runFinal, variantKeysValues } from './forward-steps.js';
import { planHooks } from './hook-plan.js';
import { f32 } from './ort-tensors.js';
import { throwIfNonFinite } from './output-check.js';
import { checkIds } from './prompt-checks.js';
import type { ModelSessions } from './sessions.js';
import type { ForwardOptions, ForwardResult, KeysValues } from './types.js';

export async function plainForward(s: ModelSessions, ids: readonly number[], options: ForwardOptions = {}): Promise<ForwardResult> {
  const started = performance.now();
  const { config } = s;
  const { dModel: D, nLayers } = config;
  checkIds(ids, config);
  const plan = planHooks(options.hooks ?? ['logits'], nLayers, graphFamily(config));
  const keepKV = options.keepKeysValues ?? false;
  const P = ids.length;
  const cache: ActivationCache = new Map();
  const caches = [cache];
  const keysValues: KeysValues[] = [];
  const residPost: Float32Array[] = [];
  const masks = layerMasks(config, P, 0);
  const positions = positionFeeds(s.blocks[0]!, 0, P);
  const rotary = rotaryFeeds(
    s.blocks[0]!,
    config,
    Array.from({ length: P }, (_, i) => i),
  )(1);

  let resid = embed(s.weights, D, ids, 0, plan, caches);
  for (let layer = 0; layer < nLayers; layer++) {
    throwIfCancelled(options.signal);
    // A view, not a copy: hook_resid_pre of layer L and hook_resid_post of L - 1 share their values, as in PyTorch.
    const residPre = plan.residPre[layer];
    if (residPre) cache.set(residPre, tensor(resid, [P, D]));
    const fetches = keepKV ? [...plan.fetches[layer]!, 'k', 'v'] : plan.fetches[layer]!;
    const out = await s.blocks[layer]!.run(
      { ...s.unpatched, resid_pre: f32(resid, [1, P, D]), attn_mask: masks[layer]!, ...positions, ...rotary, ...s.weightFeeds[layer] },
      fetches,
    );
    recordBlockOutputs(out, plan.outputs[layer]!, caches);
    if (keepKV) keysValues.push(variantKeysValues(out['k']!.data as Float32Array, out['v']!.data as Float32Array, 0, undefined, config, 0, P));
    resid = out['resid_post']!.data as Float32Array;
    residPost.push(resid);
    if (options.onLayer) options.onLayer(layer, cache);
  }

  if (plan.global.has('logits') || plan.global.has('ln_final.hook_scale')) {
    throwIfCancelled(options.signal);
    const positions = options.logitPositions ?? Array.from({ length: P }, (_, i) => i);
    await runFinal(s, plan, resid, caches, P, positions, undefined);
  }
  const logits = s.logitsMayOverflow ? cache.get('logits')?.data : undefined;
  throwIfNonFinite({ nLayers, finalResid: resid, residPost, caches, ...(logits ? { extra: [logits] } : {}) });
  return {
    cache,
    provider: s.provider,
    elapsedMs: performance.now() - started,
    ...(keepKV ? { keysValues } : {}),
  };
}
