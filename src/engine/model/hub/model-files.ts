/**
 * Which files of a Hub repo make a loadable model, and how to read the shard list of a sharded
 * checkpoint. Shared by the cache check (is a snapshot complete?) and the downloader (what to fetch).
 */
import { EngineError } from '../../errors.js';

export const CONFIG_FILE = 'config.json';
export const TOKENIZER_FILE = 'tokenizer.json';
/** A checkpoint in one file. */
export const SINGLE_WEIGHTS_FILE = 'model.safetensors';
/** A sharded checkpoint: this index names the shards in its `weight_map`. */
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';
/** Fetched when the repo has them; a model loads without them. */
export const OPTIONAL_FILES: readonly string[] = ['tokenizer_config.json', 'generation_config.json'];

/** The description of the weights requirement used in messages. */
export const WEIGHTS_REQUIREMENT = `${SINGLE_WEIGHTS_FILE} (or ${WEIGHTS_INDEX_FILE} and its shards)`;

/**
 * Rejects a repo-relative file path that could escape the folder it is joined onto
 * (absolute, `..` segments, backslashes, empty segments). Paths come from the Hub or from an
 * index file, i.e. from someone else.
 */
export function assertSafeRelativePath(path: string, source: string): void {
  const segments = path.split('/');
  const unsafe =
    path.length === 0 ||
    path.includes('\\') ||
    path.includes('\0') ||
    /^[a-zA-Z]:/.test(path) ||
    segments.some((segment) => segment === '' || segment === '.' || segment === '..');
  if (unsafe) {
    throw new EngineError('CORRUPT_WEIGHTS', `${source} names the file "${path}", which is not a plain path inside the repo.`, 'The repo is malformed; use another revision or a local model folder.');
  }
}

/**
 * The distinct shard files listed in a `model.safetensors.index.json`, in first-seen order.
 * @param text the index file's contents
 * @param source how to name the index in errors (e.g. its path)
 */
export function parseShardList(text: string, source: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new EngineError('CORRUPT_WEIGHTS', `${source} is not valid JSON (${(error as Error).message}).`, 'Delete the cached model and download it again.');
  }
  const weightMap = typeof parsed === 'object' && parsed !== null ? (parsed as { weight_map?: unknown }).weight_map : undefined;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new EngineError('CORRUPT_WEIGHTS', `${source} has no "weight_map" object.`, 'Delete the cached model and download it again.');
  }
  const shards = new Set<string>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string') {
      throw new EngineError('CORRUPT_WEIGHTS', `${source} maps tensor "${tensor}" to a non-string shard.`, 'Delete the cached model and download it again.');
    }
    assertSafeRelativePath(shard, source);
    shards.add(shard);
  }
  if (shards.size === 0) {
    throw new EngineError('CORRUPT_WEIGHTS', `${source} lists no shards.`, 'Delete the cached model and download it again.');
  }
  return [...shards];
}
