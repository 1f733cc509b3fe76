/**
 * The value a dictionary layer's encoder reads, [pos, d_in], from a forward's activation cache.
 *
 * The engine computes the unprocessed (Hugging Face) model; a dictionary's hooks hold the values of
 * the TransformerLens model it was trained on (its layer's ModelProcessing), so they are made so here:
 *
 * Any per-layer d_model hook of the registry (hook_resid_pre/mid/post, hook_attn_out, hook_mlp_out)
 * is read as it is, or, with center_writing_weights on a LayerNorm model, minus its mean over
 * d_model at each position (TransformerLens centres every weight writing to the residual stream,
 * so every such hook is the unprocessed value centred). Hooks are checked as the dictionary loader
 * checks them (dictionary-hooks.ts).
 * Two more hooks, TransformerLens's and circuit-tracer's names for what the MLP's norm makes of its input, are no graph outputs and are computed here on the host
 * from the MLP's input stream x (hook_resid_mid, or hook_resid_pre with GPT-NeoX's parallel
 * residual), the norm's scale s (the cached ln2.hook_scale where the graph family has it, else
 * sqrt(var(x) + eps) recomputed in float64 as GPT-2's LayerNorm does) and the norm's weights
 * (centring x first changes neither: LayerNorm removes the mean):
 *
 *   blocks.L.ln2.hook_normalized   LayerNorm: (x − mean(x)) / s with fold_ln (LayerNormPre), that · w + b without it
 *                                  RMSNorm: x / s (before the weight) either way
 *   blocks.L.mlp.hook_in           hook_normalized · w + b: what the MLP reads (Gemma's stored 1 + w is the weight)
 */
import { EngineError } from '../errors.js';
import type { ActivationCache } from '../hooks.js';
import { layerHook } from '../hooks/names.js';
import { hasHook, hookPoint, type HookArchitecture, type HookName } from '../hooks/registry.js';
import { graphFamily, type ModelConfig } from '../model/config.js';
import { DERIVED_MLP_INPUT_HOOKS, resolveDictionaryHook, type DictionaryModelConfig } from './dictionary-hooks.js';
import type { AnalysisWeights } from '../model/weights.js';
import { tensor, type Tensor } from '../tensor.js';
import type { ModelProcessing } from './dictionary.js';

/** The per-layer hooks computed on the host, not read from the graph. */
export type DerivedInputHook = (typeof DERIVED_MLP_INPUT_HOOKS)[number];

/** A hook a dictionary can read or write: a d_model hook point, or one of the derived hooks. */
export type DictionaryHook = HookName | `blocks.${number}.${DerivedInputHook}`;

/** Where a dictionary hook's value comes from. */
export type ClassifiedDictionaryHook = { kind: 'cached'; name: HookName; layer: number } | { kind: 'derived'; hook: DerivedInputHook; layer: number };

type HookConfig = DictionaryModelConfig;

/**
 * Checks `hook` against the model as the dictionary loader does (a typed BAD_CONFIG error names a
 * hook that is no per-layer d_model hook of this model) and says whether it is cached or derived.
 */
export function classifyDictionaryHook(hook: string, config: HookConfig): ClassifiedDictionaryHook {
  const { layer, name } = resolveDictionaryHook(hook, config, 'The dictionary');
  const short = name.slice(`blocks.${layer}.`.length);
  return (DERIVED_MLP_INPUT_HOOKS as readonly string[]).includes(short)
    ? { kind: 'derived', hook: short as DerivedInputHook, layer }
    : { kind: 'cached', name, layer };
}

/** The MLP's input stream of layer `layer`: resid_mid, or resid_pre when attention and MLP both read it. */
function mlpStream(layer: number, config: Pick<ModelConfig, 'parallelResidual'>): HookName {
  return layerHook(layer, config.parallelResidual === true ? 'hook_resid_pre' : 'hook_resid_mid');
}

/** Whether graph family `arch` caches ln2.hook_scale (GPT-2's LayerNorm does not: it is recomputed). */
function cachesLn2Scale(arch: HookArchitecture): boolean {
  return hasHook(hookPoint('ln2.hook_scale'), arch);
}

/** The hooks a forward must return for `hook`'s value to be computed (see dictionaryInput). */
export function dictionaryHookSources(hook: string, config: HookConfig): HookName[] {
  const resolved = classifyDictionaryHook(hook, config);
  if (resolved.kind === 'cached') return [resolved.name];
  const sources = [mlpStream(resolved.layer, config)];
  if (cachesLn2Scale(graphFamily(config))) sources.push(layerHook(resolved.layer, 'ln2.hook_scale'));
  return sources;
}

function cached(cache: ActivationCache, name: HookName): Tensor {
  const t = cache.get(name);
  if (!t) throw new EngineError('INTERNAL', `The forward did not return ${name}, which a dictionary's hook is computed from.`);
  return t;
}

/** Whether `processing` centres the residual stream of this model: center_writing_weights, on LayerNorm models only. */
export function centresStream(processing: ModelProcessing, config: Pick<ModelConfig, 'norm'>): boolean {
  return processing.centerWritingWeights && config.norm !== 'rmsnorm';
}

/** Whether ln2.hook_normalized is after the norm's weight and bias: LayerNorm without fold_ln. */
export function normalizedHasWeights(processing: ModelProcessing, config: Pick<ModelConfig, 'norm'>): boolean {
  return !processing.foldLn && config.norm !== 'rmsnorm';
}

/** Subtracts each [d] row's mean from it, in place (the mean summed in float64). */
function centreRows(rows: Float32Array, d: number): void {
  for (let start = 0; start < rows.length; start += d) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += rows[start + i]!;
    mean /= d;
    for (let i = 0; i < d; i++) rows[start + i] = rows[start + i]! - mean;
  }
}

/**
 * The value of dictionary hook `hook` for every position, [pos, d_model] (float32), from a cache
 * holding dictionaryHookSources(hook), as the model processed by `processing` holds it. The
 * returned array is never the cache's own (callers may transform it in place).
 */
export function dictionaryInput(
  hook: string,
  cache: ActivationCache,
  config: HookConfig & Pick<ModelConfig, 'dModel' | 'eps'>,
  weights: Pick<AnalysisWeights, 'blocks'>,
  processing: ModelProcessing,
): Tensor {
  const resolved = classifyDictionaryHook(hook, config);
  if (resolved.kind === 'cached') {
    const t = cached(cache, resolved.name);
    const data = t.data.slice();
    if (centresStream(processing, config)) centreRows(data, t.shape[t.shape.length - 1]!);
    return tensor(data, t.shape);
  }
  const L = resolved.layer;
  const D = config.dModel;
  const x = cached(cache, mlpStream(L, config)); // [pos, d_model]
  const P = x.shape[0]!;
  const scales = cachesLn2Scale(graphFamily(config)) ? cached(cache, layerHook(L, 'ln2.hook_scale')).data : null; // [pos, 1]
  const rms = config.norm === 'rmsnorm';
  const ln = weights.blocks[L]!.ln2;
  const withWeight = resolved.hook === 'mlp.hook_in' || normalizedHasWeights(processing, config);
  const out = new Float32Array(P * D);
  for (let p = 0; p < P; p++) {
    const row = x.data.subarray(p * D, (p + 1) * D);
    let mean = 0;
    if (!rms) {
      for (let i = 0; i < D; i++) mean += row[i]!;
      mean /= D;
    }
    let scale: number;
    if (scales) scale = scales[p]!;
    else {
      let variance = 0;
      for (let i = 0; i < D; i++) variance += (row[i]! - mean) ** 2;
      scale = Math.sqrt(variance / D + config.eps);
    }
    for (let i = 0; i < D; i++) {
      const normalized = (row[i]! - mean) / scale;
      out[p * D + i] = withWeight ? normalized * ln.w.data[i]! + (rms ? 0 : ln.b.data[i]!) : normalized;
    }
  }
  return tensor(out, [P, D]);
}
