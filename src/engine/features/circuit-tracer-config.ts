/**
 * circuit-tracer's transcoder config (YAML), in both forms it has had:
 *
 * - a transcoder set listed by layer (its first release's configs/*.yaml):
 *     model_name, feature_input_hook, feature_output_hook,
 *     transcoders: [{ id, layer, filepath }]   filepath relative, absolute or hf://repo/path?revision=
 *   whose relu files store W_dec transposed ([d_model, d_sae]);
 * - the `config.yaml` of a hub repo (later releases):
 *     model_kind: transcoder_set | cross_layer_transcoder, model_name, feature_input_hook,
 *     feature_output_hook, optional activation (relu, topk, jump_relu) and k, and optional
 *     transcoders: [path, ...] indexed by layer; without it the files are layer_{l}.safetensors
 *     (a set) or W_enc_{l}.safetensors and W_dec_{l}.safetensors (a cross-layer transcoder) beside it.
 *
 * Hook names are circuit-tracer's short per-layer ones (`hook_resid_mid`, `ln2.hook_normalized`,
 * `mlp.hook_out`, `hook_mlp_out`); dictionary-hooks.ts makes them full per layer.
 */
import { EngineError } from '../errors.js';
import { isObject, optionalNumber, optionalString, requiredString } from './json-fields.js';
import { parseConfigYaml } from './config-yaml.js';

export const CIRCUIT_TRACER_CONFIG = 'config.yaml';

export interface TranscoderFileRef {
  layer: number;
  /** As the config writes it: relative to the config's folder, absolute, or hf://owner/name/path[?revision=…]. */
  path: string;
}

export interface CircuitTracerConfig {
  kind: 'transcoder_set' | 'cross_layer_transcoder';
  modelName: string | null;
  inputHook: string;
  outputHook: string;
  /** The files by layer, or null when they are the conventional names beside the config. */
  transcoders: TranscoderFileRef[] | null;
  /** The first release's layout: relu files store W_dec as [d_model, d_sae]. */
  transposedDecoders: boolean;
  activation: 'relu' | 'topk' | 'jump_relu' | null;
  k: number | null;
}

export function parseCircuitTracerConfig(text: string, label: string): CircuitTracerConfig {
  const yaml = parseConfigYaml(text, label);
  const inputHook = requiredString(yaml, 'feature_input_hook', label);
  const outputHook = requiredString(yaml, 'feature_output_hook', label);
  const modelName = optionalString(yaml, 'model_name', label);
  const kindValue = optionalString(yaml, 'model_kind', label) ?? 'transcoder_set';
  if (kindValue !== 'transcoder_set' && kindValue !== 'cross_layer_transcoder') {
    throw new EngineError('BAD_CONFIG', `${label}: model_kind "${kindValue}" is not supported.`, 'Supported: transcoder_set, cross_layer_transcoder.');
  }
  const activationValue = optionalString(yaml, 'activation', label);
  if (activationValue !== null && activationValue !== 'relu' && activationValue !== 'topk' && activationValue !== 'jump_relu') {
    throw new EngineError('BAD_CONFIG', `${label}: activation "${activationValue}" is not supported.`, 'Supported: relu, topk, jump_relu.');
  }
  const k = optionalNumber(yaml, 'k', label);
  if (activationValue === 'topk' && (k === null || !Number.isInteger(k) || k < 1)) {
    throw new EngineError('BAD_CONFIG', `${label}: activation topk needs a positive integer k.`);
  }
  const list = yaml['transcoders'];
  let transcoders: TranscoderFileRef[] | null = null;
  let transposedDecoders = false;
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list) || list.length === 0) throw new EngineError('BAD_CONFIG', `${label}: "transcoders" must be a non-empty list.`);
    transcoders = list.map((entry, index) => {
      if (typeof entry === 'string') return { layer: index, path: entry };
      if (isObject(entry)) {
        transposedDecoders = true;
        const layer = entry['layer'];
        if (typeof layer !== 'number' || !Number.isInteger(layer) || layer < 0) {
          throw new EngineError('BAD_CONFIG', `${label}: transcoder ${index} has no layer (a non-negative integer).`);
        }
        return { layer, path: requiredString(entry, 'filepath', `${label}, transcoder ${index}`) };
      }
      throw new EngineError('BAD_CONFIG', `${label}: transcoder ${index} is neither a path nor a {id, layer, filepath} entry.`);
    });
    // circuit-tracer wants every layer from 0; a dictionary here may cover some layers only.
    const layers = transcoders.map((t) => t.layer).sort((a, b) => a - b);
    layers.forEach((layer, i) => {
      if (i > 0 && layer === layers[i - 1]) throw new EngineError('BAD_CONFIG', `${label} lists two transcoders for layer ${layer}.`);
    });
    transcoders.sort((a, b) => a.layer - b.layer);
  }
  return { kind: kindValue, modelName, inputHook, outputHook, transcoders, transposedDecoders, activation: activationValue, k };
}

/** A parsed `hf://owner/name/path/in/repo?revision=rev` reference. */
export interface HfUri {
  repo: string;
  path: string;
  revision: string | null;
}

export function parseHfUri(uri: string, label: string): HfUri {
  const m = /^hf:\/\/([^/?#]+\/[^/?#]+)\/([^?#]+)(?:\?(.*))?$/.exec(uri);
  if (!m) throw new EngineError('BAD_CONFIG', `${label}: "${uri}" is not an hf://owner/name/path reference.`);
  const revision = m[3] ? new URLSearchParams(m[3]).get('revision') : null;
  return { repo: m[1]!, path: decodeURIComponent(m[2]!), revision: revision || null };
}
