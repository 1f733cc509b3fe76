/**
 * Turns a patch site into the engine's intervention: the site's activation in the corrupted run is
 * replaced by its value from the clean run's cache.
 */
import type { ActivationCache } from '../hooks.js';
import type { InterventionVariant } from '../runtime/types.js';
import { tensor, type Tensor } from '../tensor.js';
import { isHeadHook, siteHookName, type HeadHook, type PatchSite } from './patch-sites.js';

const STREAM_HOOK = { resid_pre: 'hook_resid_pre', attn_out: 'hook_attn_out', mlp_out: 'hook_mlp_out' } as const;
const HEAD_INPUT_HOOK = { q: 'attn.hook_q', k: 'attn.hook_k', v: 'attn.hook_v' } as const;

export class CleanPatchValues {
  /** Per layer and head, that head's clean hook_z: [pos, d_head]. */
  private readonly heads = new Map<string, Tensor>();

  constructor(
    private readonly clean: ActivationCache,
    private readonly nHeads: number,
  ) {}

  private cached(site: Pick<PatchSite, 'hook' | 'layer'>): Tensor {
    const name = siteHookName(site);
    const t = this.clean.get(name);
    if (!t) throw new Error(`patching: the clean run did not keep ${name}`);
    return t;
  }

  /** Head `head` of the clean hook_z (or hook_q/k/v) of `layer`: [pos, head, d_head] -> [pos, d_head]. */
  headOutput(layer: number, head: number, hook: HeadHook = 'z'): Tensor {
    const key = `${hook}:${layer}:${head}`;
    let value = this.heads.get(key);
    if (!value) {
      const z = this.cached({ hook, layer });
      const [P, H, Dh] = z.shape as [number, number, number];
      if (head < 0 || head >= H) throw new Error(`patching: a ${hook} site needs a head in 0..${H - 1}`);
      const out = new Float32Array(P * Dh);
      for (let p = 0; p < P; p++) out.set(z.data.subarray((p * H + head) * Dh, (p * H + head + 1) * Dh), p * Dh);
      value = tensor(out, [P, Dh]);
      this.heads.set(key, value);
    }
    return value;
  }

  variant(site: PatchSite): InterventionVariant {
    const positions = site.position === undefined ? {} : { positions: [site.position] };
    if (site.hook === 'z') {
      if (site.head === undefined || site.head < 0 || site.head >= this.nHeads) throw new Error(`patching: a z site needs a head in 0..${this.nHeads - 1}`);
      return { zPatches: [{ layer: site.layer, head: site.head, ...positions, value: this.headOutput(site.layer, site.head) }] };
    }
    if (isHeadHook(site.hook)) {
      if (site.head === undefined) throw new Error(`patching: a ${site.hook} site needs a head`);
      const value = this.headOutput(site.layer, site.head, site.hook);
      return { zPatches: [{ layer: site.layer, hook: HEAD_INPUT_HOOK[site.hook], head: site.head, ...positions, value }] };
    }
    return { streamPatches: [{ layer: site.layer, hook: STREAM_HOOK[site.hook], ...positions, value: this.cached(site) }] };
  }
}
