/**
 * From a ModelSpec to a running model: find or fetch the folder (built-in organism, local folder,
 * or Hugging Face Hub via the cache), load it, and build the instrumented ONNX model.
 */
import { basename } from 'node:path';
import type { DownloadProgress, LoadedModelInfo, LoadOptions, ModelSpec } from '../../protocol/engine.js';
import { EngineError, throwIfCancelled } from '../errors.js';
import { ensureOrganism, ORGANISM_DISPLAY_NAME } from '../organism/index.js';
import { InstrumentedModel } from '../runtime/instrumented-model.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import { downloadModel } from './hub/download.js';
import { loadModelFolder } from './load-folder.js';

export interface LoadedModel {
  runner: InstrumentedModel;
  tokenizer: PromptTokenizer;
  info: LoadedModelInfo;
  /** The folder the weights were read from. */
  folder: string;
}

export interface LoadModelHooks {
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
}

/** A stable identifier of a spec, for caches and the UI. */
export function modelSpecId(spec: ModelSpec): string {
  switch (spec.kind) {
    case 'organism':
      return 'organism';
    case 'folder':
      return spec.path;
    case 'hub':
      return spec.revision ? `${spec.repo}@${spec.revision}` : spec.repo;
  }
}

export async function resolveModelFolder(
  spec: ModelSpec,
  options: Pick<LoadOptions, 'offline' | 'cacheDir' | 'endpoint'>,
  hooks: LoadModelHooks = {},
): Promise<{ folder: string; displayName: string }> {
  switch (spec.kind) {
    case 'organism':
      return { folder: await ensureOrganism(spec.dir), displayName: ORGANISM_DISPLAY_NAME };
    case 'folder':
      return { folder: spec.path, displayName: basename(spec.path) };
    case 'hub': {
      const folder = await downloadModel(spec.repo, {
        ...(spec.revision ? { revision: spec.revision } : {}),
        ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        offline: options.offline,
        ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
        ...(hooks.signal ? { signal: hooks.signal } : {}),
      });
      return { folder, displayName: spec.repo };
    }
    default:
      throw new EngineError('BAD_ARGUMENT', `Unknown model source ${JSON.stringify(spec)}.`);
  }
}

export async function loadModel(spec: ModelSpec, options: LoadOptions, hooks: LoadModelHooks = {}): Promise<LoadedModel> {
  const started = performance.now();
  if (!Number.isInteger(options.maxTokens) || options.maxTokens < 1) {
    throw new EngineError('BAD_ARGUMENT', `maxTokens must be a positive integer (got ${options.maxTokens}).`);
  }
  const { folder, displayName } = await resolveModelFolder(spec, options, hooks);
  throwIfCancelled(hooks.signal);
  const loaded = await loadModelFolder(folder);
  throwIfCancelled(hooks.signal);
  const runner = await InstrumentedModel.create(loaded.model, { device: options.device });
  const c = loaded.model.config;
  return {
    runner,
    tokenizer: loaded.tokenizer,
    folder,
    info: {
      id: modelSpecId(spec),
      displayName,
      nLayers: c.nLayers,
      nHeads: c.nHeads,
      dModel: c.dModel,
      dHead: c.dHead,
      dVocab: c.dVocab,
      nCtx: c.nCtx,
      bosTokenId: c.bosTokenId,
      ...(c.defaultPrependBos === false ? { defaultPrependBos: false } : {}),
      device: runner.provider,
      deviceNote: runner.deviceNote,
      loadMs: performance.now() - started,
    },
  };
}
