/**
 * Fetches a Hub model (config.json, tokenizer.json, safetensors weights) into the Hugging Face
 * cache and returns its snapshot folder, reusing whatever the cache (Python's included) holds.
 *
 * Network metadata goes through @huggingface/hub (modelInfo for the commit, pathsInfo for sizes
 * and hashes, fileDownloadInfo for the download URL); only the ranged body request is our own
 * (see blob-download.ts for why). Behaviour follows huggingface_hub: offline mode never touches
 * the network; when the Hub cannot be asked, a complete cached snapshot of the revision is used.
 * Unlike huggingface_hub, refs/{revision} is updated only once the new snapshot is complete, so
 * an interrupted update leaves the previous snapshot usable offline.
 */
import { readFile } from 'node:fs/promises';
import { modelInfo, pathsInfo, type PathInfo } from '@huggingface/hub';
import type { DownloadProgress } from '../../../protocol/engine.js';
import { EngineError, throwIfCancelled } from '../../errors.js';
import { fetchFileIntoSnapshot, type BlobDownloadContext, type HubFile } from './blob-download.js';
import {
  assertRepoId,
  assertRevision,
  inspectCachedSnapshot,
  isCommitHash,
  missingModelFiles,
  resolveHubCacheDir,
  snapshotFolder,
  writeRef,
} from './cache-layout.js';
import { cancelledError, toEngineError, type HubErrorContext } from './hub-errors.js';
import { fetchWithOriginBoundAuth } from './origin-bound-auth.js';
import { CONFIG_FILE, OPTIONAL_FILES, parseShardList, TOKENIZER_FILE, WEIGHTS_LAYOUTS, WEIGHTS_REQUIREMENT } from './model-files.js';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

export interface DownloadModelOptions {
  /** Branch, tag or commit sha (default `main`). */
  revision?: string;
  /** Hub cache folder (default: HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Hub base URL (default: HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** Never use the network (default: HF_HUB_OFFLINE is 1/on/yes/true). */
  offline?: boolean;
  /** Access token for private or gated models (default: HF_TOKEN). */
  accessToken?: string;
  /** Bytes done/total of the file being fetched; bytesDone never decreases within a file. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Cancels with EngineError CANCELLED; the partial file is kept and resumed next time. */
  signal?: AbortSignal;
  /** fetch to use for every request (default: the global fetch). */
  fetch?: typeof fetch;
}

/** huggingface_hub's reading of boolean environment variables. */
export function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'on', 'yes', 'true'].includes(value.trim().toLowerCase());
}

export function resolveEndpoint(option: string | undefined): string {
  const endpoint = (option || process.env['HF_ENDPOINT'] || DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new EngineError(
      'BAD_ARGUMENT',
      `The Hub endpoint "${endpoint}" is not a URL.`,
      'Set HF_ENDPOINT (or the endpoint setting) to e.g. https://huggingface.co.',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new EngineError(
      'BAD_ARGUMENT',
      `The Hub endpoint "${endpoint}" is not an http(s) URL.`,
      'Set HF_ENDPOINT (or the endpoint setting) to e.g. https://huggingface.co.',
    );
  }
  return endpoint;
}

/** Wraps fetch so that every request the library makes is cancelled by `signal`. */
export function fetchWithSignal(base: typeof fetch, signal: AbortSignal | undefined): typeof fetch {
  if (!signal) return base;
  return (input, init) => base(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal });
}

function toHubFile(info: PathInfo): HubFile {
  return { path: info.path, size: info.size, ...(info.lfs ? { lfsSha256: info.lfs.oid } : {}), ...(info.oid ? { gitOid: info.oid } : {}) };
}

function fileMissing(repo: string, revision: string, file: string): EngineError {
  return new EngineError(
    'MODEL_FILE_MISSING',
    `${repo}@${revision} has no ${file}; a model needs config.json, tokenizer.json and its weights (safetensors, or PyTorch's pytorch_model.bin).`,
    'Pick a repo that has them (e.g. openai-community/gpt2), or convert the model and open it as a local folder.',
  );
}

/**
 * Downloads (or finds in the cache) the files of Hub model `repo` and returns the snapshot folder
 * that holds them: `{cacheDir}/models--{owner}--{name}/snapshots/{commit}`.
 *
 * Errors (EngineError): MODEL_NOT_FOUND (unknown, private or gated repo), MODEL_FILE_MISSING (no
 * config/tokenizer/safetensors), DOWNLOAD_FAILED (network; finished files kept, partial resumes),
 * CHECKSUM_MISMATCH (corrupt file, deleted), OFFLINE (offline and not fully cached), CANCELLED,
 * BAD_ARGUMENT (malformed id, revision, endpoint or token).
 */
export async function downloadModel(repo: string, options: DownloadModelOptions = {}): Promise<string> {
  assertRepoId(repo);
  const revision = options.revision ?? 'main';
  assertRevision(revision);
  const cacheDir = resolveHubCacheDir(options.cacheDir);
  const endpoint = resolveEndpoint(options.endpoint);
  const offline = options.offline ?? envFlag(process.env['HF_HUB_OFFLINE']);
  const accessToken = options.accessToken || process.env['HF_TOKEN'] || undefined;
  const { signal } = options;
  const errors: HubErrorContext = { repo, revision, endpoint, ...(signal ? { signal } : {}) };
  throwIfCancelled(signal);

  const cached = await inspectCachedSnapshot(repo, { revision, cacheDir });
  // A commit never changes, so a complete snapshot of one needs no network (as hf_hub_download).
  if (cached.folder && (offline || isCommitHash(revision))) return cached.folder;
  if (offline) {
    throw new EngineError(
      'OFFLINE',
      `Offline mode is on and ${repo}@${revision} is not complete in the Hugging Face cache (${cacheDir}): missing ${cached.missing.join(', ')}.`,
      `Turn offline mode (HF_HUB_OFFLINE / the offline setting) off and load it once to download it, or fetch it with Python: huggingface-cli download ${repo}${revision === 'main' ? '' : ` --revision ${revision}`}.`,
    );
  }

  const hubFetch = fetchWithSignal(fetchWithOriginBoundAuth(options.fetch ?? globalThis.fetch), signal);
  const credentials = accessToken ? { accessToken } : {};
  let commit: string;
  try {
    const info = await modelInfo({ name: repo, revision, hubUrl: endpoint, fetch: hubFetch, additionalFields: ['sha'], ...credentials });
    commit = info.sha;
  } catch (error) {
    const mapped = toEngineError(error, errors);
    // As huggingface_hub: when the Hub cannot be asked (network down, server error, even a
    // refused token), a complete cached snapshot of the revision is good enough.
    if (mapped.code !== 'CANCELLED' && mapped.code !== 'BAD_ARGUMENT' && cached.folder) return cached.folder;
    throw mapped;
  }
  if (typeof commit !== 'string' || !isCommitHash(commit)) {
    throw new EngineError('DOWNLOAD_FAILED', `The Hub did not give a commit for ${repo}@${revision}.`, 'Check that HF_ENDPOINT points at a Hugging Face Hub.');
  }

  const folder = snapshotFolder(cacheDir, repo, commit);
  try {
    if ((await missingModelFiles(folder)).length > 0) {
      const context: BlobDownloadContext = {
        cacheDir,
        repo,
        commit,
        endpoint,
        fetch: hubFetch,
        errors,
        ...credentials,
        ...(signal ? { signal } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      };
      await fetchModelFiles(context, revision);
    }
    throwIfCancelled(signal);
    await writeRef(cacheDir, repo, revision, commit);
    return folder;
  } catch (error) {
    throw toEngineError(error, errors);
  }
}

/** Fetches config, tokenizer, optional small files, then the weights (single file or index + shards). */
async function fetchModelFiles(context: BlobDownloadContext, revision: string): Promise<void> {
  const { repo, commit } = context;
  const describe = async (paths: string[]): Promise<Map<string, HubFile>> => {
    const infos = await pathsInfo({
      repo,
      paths,
      revision: commit,
      hubUrl: context.endpoint,
      fetch: context.fetch,
      ...(context.accessToken ? { accessToken: context.accessToken } : {}),
    });
    return new Map(infos.filter((info) => info.type === 'file').map((info) => [info.path, toHubFile(info)]));
  };
  const weightPaths = WEIGHTS_LAYOUTS.flatMap((layout) => [layout.single, layout.index]);
  const listed = await describe([CONFIG_FILE, TOKENIZER_FILE, ...OPTIONAL_FILES, ...weightPaths]);
  const required = (path: string): HubFile => {
    const file = listed.get(path);
    if (!file) throw fileMissing(repo, revision, path);
    return file;
  };
  // The first the repo has, in the loader's order of preference (safetensors before pytorch_model.bin).
  const weights = weightPaths.map((path) => listed.get(path)).find((file) => file !== undefined);
  if (!weights) throw fileMissing(repo, revision, WEIGHTS_REQUIREMENT);
  const weightsIndex = WEIGHTS_LAYOUTS.find((layout) => layout.index === weights.path)?.index;

  // Small files first, so a repo that cannot load fails before the weights are fetched.
  const smallFiles = [required(CONFIG_FILE), required(TOKENIZER_FILE), ...OPTIONAL_FILES.flatMap((path) => listed.get(path) ?? [])];
  for (const file of smallFiles) {
    if (context.signal?.aborted) throw cancelledError();
    await fetchFileIntoSnapshot(context, file);
  }
  const weightsPath = await fetchFileIntoSnapshot(context, weights);
  if (weightsIndex === undefined) return;

  const shardPaths = parseShardList(await readFile(weightsPath, 'utf8'), `${weightsIndex} of ${repo}`);
  const shards = await describe(shardPaths);
  for (const path of shardPaths) {
    const shard = shards.get(path);
    if (!shard) throw fileMissing(repo, revision, `${path} (a shard named in ${weightsIndex})`);
    if (context.signal?.aborted) throw cancelledError();
    await fetchFileIntoSnapshot(context, shard);
  }
}
