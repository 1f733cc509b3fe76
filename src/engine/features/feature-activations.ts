/**
 * A prompt's features: one forward with only the hooks the dictionary reads and writes, each
 * dictionary layer's encoding (encode.ts), and per layer the active features (activation > 0), the
 * top k per position, the reconstruction error of its output hook against the true value (its norm
 * and its share of the hook's norm), and the feature × position heatmap of the features active
 * anywhere. A cross-layer transcoder's output at layer l is reconstructed from every feature layer
 * that writes it, so those layers are encoded too.
 */
import { topKIndices } from '../analysis/top-k.js';
import { throwIfCancelled } from '../errors.js';
import type { HookName } from '../hooks.js';
import type { MatmulSessions } from '../runtime/matmul-session.js';
import type { ForwardRunner } from '../runtime/types.js';
import type { LayerFeatures } from '../../protocol/features.js';
import { checkDictionaryFits, dictionaryLayerAt } from './dictionary-fit.js';
import { dictionaryHookSources, dictionaryInput } from './dictionary-input.js';
import type { Dictionary, DictionaryLayer } from './dictionary.js';
import { encodeLayer } from './encode.js';
import { reconstructHook, reconstructionErrors, type EncodedLayer } from './reconstruction.js';

export interface FeatureActivationOptions {
  /** Features per position in `top` (default 10). */
  topK?: number;
  /** Only the dictionary layers of these model layers (default: every one). */
  layers?: readonly number[];
  signal?: AbortSignal;
}

export interface PromptFeatures {
  /** The requested layers' views (logitEffects left null: see feature-logit-effects.ts). */
  layers: LayerFeatures[];
  /** Every layer encoded (the requested ones and the earlier writers of their outputs), with its input. */
  encoded: EncodedLayer[];
}

/** The requested layers and, for each one's output hook, every dictionary layer that writes it. */
function layersToEncode(dictionary: Dictionary, wanted: readonly DictionaryLayer[]): DictionaryLayer[] {
  const outputs = new Set(wanted.map((l) => l.outputHooks[0]!));
  return dictionary.layers.filter((l) => wanted.includes(l) || l.outputHooks.some((h) => outputs.has(h)));
}

export async function featureActivations(
  runner: Pick<ForwardRunner, 'config' | 'weights' | 'forward'>,
  matmul: MatmulSessions,
  dictionary: Dictionary,
  ids: readonly number[],
  options: FeatureActivationOptions = {},
): Promise<PromptFeatures> {
  const { config, weights } = runner;
  checkDictionaryFits(dictionary, config);
  const wanted = options.layers ? options.layers.map((l) => dictionaryLayerAt(dictionary, l)) : [...dictionary.layers];
  const toEncode = layersToEncode(dictionary, wanted);
  const hooks = new Set<HookName>();
  for (const l of toEncode) for (const h of dictionaryHookSources(l.inputHook, config)) hooks.add(h);
  for (const l of wanted) for (const h of dictionaryHookSources(l.outputHooks[0]!, config)) hooks.add(h);
  const { cache } = await runner.forward(ids, { hooks: [...hooks], ...(options.signal ? { signal: options.signal } : {}) });

  const encoded: EncodedLayer[] = [];
  for (const layer of toEncode) {
    throwIfCancelled(options.signal);
    const input = dictionaryInput(layer.inputHook, cache, config, weights, layer.processing);
    encoded.push({ layer, encoding: await encodeLayer(matmul, layer, input), input });
  }

  const k = options.topK ?? 10;
  const P = ids.length;
  const layers = wanted.map((layer): LayerFeatures => {
    const { encoding } = encoded.find((e) => e.layer === layer)!;
    const outputHook = layer.outputHooks[0]!;
    const truth = dictionaryInput(outputHook, cache, config, weights, layer.processing);
    const recon = reconstructHook(outputHook, encoded)!;
    const { error, norm } = reconstructionErrors(truth.data, recon, P, layer.dOut);
    return {
      layer: layer.layer,
      inputHook: layer.inputHook,
      outputHook,
      dSae: layer.dSae,
      ...sparseViews(encoding.acts, P, layer.dSae, k),
      reconstructionError: error,
      hookNorm: norm,
      errorShare: error.map((e, p) => (norm[p]! > 0 ? e / norm[p]! : 0)),
      labels: [],
      logitEffects: null,
    };
  });
  for (const view of layers) view.labels = Array.from(view.heatmap.features, (f) => dictionary.labels?.get(`${view.layer}/${f}`) ?? null);
  return { layers, encoded };
}

/** The active list, the top k per position and the heatmap of activations [pos, d_sae]. */
function sparseViews(acts: Float32Array, P: number, F: number, k: number): Pick<LayerFeatures, 'active' | 'top' | 'heatmap'> {
  const positions: number[] = [];
  const features: number[] = [];
  const activations: number[] = [];
  const peak = new Map<number, number>();
  for (let p = 0; p < P; p++)
    for (let f = 0; f < F; f++) {
      const a = acts[p * F + f]!;
      if (!(a > 0)) continue;
      positions.push(p);
      features.push(f);
      activations.push(a);
      peak.set(f, Math.max(peak.get(f) ?? 0, a));
    }
  const topFeatures = new Int32Array(P * k).fill(-1);
  const topActs = new Float32Array(P * k);
  for (let p = 0; p < P; p++) {
    const row = acts.subarray(p * F, (p + 1) * F);
    topKIndices(row, k)
      .filter((f) => row[f]! > 0)
      .forEach((f, j) => {
        topFeatures[p * k + j] = f;
        topActs[p * k + j] = row[f]!;
      });
  }
  const heat = [...peak.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([f]) => f);
  const heatmap = new Float32Array(heat.length * P); // [feature, pos]
  heat.forEach((f, i) => {
    for (let p = 0; p < P; p++) heatmap[i * P + p] = acts[p * F + f]!;
  });
  return {
    active: { positions: Int32Array.from(positions), features: Int32Array.from(features), activations: Float32Array.from(activations) },
    top: { k, features: topFeatures, activations: topActs },
    heatmap: { features: Int32Array.from(heat), activations: heatmap },
  };
}
