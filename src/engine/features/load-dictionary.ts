/**
 * loadDictionary: a sparse dictionary from a local folder (or file) or a Hugging Face repo, in
 * whichever format it is:
 *
 * - `cfg.json` (+ sae_weights.safetensors): a SAELens SAE; a folder of such folders, one per hook,
 *   is one dictionary with a layer per SAE;
 * - `config.yaml`, or the one *.yaml of the folder: circuit-tracer transcoders (a per-layer set,
 *   its files local, relative or hf://, safetensors or Gemma Scope npz; or a cross-layer transcoder);
 * - `params.npz`: Gemma Scope (the layer from the options or the path's layer_N); a folder of
 *   layer_N folders with one params.npz each is one dictionary with a layer per file.
 *
 * A Neuronpedia labels file beside it (labels.ts) becomes Dictionary.labels.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { EngineError } from '../errors.js';
import { loadCrossLayerTranscoder, loadTranscoderFile, type CltLayerFiles } from './circuit-tracer.js';
import { fetchHfUri, fetchHubDictionary, parseHubSource } from './dictionary-hub.js';
import { GEMMA_SCOPE_PARAMS, loadGemmaScopeNpz } from './gemma-scope.js';
import { CIRCUIT_TRACER_CONFIG, parseCircuitTracerConfig, type CircuitTracerConfig } from './circuit-tracer-config.js';
import type { Dictionary, DictionaryKind } from './dictionary.js';
import { fullHookName, type DictionaryModelConfig } from './dictionary-hooks.js';
import type { LoadDictionaryOptions } from './dictionary-options.js';
import { LABEL_FILE_NAMES, parseFeatureLabels } from './labels.js';
import { loadSaelensFolder, SAELENS_CONFIG, type LoadedLayer } from './saelens.js';

/** Resolves a file reference of a circuit-tracer config that is not a local path (hf://…) to a local file. */
export type RemoteFileResolver = (reference: string, label: string) => Promise<string>;

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function missingFile(folder: string, what: string): EngineError {
  return new EngineError(
    'MODEL_FILE_MISSING',
    `${folder} has no ${what}.`,
    'A dictionary folder holds cfg.json (SAELens), a circuit-tracer config.yaml, or params.npz (Gemma Scope).',
  );
}

/** The circuit-tracer config of `folder`: config.yaml, else the one *.yaml in it, else null. */
export function circuitTracerConfigIn(folder: string): string | null {
  if (isFile(join(folder, CIRCUIT_TRACER_CONFIG))) return join(folder, CIRCUIT_TRACER_CONFIG);
  const yamls = readdirSync(folder).filter((name) => /\.ya?ml$/i.test(name));
  return yamls.length === 1 ? join(folder, yamls[0]!) : null;
}

function noRemote(reference: string, label: string): Promise<string> {
  return Promise.reject(new EngineError('BAD_CONFIG', `${label} refers to ${reference}, which is not a local file.`));
}

/**
 * Loads the dictionary in local folder (or file) `path` for a model of shape `model`. `remote`
 * fetches the hf:// files a circuit-tracer config names.
 */
export async function loadDictionaryFromPath(
  path: string,
  model: DictionaryModelConfig,
  options: LoadDictionaryOptions = {},
  remote: RemoteFileResolver = noRemote,
  id: string = path,
): Promise<Dictionary> {
  const target = resolve(path);
  let loaded: { kind: DictionaryKind; layers: LoadedLayer[] };
  let folder: string;
  if (isFile(target)) {
    folder = dirname(target);
    if (/\.ya?ml$/i.test(target)) loaded = await loadCircuitTracer(target, model, options, remote);
    else if (/\.npz$/i.test(target)) loaded = await loadGemmaScopeFiles([target], model, options);
    else throw new EngineError('BAD_ARGUMENT', `${target} is not a dictionary: give its folder, a circuit-tracer .yaml config or a params.npz.`);
  } else if (isDirectory(target)) {
    folder = target;
    loaded = await loadFolder(target, model, options, remote);
  } else {
    throw new EngineError('MODEL_NOT_FOUND', `No dictionary at ${target}.`, 'Give a dictionary folder, or a Hugging Face repo id with its subfolder.');
  }
  const layers = loaded.layers;
  try {
    const byLayer = new Map<number, LoadedLayer>();
    for (const l of layers) {
      if (byLayer.has(l.layer.layer))
        throw new EngineError('BAD_CONFIG', `${id} has two dictionaries for layer ${l.layer.layer}.`, 'Load one of them at a time.');
      byLayer.set(l.layer.layer, l);
    }
    const sorted = [...layers].sort((a, b) => a.layer.layer - b.layer.layer);
    const labelsPath = options.labelsFile ?? LABEL_FILE_NAMES.map((name) => join(folder, name)).find(isFile);
    const labels = labelsPath
      ? parseFeatureLabels(
          readFileSync(labelsPath, 'utf8'),
          sorted.map((l) => l.layer),
          labelsPath,
        )
      : null;
    let disposed = false;
    return {
      id,
      kind: loaded.kind,
      modelName: sorted.find((l) => l.modelName !== null)?.modelName ?? null,
      dModel: model.dModel,
      layers: sorted.map((l) => l.layer),
      labels,
      dispose() {
        if (disposed) return;
        disposed = true;
        for (const l of sorted) l.close();
      },
    };
  } catch (error) {
    for (const l of layers) l.close();
    throw error;
  }
}

async function loadFolder(
  folder: string,
  model: DictionaryModelConfig,
  options: LoadDictionaryOptions,
  remote: RemoteFileResolver,
): Promise<{ kind: DictionaryKind; layers: LoadedLayer[] }> {
  if (isFile(join(folder, SAELENS_CONFIG))) {
    const layer = loadSaelensFolder(folder, model, options);
    return { kind: layer.transcoder === true ? 'transcoder' : 'sae', layers: [layer] };
  }
  const config = circuitTracerConfigIn(folder);
  if (config) return loadCircuitTracer(config, model, options, remote);
  if (isFile(join(folder, GEMMA_SCOPE_PARAMS))) return loadGemmaScopeFiles([join(folder, GEMMA_SCOPE_PARAMS)], model, options);
  const gemmaScope = gemmaScopeLayers(folder);
  if (gemmaScope.length > 0) return loadGemmaScopeFiles(gemmaScope, model, options);
  // A SAELens release: one SAE per subfolder.
  const saes = readdirSync(folder)
    .map((name) => join(folder, name))
    .filter((sub) => isDirectory(sub) && isFile(join(sub, SAELENS_CONFIG)))
    .sort();
  if (saes.length > 0) {
    const layers: LoadedLayer[] = [];
    try {
      for (const sub of saes) layers.push(loadSaelensFolder(sub, model, options));
    } catch (error) {
      for (const l of layers) l.close();
      throw error;
    }
    return { kind: layers.every((l) => l.transcoder === true) ? 'transcoder' : 'sae', layers };
  }
  throw missingFile(folder, 'dictionary files');
}

/** A local path for a file reference of the config at `configPath`. */
async function resolveReference(reference: string, configPath: string, remote: RemoteFileResolver): Promise<string> {
  if (reference.startsWith('hf://')) return remote(reference, configPath);
  const path = isAbsolute(reference) ? reference : join(dirname(configPath), reference);
  if (!isFile(path)) throw new EngineError('MODEL_FILE_MISSING', `${configPath} names ${reference}, which does not exist (${path}).`);
  return path;
}

/** Files `prefix{l}.safetensors` in `folder` by l; with `consecutive`, l must run 0, 1, ... */
function numberedFiles(folder: string, prefix: string, consecutive: boolean): { layer: number; path: string }[] {
  const pattern = new RegExp(`^${prefix}(\\d+)\\.safetensors$`);
  const layers = readdirSync(folder)
    .map((name) => pattern.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  layers.forEach((layer, i) => {
    if (consecutive && layer !== i) {
      throw new EngineError('MODEL_FILE_MISSING', `${folder} has ${prefix}${layers.join(`, ${prefix}`)} files: ${prefix}${i}.safetensors is missing.`);
    }
  });
  return layers.map((layer) => ({ layer, path: join(folder, `${prefix}${layer}.safetensors`) }));
}

async function loadCircuitTracer(
  configPath: string,
  model: DictionaryModelConfig,
  options: LoadDictionaryOptions,
  remote: RemoteFileResolver,
): Promise<{ kind: DictionaryKind; layers: LoadedLayer[] }> {
  const config: CircuitTracerConfig = parseCircuitTracerConfig(readFileSync(configPath, 'utf8'), configPath);
  const folder = dirname(configPath);
  if (config.kind === 'cross_layer_transcoder') {
    const encoders = numberedFiles(folder, 'W_enc_', true);
    if (encoders.length === 0) throw missingFile(folder, 'W_enc_0.safetensors (a cross-layer transcoder)');
    const files: CltLayerFiles[] = encoders.map(({ path: encoder }, l) => {
      const decoder = join(folder, `W_dec_${l}.safetensors`);
      if (!isFile(decoder)) throw missingFile(folder, basename(decoder));
      return { encoder, decoder };
    });
    return { kind: 'cross_layer_transcoder', layers: loadCrossLayerTranscoder(files, config, model, options) };
  }
  const refs = config.transcoders ?? numberedFiles(folder, 'layer_', false);
  if (refs.length === 0) throw missingFile(folder, 'transcoder files (layer_0.safetensors, ...)');
  if (refs.length > model.nLayers) {
    throw new EngineError(
      'BAD_CONFIG',
      `${configPath} lists transcoders for ${refs.length} layers but the model has ${model.nLayers}.`,
      'Load the dictionary with the model it was trained on.',
    );
  }
  const layers: LoadedLayer[] = [];
  try {
    for (const ref of refs) {
      const path = await resolveReference(ref.path, configPath, remote);
      layers.push(
        /\.npz$/i.test(path)
          ? await loadGemmaScopeNpz(path, ref.layer, config.inputHook, config.outputHook, model, options)
          : loadTranscoderFile(path, ref.layer, config, model, options),
      );
    }
  } catch (error) {
    for (const l of layers) l.close();
    throw error;
  }
  return { kind: 'transcoder', layers };
}

/** Whether `path` exists at all (for the entry point's choice between a local path and a hub id). */
export function localPathExists(path: string): boolean {
  return existsSync(resolve(path));
}

/**
 * Gemma Scope's layout below `folder`: a params.npz under each layer_N folder
 * (layer_N/width_…/average_l0_…/params.npz). BAD_ARGUMENT when a layer has several (widths or
 * sparsities to choose from).
 */
function gemmaScopeLayers(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number, into: string[]): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (name === GEMMA_SCOPE_PARAMS && isFile(path)) into.push(path);
      else if (depth > 0 && isDirectory(path)) walk(path, depth - 1, into);
    }
  };
  for (const name of readdirSync(folder).sort()) {
    if (!/^layer_\d+$/.test(name) || !isDirectory(join(folder, name))) continue;
    const inLayer: string[] = [];
    walk(join(folder, name), 3, inLayer);
    if (inLayer.length > 1) {
      throw new EngineError(
        'BAD_ARGUMENT',
        `${join(folder, name)} holds ${inLayer.length} Gemma Scope dictionaries (${inLayer.map((p) => p.slice(folder.length + 1)).join(', ')}).`,
        'Give the folder of the one to load.',
      );
    }
    found.push(...inLayer);
  }
  return found;
}

async function loadGemmaScopeFiles(
  paths: readonly string[],
  model: DictionaryModelConfig,
  options: LoadDictionaryOptions,
): Promise<{ kind: DictionaryKind; layers: LoadedLayer[] }> {
  const inputHook = options.inputHook ?? 'hook_resid_post';
  const outputHook = options.outputHook ?? inputHook;
  if (paths.length > 1 && options.layer !== undefined)
    throw new EngineError('BAD_ARGUMENT', 'A layer option is for one params.npz; this folder holds one per layer.');
  const layers: LoadedLayer[] = [];
  try {
    for (const path of paths) layers.push(await loadGemmaScopeNpz(path, options.layer ?? null, inputHook, outputHook, model, options));
  } catch (error) {
    for (const l of layers) l.close();
    throw error;
  }
  return { kind: fullHookName(inputHook, 0) === fullHookName(outputHook, 0) ? 'sae' : 'transcoder', layers };
}

/**
 * A dictionary for a model of shape `model`, from `source`: a local folder or file, or a Hugging
 * Face repo (`owner/name[/sub/folder][@revision]`, `hf://owner/name/sub/folder?revision=rev`),
 * fetched into the hub cache first. circuit-tracer configs' hf:// files are fetched likewise.
 *
 * Errors (EngineError): MODEL_NOT_FOUND, MODEL_FILE_MISSING, BAD_CONFIG (a config, hook or labels
 * file that does not fit), WRONG_SHAPE (a tensor or width that does not match the config or the
 * model), MISSING_TENSOR, NON_FINITE, UNSUPPORTED_ARCHITECTURE (gated SAEs), CORRUPT_WEIGHTS, and
 * the hub's DOWNLOAD_FAILED, CHECKSUM_MISMATCH, OFFLINE, CANCELLED.
 */
export async function loadDictionary(source: string, model: DictionaryModelConfig, options: LoadDictionaryOptions = {}): Promise<Dictionary> {
  const remote: RemoteFileResolver = (reference, label) => fetchHfUri(reference, label, options);
  const local = options.subfolder && !source.startsWith('hf://') ? join(source, options.subfolder) : source;
  if (!source.startsWith('hf://') && localPathExists(local)) return loadDictionaryFromPath(local, model, options, remote);
  const hub = parseHubSource(source, options);
  if (!hub) {
    throw new EngineError(
      'MODEL_NOT_FOUND',
      `"${source}" is neither a dictionary folder nor a Hugging Face repo.`,
      'Give a local folder, or owner/name[/subfolder][@revision].',
    );
  }
  const { folder, subfolder } = await fetchHubDictionary(hub, options);
  const id = `${hub.repo}${subfolder ? `/${subfolder}` : ''}${hub.revision === 'main' ? '' : `@${hub.revision}`}`;
  return loadDictionaryFromPath(folder, model, options, remote, id);
}
