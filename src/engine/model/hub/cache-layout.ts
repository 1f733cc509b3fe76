/**
 * The Hugging Face Hub cache, laid out exactly as Python's huggingface_hub writes it, so a model
 * already fetched with `transformers` or `huggingface-cli download` is reused (and the other way
 * round):
 *
 *   {cacheDir}/models--{owner}--{name}/
 *     refs/{revision}              the commit sha the branch or tag pointed to (no newline)
 *     blobs/{etag}                 file contents; etag = sha256 for LFS files, git blob sha1 otherwise
 *     blobs/{etag}.incomplete      a download in progress, resumed from its size
 *   {cacheDir}/.locks/models--{owner}--{name}/{etag}.circuit-trace.lock
 *                                  held by the one process writing that blob (blob-lock.ts)
 *     snapshots/{commit}/{file}    relative symlink to ../../blobs/{etag}; a plain file where the
 *                                  filesystem refuses symlinks (as huggingface_hub does on Windows)
 *
 * A snapshot file only ever appears after its blob is complete and verified, so "the file exists in
 * the snapshot" means "the file is good".
 */
import { randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { EngineError } from '../../errors.js';
import { joinRelativePath } from '../shard-path.js';
import { isDictionarySnapshot } from './dictionary-snapshot.js';
import { CONFIG_FILE, parseShardList, TOKENIZER_FILE, WEIGHTS_LAYOUTS, WEIGHTS_REQUIREMENT } from './model-files.js';

const COMMIT_HASH = /^[0-9a-f]{40}$/;
/** Hub repo ids: `name` or `owner/name`, word characters, `-` and `.`, starting and ending with a word character. */
const REPO_ID = /^(?:[A-Za-z0-9_](?:[\w.-]{0,94}[A-Za-z0-9_])?\/)?[A-Za-z0-9_](?:[\w.-]{0,94}[A-Za-z0-9_])?$/;
const REPO_FOLDER_PREFIX = 'models--';
/** huggingface_hub separates owner and name with `--` in folder names (ids may not contain `--`). */
const REPO_ID_SEPARATOR = '--';

/** Expands a leading `~` as Python's `os.path.expanduser` does. */
function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') || path.startsWith(`~${sep}`) ? join(homedir(), path.slice(1)) : path;
}

/** An environment variable, or undefined when unset or empty. */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The hub cache folder, resolved with huggingface_hub's precedence: the explicit option, then
 * `HF_HUB_CACHE` (or its legacy name `HUGGINGFACE_HUB_CACHE`), then `$HF_HOME/hub`, then
 * `$XDG_CACHE_HOME/huggingface/hub`, then `~/.cache/huggingface/hub`.
 */
export function resolveHubCacheDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const direct = explicit || envValue(env, 'HF_HUB_CACHE') || envValue(env, 'HUGGINGFACE_HUB_CACHE');
  if (direct) return resolve(expandHome(direct));
  const hfHome = envValue(env, 'HF_HOME');
  const xdgCache = envValue(env, 'XDG_CACHE_HOME');
  const home = hfHome ? expandHome(hfHome) : join(xdgCache ? expandHome(xdgCache) : join(homedir(), '.cache'), 'huggingface');
  return resolve(home, 'hub');
}

export function isCommitHash(revision: string): boolean {
  return COMMIT_HASH.test(revision);
}

/** Throws BAD_ARGUMENT unless `repo` is a Hub model id (`gpt2`, `openai-community/gpt2`). */
export function assertRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('--') || repo.includes('..') || repo.endsWith('.git')) {
    throw new EngineError('BAD_ARGUMENT', `"${repo}" is not a Hugging Face model id.`, 'Use the form owner/name, e.g. openai-community/gpt2.');
  }
}

/** Throws BAD_ARGUMENT unless `revision` is a branch, tag or commit that can name a file under refs/. */
export function assertRevision(revision: string): void {
  const segments = revision.split('/');
  if (revision.length === 0 || revision.includes('\\') || revision.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new EngineError('BAD_ARGUMENT', `"${revision}" is not a valid revision.`, 'Use a branch name (main), a tag or a 40-character commit sha.');
  }
}

/** `openai-community/gpt2` -> `models--openai-community--gpt2`. */
export function repoFolderName(repo: string): string {
  assertRepoId(repo);
  return REPO_FOLDER_PREFIX + repo.split('/').join(REPO_ID_SEPARATOR);
}

export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, repoFolderName(repo));
}

export function snapshotFolder(cacheDir: string, repo: string, commit: string): string {
  return join(repoFolder(cacheDir, repo), 'snapshots', commit);
}

export function blobPath(cacheDir: string, repo: string, etag: string): string {
  if (!/^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(etag)) {
    throw new EngineError(
      'DOWNLOAD_FAILED',
      `The hub gave "${etag}" as a file hash, which is neither a sha1 nor a sha256.`,
      'Check HF_ENDPOINT points at a Hugging Face Hub.',
    );
  }
  return join(repoFolder(cacheDir, repo), 'blobs', etag);
}

/** Where a blob is written while it downloads; its size is the resume offset. */
export function incompleteBlobPath(cacheDir: string, repo: string, etag: string): string {
  return `${blobPath(cacheDir, repo, etag)}.incomplete`;
}

/**
 * The cross-process lock of one blob (blob-lock.ts): in huggingface_hub's `.locks/` folder, under
 * a name of its own (Python's filelock holds `{etag}.lock`).
 */
export function blobLockPath(cacheDir: string, repo: string, etag: string): string {
  blobPath(cacheDir, repo, etag); // validates the etag
  return join(cacheDir, '.locks', repoFolderName(repo), `${etag}.circuit-trace.lock`);
}

function refPath(cacheDir: string, repo: string, revision: string): string {
  assertRevision(revision);
  return join(repoFolder(cacheDir, repo), 'refs', ...revision.split('/'));
}

/** The commit a revision resolves to in the cache: itself for a commit sha, else the content of refs/{revision}. */
export async function readRef(cacheDir: string, repo: string, revision: string): Promise<string | null> {
  if (isCommitHash(revision)) return revision;
  try {
    const commit = (await readFile(refPath(cacheDir, repo, revision), 'utf8')).trim();
    return isCommitHash(commit) ? commit : null;
  } catch {
    return null;
  }
}

/** Records that `revision` points at `commit` (atomically: written aside, then renamed over). */
export async function writeRef(cacheDir: string, repo: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const path = refPath(cacheDir, repo, revision);
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${randomUUID()}.tmp`; // unique: concurrent loads each write their own
  await writeFile(temporary, commit, 'utf8');
  await rename(temporary, path);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile(); // follows the snapshot symlink: a dangling link is missing
  } catch {
    return false;
  }
}

/**
 * The model files a snapshot folder lacks: config.json, tokenizer.json and the weights (the first
 * layout of WEIGHTS_LAYOUTS the folder has: model.safetensors, or model.safetensors.index.json with
 * every shard it names, else the same for pytorch_model.bin), the one the loader will read. Empty
 * means the snapshot can be loaded.
 */
export async function missingModelFiles(snapshot: string): Promise<string[]> {
  const missing: string[] = [];
  for (const file of [CONFIG_FILE, TOKENIZER_FILE]) {
    if (!(await isFile(join(snapshot, file)))) missing.push(file);
  }
  for (const layout of WEIGHTS_LAYOUTS) {
    if (await isFile(join(snapshot, layout.single))) return missing;
    const indexPath = join(snapshot, layout.index);
    if (!(await isFile(indexPath))) continue;
    let shards: string[];
    try {
      shards = parseShardList(await readFile(indexPath, 'utf8'), layout.index);
    } catch {
      return [...missing, `${layout.index} (unreadable)`];
    }
    for (const shard of shards) {
      if (!(await isFile(joinRelativePath(snapshot, shard)))) missing.push(shard);
    }
    return missing;
  }
  return [...missing, WEIGHTS_REQUIREMENT];
}

export interface CachedSnapshotState {
  /** The commit the revision resolves to in the cache, or null when the cache has no ref for it. */
  commit: string | null;
  /** The snapshot folder when it is complete, else null. */
  folder: string | null;
  /** What the snapshot lacks (everything when there is no commit). */
  missing: string[];
}

/** Looks up (repo, revision) in the cache without touching the network. */
export async function inspectCachedSnapshot(repo: string, options: { revision?: string; cacheDir?: string } = {}): Promise<CachedSnapshotState> {
  const cacheDir = resolveHubCacheDir(options.cacheDir);
  const revision = options.revision ?? 'main';
  assertRepoId(repo);
  assertRevision(revision);
  const commit = await readRef(cacheDir, repo, revision);
  if (!commit) return { commit: null, folder: null, missing: [CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_REQUIREMENT] };
  const folder = snapshotFolder(cacheDir, repo, commit);
  const missing = await missingModelFiles(folder);
  return { commit, folder: missing.length === 0 ? folder : null, missing };
}

/** The complete cached snapshot folder for (repo, revision), or null when it is absent or incomplete. */
export async function resolveCachedSnapshot(repo: string, options: { revision?: string; cacheDir?: string } = {}): Promise<string | null> {
  return (await inspectCachedSnapshot(repo, options)).folder;
}

/**
 * Makes `snapshotFile` show `blob`: a relative symlink (huggingface_hub's choice, so the cache
 * survives being moved). Where symlinks are refused (Windows without developer mode, some network
 * drives) it falls back as huggingface_hub does: a blob this download just wrote is moved into the
 * snapshot (no second copy on disk); a blob that may be shared with other snapshots is copied.
 */
export async function placeBlobInSnapshot(blob: string, snapshotFile: string, options: { newBlob: boolean; allowSymlinks?: boolean }): Promise<void> {
  await mkdir(dirname(snapshotFile), { recursive: true });
  await rm(snapshotFile, { force: true });
  if (options.allowSymlinks !== false) {
    try {
      await symlink(relative(dirname(snapshotFile), blob), snapshotFile);
      return;
    } catch {
      // fall through to a plain file
    }
  }
  if (options.newBlob) {
    await rename(blob, snapshotFile);
    return;
  }
  const temporary = `${snapshotFile}.${randomUUID()}.tmp`;
  await copyFile(blob, temporary, fsConstants.COPYFILE_FICLONE);
  await rename(temporary, snapshotFile);
}

export interface CachedModelSnapshot {
  commit: string;
  folder: string;
  /** Revisions (branches, tags) whose ref points at this commit. */
  refs: string[];
  /** Whether it holds config.json, tokenizer.json and all weights. */
  complete: boolean;
  missing: string[];
}

export interface CachedModel {
  /** Hub model id, e.g. `openai-community/gpt2`. */
  repo: string;
  /** The repo's cache folder (models--owner--name). */
  folder: string;
  /** Bytes of every regular file under the folder (blobs, copied snapshot files, partial downloads). */
  sizeOnDisk: number;
  snapshots: CachedModelSnapshot[];
  /** Number of `.incomplete` blobs (interrupted downloads that a later download resumes). */
  partialDownloads: number;
}

async function listDir(path: string): Promise<import('node:fs').Dirent[]> {
  try {
    return await readdir(path, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** Bytes of regular files under `path`, not following symlinks (a snapshot link costs nothing). */
async function regularFileBytes(path: string): Promise<{ bytes: number; incomplete: number }> {
  let bytes = 0;
  let incomplete = 0;
  for (const entry of await listDir(path)) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) {
      const inner = await regularFileBytes(child);
      bytes += inner.bytes;
      incomplete += inner.incomplete;
    } else if (entry.isFile()) {
      bytes += (await lstat(child)).size;
      if (entry.name.endsWith('.incomplete')) incomplete += 1;
    }
  }
  return { bytes, incomplete };
}

/** Every ref under refs/ as (name, commit); names may contain `/` (e.g. refs/pr/1). */
async function readRefs(refsDir: string, prefix = ''): Promise<{ name: string; commit: string }[]> {
  const refs: { name: string; commit: string }[] = [];
  for (const entry of await listDir(refsDir)) {
    const path = join(refsDir, entry.name);
    if (entry.isDirectory()) {
      refs.push(...(await readRefs(path, `${prefix}${entry.name}/`)));
    } else if (entry.isFile() && !entry.name.endsWith('.tmp')) {
      const commit = (await readFile(path, 'utf8')).trim();
      if (isCommitHash(commit)) refs.push({ name: prefix + entry.name, commit });
    }
  }
  return refs;
}

/**
 * The models in the hub cache (also those Python fetched), sorted by id, with their size on disk.
 * Dictionaries fetched into the same cache are left out: a snapshot that is a dictionary's
 * (dictionary-snapshot.ts), and a repository whose every snapshot is one.
 */
export async function listCachedModels(options: { cacheDir?: string } = {}): Promise<CachedModel[]> {
  const cacheDir = resolveHubCacheDir(options.cacheDir);
  const models: CachedModel[] = [];
  for (const entry of await listDir(cacheDir)) {
    if (!entry.isDirectory() || !entry.name.startsWith(REPO_FOLDER_PREFIX)) continue;
    const repo = entry.name.slice(REPO_FOLDER_PREFIX.length).split(REPO_ID_SEPARATOR).join('/');
    try {
      assertRepoId(repo);
    } catch {
      continue; // not a folder huggingface_hub would have written
    }
    const folder = join(cacheDir, entry.name);
    const refs = await readRefs(join(folder, 'refs'));
    const snapshots: CachedModelSnapshot[] = [];
    let dictionaries = 0;
    for (const snapshot of await listDir(join(folder, 'snapshots'))) {
      if (!snapshot.isDirectory()) continue;
      const snapshotDir = join(folder, 'snapshots', snapshot.name);
      if (await isDictionarySnapshot(snapshotDir)) {
        dictionaries += 1;
        continue;
      }
      const missing = await missingModelFiles(snapshotDir);
      snapshots.push({
        commit: snapshot.name,
        folder: snapshotDir,
        refs: refs
          .filter((ref) => ref.commit === snapshot.name)
          .map((ref) => ref.name)
          .sort(),
        complete: missing.length === 0,
        missing,
      });
    }
    if (dictionaries > 0 && snapshots.length === 0) continue;
    const { bytes, incomplete } = await regularFileBytes(folder);
    models.push({ repo, folder, sizeOnDisk: bytes, snapshots, partialDownloads: incomplete });
  }
  return models.sort((a, b) => a.repo.localeCompare(b.repo));
}

/**
 * Deletes a model's whole cache folder (all snapshots, blobs and partial downloads). Refuses,
 * with BAD_ARGUMENT, anything that is not a model id whose folder lies directly in the cache dir.
 * @returns whether there was something to delete
 */
export async function deleteCachedModel(repo: string, options: { cacheDir?: string } = {}): Promise<boolean> {
  const cacheDir = resolveHubCacheDir(options.cacheDir);
  const folder = repoFolder(cacheDir, repo); // validates the id: no separators, no `..`
  const inside = relative(cacheDir, folder);
  if (inside !== repoFolderName(repo) || inside.includes(sep) || inside.startsWith('..')) {
    throw new EngineError('BAD_ARGUMENT', `Refusing to delete ${folder}: it is not a model folder inside the cache ${cacheDir}.`);
  }
  try {
    if (!(await lstat(folder)).isDirectory()) return false;
  } catch {
    return false;
  }
  await rm(folder, { recursive: true, force: true });
  // huggingface_hub keeps per-repo lock files in .locks/; they belong to the deleted model too.
  await rm(join(cacheDir, '.locks', repoFolderName(repo)), { recursive: true, force: true });
  return true;
}
