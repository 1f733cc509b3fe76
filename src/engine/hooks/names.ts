/**
 * Hook names, as views over the registry: full names from a layer and hook, from a short alias
 * (TransformerLens's `get_act_name`), every name of a model, and parsing a name back.
 */
import { EngineError } from '../errors.js';
import {
  GLOBAL_HOOKS,
  hasHook,
  HOOK_POINT_LIST,
  hookPointByAlias,
  LAYER_HOOKS,
  type GlobalHook,
  type HookAlias,
  type HookArchitecture,
  type HookName,
  type LayerHook,
} from './registry.js';

export function layerHook(layer: number, hook: LayerHook): HookName {
  return `blocks.${layer}.${hook}`;
}

/**
 * The full name of the hook with short name `alias` (of `layer`, for per-layer hooks), as
 * TransformerLens's `get_act_name`: `actName('z', 9)` is `blocks.9.attn.hook_z`.
 */
export function actName(alias: HookAlias, layer?: number): HookName {
  const point = hookPointByAlias(alias);
  if (!point) throw new EngineError('BAD_ARGUMENT', `"${String(alias)}" is not a hook alias.`);
  if (point.perLayer !== (layer !== undefined)) {
    throw new EngineError('BAD_ARGUMENT', point.perLayer ? `The hook "${alias}" needs a layer.` : `The hook "${alias}" takes no layer.`);
  }
  return layer === undefined ? (point.name as GlobalHook) : layerHook(layer, point.name as LayerHook);
}

/**
 * Every hook point of a model with `nLayers` layers of graph family `arch` (default GPT-2's), in
 * the order the forward pass produces them.
 */
export function allHookNames(nLayers: number, arch: HookArchitecture = 'gpt2'): HookName[] {
  const names: HookName[] = [];
  const points = HOOK_POINT_LIST.filter((p) => hasHook(p, arch));
  const layers = points.filter((p) => p.perLayer).map((p) => p.name as LayerHook);
  const firstLayerHook = points.findIndex((p) => p.perLayer);
  for (const p of points.slice(0, firstLayerHook)) names.push(p.name as GlobalHook);
  for (let l = 0; l < nLayers; l++) for (const h of layers) names.push(layerHook(l, h));
  for (const p of points.slice(firstLayerHook)) if (!p.perLayer) names.push(p.name as GlobalHook);
  return names;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const LAYER_HOOK_RE = new RegExp(`^blocks\\.(\\d+)\\.(${LAYER_HOOKS.map(escape).join('|')})$`);
const GLOBAL_HOOK_SET = new Set<string>(GLOBAL_HOOKS);

/** Parses a hook name; returns null for names that are not hook points of a model of `nLayers` layers. */
export function parseHookName(name: string, nLayers: number): { layer: number; hook: LayerHook } | { layer: null; hook: GlobalHook } | null {
  if (GLOBAL_HOOK_SET.has(name)) return { layer: null, hook: name as GlobalHook };
  const m = LAYER_HOOK_RE.exec(name);
  if (!m) return null;
  const layer = Number(m[1]);
  if (layer >= nLayers) return null;
  return { layer, hook: m[2] as LayerHook };
}
