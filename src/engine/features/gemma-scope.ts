/**
 * Gemma Scope's `params.npz` (JumpReLU): W_enc [d_model, d_sae], W_dec [d_sae, d_model], b_enc
 * [d_sae], b_dec [d_model], threshold [d_sae]. The layer and hooks are not in the file: the layer
 * comes from the options or the path (`layer_5/width_16k/average_l0_71/params.npz`), the hook from
 * the options (default hook_resid_post, as Gemma Scope's residual SAEs; a transcoder gives an
 * output hook as well, e.g. ln2.hook_normalized → hook_mlp_out).
 *
 * On first use the npz is converted into `params.safetensors` beside it (the same tensors and
 * dtypes), so its decoder can be read row by row afterwards. The conversion happens under a
 * cross-process lock (the model cache's blob lock), writes a temporary file in the same folder and
 * renames it over the target: a crash leaves at most a temporary file, never a half-written
 * params.safetensors, and a second process waits and then uses the first one's result. The
 * converted file records the npz's size and modification time; a changed npz is converted again.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { EngineError } from '../errors.js';
import { acquireBlobLock } from '../model/hub/blob-lock.js';
import { openSafetensors, type SafetensorsFile } from '../model/safetensors.js';
import { writeSafetensorsFile, type TensorToWrite } from '../model/safetensors-writer.js';
import { SafetensorsDecoderRows } from './decoder-rows.js';
import { PositionedFile } from './positioned-file.js';
import { UNPROCESSED_MODEL, type DictionaryLayer } from './dictionary.js';
import { assertModelWidth, fullHookName, resolveDictionaryHook, type DictionaryModelConfig } from './dictionary-hooks.js';
import type { LoadDictionaryOptions } from './dictionary-options.js';
import { readNpz } from './npz.js';
import type { LoadedLayer } from './saelens.js';
import { assertTensorShape, readCheckedTensor } from './stored-tensors.js';

export const GEMMA_SCOPE_PARAMS = 'params.npz';
const TENSORS = ['W_enc', 'W_dec', 'b_enc', 'b_dec', 'threshold'] as const;

/** The safetensors file a params.npz is converted into. */
export function convertedPath(npzPath: string): string {
  return npzPath.replace(/\.npz$/i, '.safetensors');
}

/** Identifies the npz a converted file was made from. */
function sourceStamp(npzPath: string): Record<string, string> {
  const s = statSync(npzPath);
  return { converted_from: 'params.npz', source_size: String(s.size), source_mtime_ms: String(Math.round(s.mtimeMs)) };
}

function isCurrent(target: string, npzPath: string): boolean {
  if (!existsSync(target)) return false;
  try {
    const metadata = openSafetensors(target).metadata;
    const stamp = sourceStamp(npzPath);
    return metadata['source_size'] === stamp['source_size'] && metadata['source_mtime_ms'] === stamp['source_mtime_ms'];
  } catch {
    return false; // unreadable: converted again
  }
}

/** Writes params.safetensors from params.npz (the caller holds the lock). */
async function convert(npzPath: string, target: string): Promise<void> {
  const arrays = readNpz(npzPath);
  const tensors: TensorToWrite[] = [];
  for (const name of TENSORS) {
    const array = arrays.get(name);
    if (!array) throw new EngineError('MISSING_TENSOR', `${npzPath} has no array "${name}".`, `A Gemma Scope params.npz holds ${TENSORS.join(', ')}.`);
    tensors.push({ name, dtype: array.descr === '<f2' ? 'F16' : 'F32', shape: array.shape, data: array.data });
  }
  const temporary = `${target}.${randomUUID()}.tmp`;
  try {
    await writeSafetensorsFile(temporary, tensors, sourceStamp(npzPath));
    renameSync(temporary, target);
  } finally {
    rmSync(temporary, { force: true });
  }
}

/**
 * Converts `npzPath` into params.safetensors beside it unless that is already done; returns its
 * path and whether this call did the conversion.
 */
export async function ensureConverted(npzPath: string, options: Pick<LoadDictionaryOptions, 'signal'> = {}): Promise<{ path: string; converted: boolean }> {
  const target = convertedPath(npzPath);
  if (isCurrent(target, npzPath)) return { path: target, converted: false };
  const lock = await acquireBlobLock(`${target}.lock`, options.signal ? { signal: options.signal } : {});
  try {
    // Another process may have converted it while this one waited for the lock.
    if (isCurrent(target, npzPath)) return { path: target, converted: false };
    await convert(npzPath, target);
    return { path: target, converted: true };
  } finally {
    await lock.release();
  }
}

/** The layer a Gemma Scope path names (`…/layer_5/…`), or null. */
export function layerFromPath(path: string): number | null {
  const m = /(?:^|[/\\])layer_(\d+)(?:[/\\]|$)/.exec(path);
  return m ? Number(m[1]) : null;
}

function vectorLength(file: SafetensorsFile, name: string): number {
  return file.get(name).shape.reduce((a, b) => a * b, 1);
}

/**
 * Loads a Gemma Scope params.npz (converting it on first use) as model layer `layer`, reading
 * `inputHook` and writing `outputHook` (short or full TransformerLens names).
 */
export async function loadGemmaScopeNpz(
  npzPath: string,
  layer: number | null,
  inputHook: string,
  outputHook: string,
  model: DictionaryModelConfig,
  options: LoadDictionaryOptions,
): Promise<LoadedLayer> {
  const atLayer = layer ?? layerFromPath(npzPath);
  if (atLayer === null) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `${npzPath}: the layer of a Gemma Scope params.npz is not in its path (no layer_N folder).`,
      'Give the layer in the options.',
    );
  }
  const { path } = await ensureConverted(npzPath, options);
  const label = `${npzPath} (converted to ${path})`;
  const file = openSafetensors(path, label);
  const dSae = vectorLength(file, 'b_enc');
  const dModel = vectorLength(file, 'b_dec');
  assertModelWidth(dModel, model, 'd_model (the length of b_dec)', label);
  const input = resolveDictionaryHook(fullHookName(inputHook, atLayer), model, label);
  const output = resolveDictionaryHook(fullHookName(outputHook, atLayer), model, label);
  const W_enc = readCheckedTensor(file, 'W_enc', [dModel, dSae], label);
  const b_enc = readCheckedTensor(file, 'b_enc', [dSae], label);
  const b_dec = readCheckedTensor(file, 'b_dec', [dModel], label);
  const threshold = readCheckedTensor(file, 'threshold', [dSae], label);
  const decoderTensor = file.get('W_dec');
  assertTensorShape(decoderTensor, [dSae, dModel], label);
  const decoder = new SafetensorsDecoderRows(
    new PositionedFile(path, label),
    decoderTensor,
    dSae,
    dModel,
    { kind: 'rows', nOut: 1, output: 0 },
    options.decoderCacheRows,
  );
  const loaded: DictionaryLayer = {
    layer: atLayer,
    inputHook: input.name,
    outputHooks: [output.name],
    dIn: dModel,
    dSae,
    dOut: dModel,
    W_enc,
    b_enc,
    b_dec: [b_dec],
    activation: { kind: 'jumprelu', threshold },
    // Gemma Scope encodes the raw input (SAELens's loader sets apply_b_dec_to_input false for it).
    applyBDecToInput: false,
    normalization: { kind: 'none' },
    W_skip: null,
    // Gemma Scope was trained on Gemma 2's own activations (RMSNorm: nothing to centre or fold).
    processing: UNPROCESSED_MODEL,
    decoder: (i) => {
      if (i !== 0) throw new EngineError('BAD_ARGUMENT', `A Gemma Scope dictionary has one decoder (output 0), not output ${i}.`);
      return decoder;
    },
  };
  return { layer: loaded, modelName: null, close: () => decoder.close() };
}
