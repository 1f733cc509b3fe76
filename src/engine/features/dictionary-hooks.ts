/**
 * The hooks a dictionary reads and writes, checked against the model: TransformerLens names as
 * SAELens writes them (`blocks.8.hook_resid_pre`), and circuit-tracer's short per-layer names
 * (`hook_resid_mid`, `ln2.hook_normalized`, `mlp.hook_out`) made full for one layer.
 *
 * A dictionary hook must be a d_model-wide per-layer hook point of the model's graph family, or one
 * of the two MLP inputs the feature code computes from the block's hooks (they are no graph outputs):
 * `blocks.L.ln2.hook_normalized` (TransformerLens's normalised value before the norm's weight) and
 * `blocks.L.mlp.hook_in` (the MLP's input: after ln2, its weight included).
 */
import { EngineError } from '../errors.js';
import { parseHookName } from '../hooks/names.js';
import { hasHook, hookPoint, type HookName } from '../hooks/registry.js';
import { graphFamily, type ModelConfig } from '../model/config.js';

/** The two MLP-input hooks computed by the feature code rather than fetched from a graph. */
export const DERIVED_MLP_INPUT_HOOKS = ['ln2.hook_normalized', 'mlp.hook_in'] as const;

/** What the loader needs of the model: its depth, width and graph family. */
export type DictionaryModelConfig = Pick<ModelConfig, 'nLayers' | 'dModel' | 'norm' | 'positional' | 'parallelResidual' | 'postNorms'>;

export interface ResolvedHook {
  layer: number;
  name: HookName;
}

const LAYER_PREFIX = /^blocks\.(\d+)\.(.+)$/;

/**
 * Checks TransformerLens hook `name` against the model: BAD_CONFIG naming the hook when its layer
 * does not exist, it is no hook point of this model, or it is not d_model wide.
 * @param label the dictionary file that names the hook, for messages
 */
export function resolveDictionaryHook(name: string, model: DictionaryModelConfig, label: string): ResolvedHook {
  const prefixed = LAYER_PREFIX.exec(name);
  if (!prefixed) {
    throw new EngineError(
      'BAD_CONFIG',
      `${label} names hook "${name}", which is not a per-layer hook (blocks.L.…).`,
      'Dictionaries read and write per-layer d_model hooks such as blocks.8.hook_resid_pre or blocks.3.hook_mlp_out.',
    );
  }
  const layer = Number(prefixed[1]);
  const rest = prefixed[2]!;
  if (layer >= model.nLayers) {
    throw new EngineError(
      'BAD_CONFIG',
      `${label} names hook "${name}" of layer ${layer}, but the model has ${model.nLayers} layers (0–${model.nLayers - 1}).`,
      'Load the dictionary with the model it was trained on.',
    );
  }
  // The derived MLP inputs share HookName's `blocks.L.<hook>` form; the feature code computes them.
  if ((DERIVED_MLP_INPUT_HOOKS as readonly string[]).includes(rest)) return { layer, name: name as HookName };
  const parsed = parseHookName(name, model.nLayers);
  if (!parsed || parsed.layer === null) {
    throw new EngineError('BAD_CONFIG', `${label} names hook "${name}", which is no hook point Circuit Trace knows.`, supportedHint());
  }
  const point = hookPoint(parsed.hook);
  const family = graphFamily(model);
  if (!hasHook(point, family)) {
    throw new EngineError('BAD_CONFIG', `${label} names hook "${name}", which models of this architecture (${family}) do not have.`, supportedHint());
  }
  if (point.shape.length !== 2 || point.shape[1] !== 'd_model') {
    throw new EngineError(
      'BAD_CONFIG',
      `${label} names hook "${name}", which is [${point.shape.join(', ')}] and not a d_model-wide hook.`,
      'Dictionaries of per-head or d_mlp hooks are not supported; ' + supportedHint(),
    );
  }
  return { layer, name: name as HookName };
}

function supportedHint(): string {
  return 'Supported: d_model hooks (hook_resid_pre, hook_resid_mid, hook_resid_post, hook_attn_out, hook_mlp_out) and the MLP inputs ln2.hook_normalized and mlp.hook_in.';
}

/**
 * circuit-tracer's short hook name for `layer` as a full TransformerLens name: `mlp.hook_out` is
 * TransformerLens's `hook_mlp_out`; every other short name is the per-layer hook of that name.
 */
export function fullHookName(short: string, layer: number): string {
  const trimmed = short.trim();
  if (LAYER_PREFIX.test(trimmed)) return trimmed.replace(/^blocks\.\d+\./, `blocks.${layer}.`);
  const hook = trimmed === 'mlp.hook_out' ? 'hook_mlp_out' : trimmed;
  return `blocks.${layer}.${hook}`;
}

/** Throws WRONG_SHAPE unless the dictionary's d_model equals the model's. */
export function assertModelWidth(dModel: number, model: DictionaryModelConfig, what: string, label: string): void {
  if (dModel !== model.dModel) {
    throw new EngineError(
      'WRONG_SHAPE',
      `${label}: ${what} is ${dModel} but the model's d_model is ${model.dModel}.`,
      'Load the dictionary with the model it was trained on.',
    );
  }
}
