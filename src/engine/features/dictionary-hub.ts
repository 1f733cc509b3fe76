/**
 * Dictionaries from the Hugging Face Hub, fetched into the same cache as models (Python's layout,
 * model-hub/cache-layout.ts) through the model downloader's blob fetch (blob-download.ts: resumable,
 * checksummed, under a cross-process lock, a snapshot file appearing only once complete), so a
 * download never leaves a half-written file where the loader looks.
 *
 * A hub source is `owner/name`, `owner/name/sub/folder`, either with `@revision`, or
 * `hf://owner/name/sub/folder?revision=rev`. Which files are fetched depends on what the folder
 * holds: cfg.json and sae_weights.safetensors (SAELens); a circuit-tracer config and its
 * transcoder files; params.npz (Gemma Scope); and a Neuronpedia labels file when there is one.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { listFiles, modelInfo, pathsInfo, type ListFileEntry, type PathInfo } from '@huggingface/hub';
import { EngineError, throwIfCancelled } from '../errors.js';
import { fetchFileIntoSnapshot, type BlobDownloadContext, type HubFile } from '../model/hub/blob-download.js';
import { assertRepoId, assertRevision, isCommitHash, readRef, resolveHubCacheDir, snapshotFolder, writeRef } from '../model/hub/cache-layout.js';
import { envFlag, fetchWithSignal, resolveEndpoint } from '../model/hub/download.js';
import { toEngineError, type HubErrorContext } from '../model/hub/hub-errors.js';
import { fetchWithOriginBoundAuth } from '../model/hub/origin-bound-auth.js';
import { assertSafeRelativePath } from '../model/shard-path.js';
import { CIRCUIT_TRACER_CONFIG, parseCircuitTracerConfig, parseHfUri } from './circuit-tracer-config.js';
import type { LoadDictionaryOptions } from './dictionary-options.js';
import { GEMMA_SCOPE_PARAMS } from './gemma-scope.js';
import { LABEL_FILE_NAMES } from './labels.js';
import { SAELENS_CONFIG, SAELENS_WEIGHTS } from './saelens.js';

export interface HubSource {
  repo: string;
  /** `/`-separated folder inside the repo, '' for its root. */
  subfolder: string;
  revision: string;
}

const HUB_SOURCE = /^([A-Za-z0-9][\w.-]*\/[\w.-]+)((?:\/[^@/]+)*)(?:@([^@]+))?$/;

/** The hub repo, subfolder and revision `source` names, or null when it is no hub source. */
export function parseHubSource(source: string, options: Pick<LoadDictionaryOptions, 'subfolder' | 'revision'> = {}): HubSource | null {
  let repo: string, subfolder: string, revision: string | null;
  if (source.startsWith('hf://')) {
    const uri = /^hf:\/\/([^/?#]+\/[^/?#]+)(\/[^?#]*)?(?:\?(.*))?$/.exec(source);
    if (!uri) return null;
    repo = uri[1]!;
    subfolder = (uri[2] ?? '').replace(/^\/+|\/+$/g, '');
    revision = uri[3] ? new URLSearchParams(uri[3]).get('revision') : null;
  } else {
    const m = HUB_SOURCE.exec(source);
    if (!m || source.startsWith('.') || source.startsWith('/')) return null;
    repo = m[1]!;
    subfolder = (m[2] ?? '').replace(/^\/+/, '');
    revision = m[3] ?? null;
  }
  const extra = options.subfolder?.replace(/^\/+|\/+$/g, '') ?? '';
  subfolder = [subfolder, extra].filter((s) => s !== '').join('/');
  assertRepoId(repo);
  if (subfolder !== '' && subfolder.split('/').some((part) => part === '' || part === '.' || part === '..' || part.includes('\\'))) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `"${subfolder}" in ${source} is not a folder inside the repository.`,
      'Give a subfolder such as layer_5/width_16k/average_l0_71.',
    );
  }
  const rev = revision ?? options.revision ?? 'main';
  assertRevision(rev);
  return { repo, subfolder, revision: rev };
}

function toHubFile(info: Pick<PathInfo | ListFileEntry, 'path' | 'size' | 'oid' | 'lfs'>): HubFile {
  return { path: info.path, size: info.size, ...(info.lfs ? { lfsSha256: info.lfs.oid } : {}), ...(info.oid ? { gitOid: info.oid } : {}) };
}

/** A repo at one commit: where its files land and how to fetch them. */
interface RepoAtCommit {
  repo: string;
  revision: string;
  commit: string;
  snapshot: string;
  /** Null offline: only files already in the snapshot are used. */
  context: BlobDownloadContext | null;
  accessToken?: string;
}

/** Resolves `revision` of `repo` to a commit (offline: from the cache's refs). */
async function openRepo(repo: string, revision: string, options: LoadDictionaryOptions): Promise<RepoAtCommit> {
  assertRepoId(repo);
  assertRevision(revision);
  const cacheDir = resolveHubCacheDir(options.cacheDir);
  const endpoint = resolveEndpoint(options.endpoint);
  const offline = options.offline ?? envFlag(process.env['HF_HUB_OFFLINE']);
  const accessToken = options.accessToken || process.env['HF_TOKEN'] || undefined;
  const { signal } = options;
  const errors: HubErrorContext = { repo, revision, endpoint, ...(signal ? { signal } : {}) };
  throwIfCancelled(signal);
  const cachedCommit = await readRef(cacheDir, repo, revision);
  const offlineRepo = (commit: string): RepoAtCommit => ({ repo, revision, commit, snapshot: snapshotFolder(cacheDir, repo, commit), context: null });
  if (offline) {
    if (!cachedCommit) {
      throw new EngineError(
        'OFFLINE',
        `Offline mode is on and ${repo}@${revision} is not in the Hugging Face cache (${cacheDir}).`,
        'Turn offline mode off and load the dictionary once to download it.',
      );
    }
    return offlineRepo(cachedCommit);
  }
  const hubFetch = fetchWithSignal(fetchWithOriginBoundAuth(options.fetch ?? globalThis.fetch), signal);
  const credentials = accessToken ? { accessToken } : {};
  let commit: string;
  if (isCommitHash(revision) && cachedCommit) {
    commit = revision;
  } else {
    try {
      commit = (await modelInfo({ name: repo, revision, hubUrl: endpoint, fetch: hubFetch, additionalFields: ['sha'], ...credentials })).sha;
    } catch (error) {
      const mapped = toEngineError(error, errors);
      // As for models: when the Hub cannot be asked, the cached snapshot of the revision serves.
      if (mapped.code !== 'CANCELLED' && mapped.code !== 'BAD_ARGUMENT' && cachedCommit) return offlineRepo(cachedCommit);
      throw mapped;
    }
    if (typeof commit !== 'string' || !isCommitHash(commit)) {
      throw new EngineError(
        'DOWNLOAD_FAILED',
        `The Hub did not give a commit for ${repo}@${revision}.`,
        'Check that HF_ENDPOINT points at a Hugging Face Hub.',
      );
    }
  }
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
  return { repo, revision, commit, snapshot: snapshotFolder(cacheDir, repo, commit), context, ...credentials };
}

/** The files directly inside `folder` of the repo, by name. */
async function listFolder(at: RepoAtCommit, folder: string): Promise<Map<string, HubFile>> {
  const prefix = folder === '' ? '' : `${folder}/`;
  return new Map((await repoFiles(at, folder, false)).map((file) => [file.path.slice(prefix.length), file]));
}

/** The files inside `folder` of the repo (at any depth with `recursive`), by repo path; offline, those in the snapshot. */
async function repoFiles(at: RepoAtCommit, folder: string, recursive: boolean): Promise<HubFile[]> {
  const prefix = folder === '' ? '' : `${folder}/`;
  const files: HubFile[] = [];
  if (!at.context) {
    let names: string[] = [];
    try {
      names = readdirSync(join(at.snapshot, folder), { recursive, encoding: 'utf8' });
    } catch {
      // nothing cached under the folder
    }
    for (const name of names) {
      try {
        const stat = statSync(join(at.snapshot, folder, name));
        if (stat.isFile()) files.push({ path: prefix + name.split(sep).join('/'), size: stat.size });
      } catch {
        // a dangling link is no file
      }
    }
    return files;
  }
  const context = at.context;
  try {
    for await (const entry of listFiles({
      repo: at.repo,
      revision: at.commit,
      recursive,
      hubUrl: context.endpoint,
      fetch: context.fetch,
      ...(folder !== '' ? { path: folder } : {}),
      ...(at.accessToken ? { accessToken: at.accessToken } : {}),
    })) {
      if (entry.type !== 'file' || !entry.path.startsWith(prefix)) continue;
      if (recursive || !entry.path.slice(prefix.length).includes('/')) files.push(toHubFile(entry));
    }
  } catch (error) {
    throw toEngineError(error, context.errors);
  }
  return files;
}

/** Makes the snapshot hold `file` (offline: checks it does) and returns its local path. */
async function fetchFile(at: RepoAtCommit, file: HubFile): Promise<string> {
  const local = join(at.snapshot, ...file.path.split('/'));
  if (!at.context) {
    try {
      if (statSync(local).isFile()) return local;
    } catch {
      // missing: below
    }
    throw new EngineError(
      'OFFLINE',
      `Offline mode is on and ${file.path} of ${at.repo}@${at.revision} is not in the Hugging Face cache.`,
      'Turn offline mode off to download it.',
    );
  }
  throwIfCancelled(at.context.signal);
  try {
    return await fetchFileIntoSnapshot(at.context, file);
  } catch (error) {
    throw toEngineError(error, at.context.errors);
  }
}

function missing(source: HubSource, what: string): EngineError {
  return new EngineError(
    'MODEL_FILE_MISSING',
    `${source.repo}${source.subfolder ? `/${source.subfolder}` : ''}@${source.revision} has no ${what}.`,
    'A dictionary folder holds cfg.json and sae_weights.safetensors (SAELens), a circuit-tracer config.yaml with its transcoders, or params.npz (Gemma Scope).',
  );
}

/**
 * Fetches the dictionary in `source` into the hub cache and returns the local folder (inside the
 * snapshot) that holds it and its subfolder in the repo. A folder that holds no dictionary itself
 * but exactly one in a folder below it (a Gemma Scope repo's layer/width/L0 tree with one leaf, a
 * release with one hook) stands for that one; with several below, the error names them. Errors:
 * MODEL_NOT_FOUND, MODEL_FILE_MISSING, DOWNLOAD_FAILED, CHECKSUM_MISMATCH, OFFLINE, CANCELLED,
 * BAD_ARGUMENT.
 */
export async function fetchHubDictionary(source: HubSource, options: LoadDictionaryOptions): Promise<{ folder: string; subfolder: string }> {
  const at = await openRepo(source.repo, source.revision, options);
  let files = await listFolder(at, source.subfolder);
  if (!holdsDictionary(files.keys())) {
    const below = (await dictionaryFolders(at, source.subfolder)).filter((f) => f !== source.subfolder);
    if (below.length > 1) {
      const where = `${source.repo}${source.subfolder ? `/${source.subfolder}` : ''}`;
      const shown = below.slice(0, MAX_LISTED_FOLDERS).join(', ');
      throw new EngineError(
        'MODEL_FILE_MISSING',
        `${where}@${source.revision} holds no dictionary itself but ${below.length} in its folders: ${shown}${below.length > MAX_LISTED_FOLDERS ? ', …' : ''}.`,
        `Name one, e.g. ${source.repo}/${below[0]}.`,
      );
    }
    if (below.length === 1) {
      source = { ...source, subfolder: below[0]! };
      files = await listFolder(at, source.subfolder);
    }
  }
  const folder = join(at.snapshot, ...source.subfolder.split('/').filter((s) => s !== ''));
  const wanted: HubFile[] = [];
  const take = (name: string): HubFile => {
    const file = files.get(name);
    if (!file) throw missing(source, name);
    wanted.push(file);
    return file;
  };
  if (files.has(SAELENS_CONFIG)) {
    take(SAELENS_CONFIG);
    take(SAELENS_WEIGHTS);
  } else if (files.has(GEMMA_SCOPE_PARAMS)) {
    take(GEMMA_SCOPE_PARAMS);
  } else {
    const yamls = [...files.keys()].filter((name) => /\.ya?ml$/i.test(name));
    const configName = files.has(CIRCUIT_TRACER_CONFIG) ? CIRCUIT_TRACER_CONFIG : yamls.length === 1 ? yamls[0]! : null;
    if (!configName) throw missing(source, `${SAELENS_CONFIG}, ${CIRCUIT_TRACER_CONFIG} or ${GEMMA_SCOPE_PARAMS}`);
    const configPath = await fetchFile(at, take(configName));
    wanted.pop();
    const config = parseCircuitTracerConfig(readFileSync(configPath, 'utf8'), configPath);
    if (config.kind === 'cross_layer_transcoder') {
      for (const name of files.keys()) if (/^W_(enc|dec)_\d+\.safetensors$/.test(name)) take(name);
    } else if (config.transcoders === null) {
      for (const name of files.keys()) if (/^layer_\d+\.safetensors$/.test(name)) take(name);
    } else {
      // Relative paths are files of this repo; hf:// ones are fetched as the loader meets them.
      for (const ref of config.transcoders) {
        if (ref.path.startsWith('hf://') || ref.path.startsWith('/')) continue;
        const path = [source.subfolder, ref.path].filter((s) => s !== '').join('/');
        assertSafeRelativePath(path, configPath);
        const listed = ref.path.includes('/') ? undefined : files.get(ref.path);
        wanted.push(listed ?? (await describeFile(at, path, source)));
      }
    }
  }
  for (const name of LABEL_FILE_NAMES) if (files.has(name)) take(name);
  for (const file of wanted) await fetchFile(at, file);
  if (at.context) await writeRef(at.context.cacheDir, at.repo, at.revision, at.commit);
  return { folder, subfolder: source.subfolder };
}

/** How many dictionary folders an error lists. */
const MAX_LISTED_FOLDERS = 12;

/** Whether a folder's file names include a dictionary's config (SAELens, Gemma Scope, circuit-tracer). */
function holdsDictionary(names: Iterable<string>): boolean {
  for (const name of names) if (name === SAELENS_CONFIG || name === GEMMA_SCOPE_PARAMS || /\.ya?ml$/i.test(name)) return true;
  return false;
}

/** The folders at or below `folder` (repo paths, sorted) whose files include a dictionary's config. */
async function dictionaryFolders(at: RepoAtCommit, folder: string): Promise<string[]> {
  const byFolder = new Map<string, string[]>();
  for (const { path } of await repoFiles(at, folder, true)) {
    const cut = path.lastIndexOf('/');
    const dir = cut < 0 ? '' : path.slice(0, cut);
    byFolder.set(dir, [...(byFolder.get(dir) ?? []), path.slice(cut + 1)]);
  }
  return [...byFolder]
    .filter(([, names]) => holdsDictionary(names))
    .map(([dir]) => dir)
    .sort();
}

/** One file of the repo described by its path (paths-info), for files outside the listed folder. */
async function describeFile(at: RepoAtCommit, path: string, source: HubSource): Promise<HubFile> {
  if (!at.context) return { path, size: 0 };
  const context = at.context;
  let infos: PathInfo[];
  try {
    infos = await pathsInfo({
      repo: at.repo,
      paths: [path],
      revision: at.commit,
      hubUrl: context.endpoint,
      fetch: context.fetch,
      ...(at.accessToken ? { accessToken: at.accessToken } : {}),
    });
  } catch (error) {
    throw toEngineError(error, context.errors);
  }
  const info = infos.find((i) => i.type === 'file' && i.path === path);
  if (!info) throw missing(source, path);
  return toHubFile(info);
}

/** Fetches the file an hf://owner/name/path[?revision=] reference of a circuit-tracer config names; returns its local path. */
export async function fetchHfUri(reference: string, label: string, options: LoadDictionaryOptions): Promise<string> {
  const uri = parseHfUri(reference, label);
  assertSafeRelativePath(uri.path, label);
  const at = await openRepo(uri.repo, uri.revision ?? 'main', options);
  const source: HubSource = { repo: uri.repo, subfolder: '', revision: at.revision };
  const path = await fetchFile(at, await describeFile(at, uri.path, source));
  if (at.context) await writeRef(at.context.cacheDir, at.repo, at.revision, at.commit);
  return path;
}
