/**
 * TransformerLens hook point names, with their shapes (batch dimension dropped):
 *
 *   hook_embed                      [pos, d_model]
 *   hook_pos_embed                  [pos, d_model]
 *   blocks.L.hook_resid_pre         [pos, d_model]
 *   blocks.L.attn.hook_pattern      [head, query, key]
 *   blocks.L.attn.hook_z            [pos, head, d_head]
 *   blocks.L.hook_attn_out          [pos, d_model]
 *   blocks.L.hook_resid_mid         [pos, d_model]
 *   blocks.L.hook_mlp_out           [pos, d_model]
 *   blocks.L.hook_resid_post        [pos, d_model]
 *   ln_final.hook_scale             [pos, 1]
 *   logits                          [pos, vocab]
 */
import type { Tensor } from './tensor.js';

export const GLOBAL_HOOKS = ['hook_embed', 'hook_pos_embed', 'ln_final.hook_scale', 'logits'] as const;
export const LAYER_HOOKS = [
  'hook_resid_pre',
  'attn.hook_pattern',
  'attn.hook_z',
  'hook_attn_out',
  'hook_resid_mid',
  'hook_mlp_out',
  'hook_resid_post',
] as const;

export type GlobalHook = (typeof GLOBAL_HOOKS)[number];
export type LayerHook = (typeof LAYER_HOOKS)[number];
/** A full hook name, e.g. `blocks.9.attn.hook_z`. */
export type HookName = GlobalHook | `blocks.${number}.${LayerHook}`;

export function layerHook(layer: number, hook: LayerHook): HookName {
  return `blocks.${layer}.${hook}`;
}

/** Every hook point of a model with `nLayers` layers, in the order the forward pass produces them. */
export function allHookNames(nLayers: number): HookName[] {
  const names: HookName[] = ['hook_embed', 'hook_pos_embed'];
  for (let l = 0; l < nLayers; l++) for (const h of LAYER_HOOKS) names.push(layerHook(l, h));
  names.push('ln_final.hook_scale', 'logits');
  return names;
}

const LAYER_HOOK_RE = /^blocks\.(\d+)\.(hook_resid_pre|attn\.hook_pattern|attn\.hook_z|hook_attn_out|hook_resid_mid|hook_mlp_out|hook_resid_post)$/;

/** Parses a hook name; returns null for names that are not hook points of a model of `nLayers` layers. */
export function parseHookName(name: string, nLayers: number): { layer: number; hook: LayerHook } | { layer: null; hook: GlobalHook } | null {
  if ((GLOBAL_HOOKS as readonly string[]).includes(name)) return { layer: null, hook: name as GlobalHook };
  const m = LAYER_HOOK_RE.exec(name);
  if (!m) return null;
  const layer = Number(m[1]);
  if (layer >= nLayers) return null;
  return { layer, hook: m[2] as LayerHook };
}

/**
 * The activations of one forward pass, by hook name. Only requested hooks are present. Read-only:
 * tensors may share memory (a layer's hook_resid_pre is the previous layer's hook_resid_post, and
 * variants of a batch are views into one array).
 */
export type ActivationCache = Map<HookName, Tensor>;
