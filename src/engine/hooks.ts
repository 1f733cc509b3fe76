/**
 * Hook points: the registry (hooks/registry.ts, one entry per hook point with its name, alias,
 * shape, graph input or output and patchability) and the name helpers over it (hooks/names.ts).
 */
import type { Tensor } from './tensor.js';
import type { HookName } from './hooks/registry.js';

export {
  GLOBAL_HOOKS,
  LAYER_HOOKS,
  HOOK_POINTS,
  PATCHABLE_ALIASES,
  type GlobalHook,
  type HookAlias,
  type HookName,
  type LayerHook,
  type PatchableAlias,
} from './hooks/registry.js';
export { actName, allHookNames, layerHook, parseHookName } from './hooks/names.js';

/**
 * The activations of one forward pass, by hook name. Only requested hooks are present. Read-only:
 * tensors may share memory (a layer's hook_resid_pre is the previous layer's hook_resid_post, and
 * variants of a batch are views into one array).
 */
export type ActivationCache = Map<HookName, Tensor>;
