/**
 * Which files of a Hub repo make a loadable model, and how to read the shard list of a sharded
 * checkpoint. Shared by the cache check (is a snapshot complete?) and the downloader (what to fetch).
 */
import { readShardedIndex } from '../safetensors.js';

export const CONFIG_FILE = 'config.json';
export const TOKENIZER_FILE = 'tokenizer.json';
/** A checkpoint in one file. */
export const SINGLE_WEIGHTS_FILE = 'model.safetensors';
/** A sharded checkpoint: this index names the shards in its `weight_map`. */
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';
/** Fetched when the repo has them; a model loads without them. */
export const OPTIONAL_FILES: readonly string[] = ['tokenizer_config.json', 'generation_config.json'];

/** How a checkpoint's weights may be stored: one file, or an index (same `weight_map` format) and its shards. */
export interface WeightsLayout {
  readonly format: 'safetensors' | 'torch';
  readonly single: string;
  readonly index: string;
}

/**
 * The weights layouts in order of preference, which the loader, the cache check and the downloader
 * all follow: safetensors when the repository has them, else PyTorch's pytorch_model.bin (read
 * without running its pickle; older checkpoints ship only that).
 */
export const WEIGHTS_LAYOUTS: readonly WeightsLayout[] = [
  { format: 'safetensors', single: SINGLE_WEIGHTS_FILE, index: WEIGHTS_INDEX_FILE },
  { format: 'torch', single: 'pytorch_model.bin', index: 'pytorch_model.bin.index.json' },
];

/** The description of the weights requirement used in messages. */
export const WEIGHTS_REQUIREMENT = `${SINGLE_WEIGHTS_FILE} (or ${WEIGHTS_INDEX_FILE} and its shards, or pytorch_model.bin, or pytorch_model.bin.index.json and its shards)`;

/**
 * The distinct shard paths listed in a `model.safetensors.index.json` (or `pytorch_model.bin.index.json`), sorted: the loader's own
 * parser (safetensors.ts), so the downloader fetches exactly the paths the loader will accept.
 * @param text the index file's contents
 * @param source how to name the index in errors (e.g. its path)
 */
export function parseShardList(text: string, source: string): string[] {
  return [...readShardedIndex(text, source).shardFiles];
}
