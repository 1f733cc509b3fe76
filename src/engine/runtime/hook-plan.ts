/** Which hook points a run returns, and per layer which block outputs it fetches for them. */
import { EngineError } from '../errors.js';
import { allHookNames, layerHook, parseHookName } from '../hooks/names.js';
import { blockOutputOf, hasHook, hookPoint, LAYER_HOOK_POINTS, type GlobalHook, type HookArchitecture, type HookName } from '../hooks/registry.js';

export interface HookPlan {
  global: Set<GlobalHook>;
  /** Per layer: hook_resid_pre's full name if it is wanted (it is the block's input, not an output). */
  residPre: Array<HookName | null>;
  /** Per layer: the wanted hooks the block outputs, in forward order, by full name and graph output. */
  outputs: Array<Array<{ name: HookName; output: string }>>;
  /** Per layer: the block outputs to fetch, resid_post first (it feeds the next block). */
  fetches: string[][];
}

/** Each graph family's models, as the refusal of a hook they lack names them. */
const FAMILY_NAMES: Record<HookArchitecture, string> = {
  gpt2: 'GPT-2-family models',
  llama: 'Llama-family models (Llama, Mistral, Qwen2, Qwen3)',
  gemma: 'Gemma models (Gemma 2, Gemma 3)',
  neox: 'GPT-NeoX models with the parallel residual (Pythia)',
  neox_sequential: 'GPT-NeoX models',
};

/** `arch`: the model's graph family (config.ts graphFamily), whose hook points alone can be asked for. */
export function planHooks(hooks: readonly HookName[] | 'all', nLayers: number, arch: HookArchitecture = 'gpt2'): HookPlan {
  const names = hooks === 'all' ? allHookNames(nLayers, arch) : hooks;
  const global = new Set<GlobalHook>();
  const wanted = Array.from({ length: nLayers }, () => new Set<string>());
  for (const name of names) {
    const parsed = parseHookName(name, nLayers);
    if (!parsed)
      throw new EngineError(
        'BAD_ARGUMENT',
        `"${name}" is not a hook point of this model.`,
        'Use TransformerLens names such as blocks.0.attn.hook_pattern, or "all".',
      );
    if (!hasHook(hookPoint(parsed.hook), arch))
      throw new EngineError(
        'BAD_ARGUMENT',
        `"${name}" is not a hook point of this model: ${FAMILY_NAMES[arch]} do not have it.`,
        'Ask for "all" to get every hook point the model has.',
      );
    if (parsed.layer === null) global.add(parsed.hook);
    else wanted[parsed.layer]!.add(parsed.hook);
  }
  const plan: HookPlan = { global, residPre: [], outputs: [], fetches: [] };
  wanted.forEach((hooks, layer) => {
    const outputs: HookPlan['outputs'][number] = [];
    let residPre: HookName | null = null;
    for (const point of LAYER_HOOK_POINTS) {
      if (!hooks.has(point.name)) continue;
      const output = blockOutputOf(point);
      if (output === null) residPre = layerHook(layer, point.name);
      else outputs.push({ name: layerHook(layer, point.name), output });
    }
    plan.residPre.push(residPre);
    plan.outputs.push(outputs);
    plan.fetches.push([...new Set(['resid_post', ...outputs.map((o) => o.output)])]);
  });
  return plan;
}
