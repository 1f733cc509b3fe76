/**
 * Interventions with attention frozen, as circuit-tracer's feature_intervention with
 * freeze_attention: every head's pattern is held at its value in a clean run of the same prompt and
 * everything else (values, norms, MLPs, the residual stream) is recomputed. The runtime replaces a
 * head's output, not its pattern, so each layer runs twice: once for its values v under the
 * variant's patches, then with hook_z := P_clean · v for every head (grouped-query heads reading
 * their kv head), and the next layer starts from that run's residual stream.
 *
 * It stands in for a runner's `intervene` (for steer-features.ts), for the requests that code makes:
 * stream and row patches, a start layer and residual, an end layer, named hooks and logit positions.
 */
import { EngineError, throwIfCancelled } from '../../errors.js';
import type { ActivationCache, HookName } from '../../hooks.js';
import { layerHook, parseHookName } from '../../hooks/names.js';
import type { ForwardResult, ForwardRunner, InterventionRequest, ZPatch } from '../../runtime/types.js';
import { tensor, type Tensor } from '../../tensor.js';

export type FrozenAttentionRunner = Pick<ForwardRunner, 'config' | 'weights' | 'intervene'>;

/** A runner whose interventions keep the attention patterns of a clean run of `ids`. */
export async function frozenAttentionRunner(
  runner: Pick<ForwardRunner, 'config' | 'weights' | 'forward' | 'intervene'>,
  ids: readonly number[],
): Promise<FrozenAttentionRunner> {
  const { nLayers: L, nHeads: H, dHead: Dh } = runner.config;
  const KV = runner.config.nKvHeads ?? H;
  const P = ids.length;
  const clean = await runner.forward(ids, { hooks: Array.from({ length: L }, (_, l) => layerHook(l, 'attn.hook_pattern')) });
  const patterns = Array.from({ length: L }, (_, l) => clean.cache.get(layerHook(l, 'attn.hook_pattern'))!.data); // [head, q, k]

  /** hook_z of layer l from its values v ([pos, kv_head, d_head]) under the frozen patterns: one ZPatch per head. */
  const frozenZ = (l: number, v: Float32Array): ZPatch[] =>
    Array.from({ length: H }, (_, h) => {
      const kv = Math.floor(h / (H / KV));
      const z = new Float32Array(P * Dh);
      const pattern = patterns[l]!;
      for (let q = 0; q < P; q++)
        for (let k = 0; k <= q; k++) {
          const a = pattern[(h * P + q) * P + k]!;
          if (a === 0) continue;
          for (let j = 0; j < Dh; j++) z[q * Dh + j]! += a * v[(k * KV + kv) * Dh + j]!;
        }
      return { layer: l, head: h, value: tensor(z, [P, Dh]) };
    });

  const intervene = async (request: InterventionRequest): Promise<ForwardResult[]> => {
    if (request.queryFrom !== undefined || request.past || request.keepKeysValues || request.scoreTokens || request.hooks === 'all')
      throw new EngineError('INTERNAL', 'Frozen-attention interventions take named hooks, full prompts and no cached keys or values.');
    if (request.ids.length !== P || request.ids.some((id, i) => id !== ids[i]))
      throw new EngineError('INTERNAL', 'A frozen-attention intervention runs the prompt its patterns came from.');
    const hooks = request.hooks ?? ['logits'];
    const end = request.endLayer ?? L;
    const results: ForwardResult[] = [];
    for (const variant of request.variants) {
      if (variant.ids || variant.zPatches?.length) throw new EngineError('INTERNAL', 'Frozen-attention variants take no prompt of their own and no z patches.');
      const started = performance.now();
      const cache: ActivationCache = new Map();
      const start = variant.startLayer ?? 0;
      let resid: Tensor | null = start > 0 ? (variant.startResid ?? null) : null;
      let provider = '';
      for (let l = start; l < end; l++) {
        throwIfCancelled(request.signal);
        const streamPatches = (variant.streamPatches ?? []).filter((p) => p.layer === l);
        const from = resid ? { startLayer: l, startResid: resid } : {};
        const [values] = await runner.intervene({ ids, variants: [{ streamPatches, ...from }], hooks: [layerHook(l, 'attn.hook_v')], endLayer: l + 1 });
        const last = l === L - 1;
        const wanted = hooks.filter((name) => {
          const parsed = parseHookName(name, L);
          return parsed !== null && (parsed.layer === l || (parsed.layer === null && (last || name === 'hook_embed' || name === 'hook_pos_embed')));
        });
        const [run] = await runner.intervene({
          ids,
          variants: [{ streamPatches, zPatches: frozenZ(l, values!.cache.get(layerHook(l, 'attn.hook_v'))!.data), ...from }],
          hooks: [...new Set<HookName>([...wanted, layerHook(l, 'hook_resid_post')])],
          ...(last && end === L ? {} : { endLayer: l + 1 }),
          ...(request.logitPositions ? { logitPositions: request.logitPositions } : {}),
        });
        provider = run!.provider;
        for (const name of wanted) {
          const t = run!.cache.get(name);
          if (t) cache.set(name, t);
        }
        resid = run!.cache.get(layerHook(l, 'hook_resid_post'))!;
      }
      results.push({ cache, provider, elapsedMs: performance.now() - started });
    }
    return results;
  };
  return { config: runner.config, weights: runner.weights, intervene };
}
