/**
 * Writes a model folder in Hugging Face layout: config.json, the weights as model.safetensors
 * (or as shards `model-0000X-of-0000Y.safetensors` with `model.safetensors.index.json`), and
 * tokenizer.json. Generated test checkpoints and model organisms are saved with it, so they load
 * through exactly the path a downloaded model takes. The same input gives the same bytes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../errors.js';
import type { HfTensor } from './hf-gpt2-layout.js';
import { safetensorsDataBytes, writeSafetensorsFile, type TensorToWrite, type WritableDtype } from './safetensors-writer.js';

export interface HfFolderContent {
  /** config.json content. */
  config: object;
  tensors: readonly HfTensor[];
  /** tokenizer.json content; no tokenizer.json is written when absent. */
  tokenizerJson?: object | null;
}

export interface HfFolderOptions {
  /** How the weights are stored (default F32). */
  dtype?: WritableDtype;
  /** Split the weights over this many safetensors files with an index (default 1: one model.safetensors). */
  shards?: number;
}

/** The metadata PyTorch's save_file writes, which transformers checks for. */
const PT_METADATA = { format: 'pt' };

export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

export function shardFileName(index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/**
 * Groups tensors, in order, into exactly `shards` non-empty groups of similar byte size: a group
 * closes when the next tensor would take it past an even share of the bytes still to place, or
 * when the tensors left are only enough to give every remaining group one.
 */
function splitIntoShards(tensors: readonly TensorToWrite[], shards: number): TensorToWrite[][] {
  const groups: TensorToWrite[][] = [];
  let current: TensorToWrite[] = [];
  let currentBytes = 0;
  let remainingBytes = safetensorsDataBytes(tensors);
  let target = remainingBytes / shards;
  tensors.forEach((t, k) => {
    const bytes = safetensorsDataBytes([t]);
    const groupsAfterThis = shards - groups.length - 1;
    const tensorsLeft = tensors.length - k;
    if (current.length > 0 && groupsAfterThis > 0 && (currentBytes + bytes > target || tensorsLeft === groupsAfterThis)) {
      groups.push(current);
      remainingBytes -= currentBytes;
      target = remainingBytes / (shards - groups.length);
      current = [];
      currentBytes = 0;
    }
    current.push(t);
    currentBytes += bytes;
  });
  groups.push(current);
  return groups;
}

/** Writes the folder (creating it if needed) and returns the names of the files written. */
export async function writeHfFolder(dir: string, content: HfFolderContent, options: HfFolderOptions = {}): Promise<string[]> {
  const dtype = options.dtype ?? 'F32';
  const shards = options.shards ?? 1;
  if (!Number.isSafeInteger(shards) || shards < 1 || shards > Math.max(1, content.tensors.length)) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `Cannot split ${content.tensors.length} tensors into ${shards} shards.`,
      'Ask for between 1 and as many shards as there are tensors.',
    );
  }
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const writeJson = async (name: string, value: object): Promise<void> => {
    await writeFile(join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
    written.push(name);
  };

  await writeJson('config.json', content.config);
  const toWrite: TensorToWrite[] = content.tensors.map((t) => ({ name: t.name, dtype, shape: t.shape, data: t.data }));
  if (shards === 1) {
    await writeSafetensorsFile(join(dir, 'model.safetensors'), toWrite, PT_METADATA);
    written.push('model.safetensors');
  } else {
    const groups = splitIntoShards(toWrite, shards);
    const weightMap: Record<string, string> = {};
    for (const [i, group] of groups.entries()) {
      const file = shardFileName(i, groups.length);
      await writeSafetensorsFile(join(dir, file), group, PT_METADATA);
      written.push(file);
      for (const t of group) weightMap[t.name] = file;
    }
    const sortedMap = Object.fromEntries(
      Object.keys(weightMap)
        .sort()
        .map((name) => [name, weightMap[name]]),
    );
    await writeJson(SAFETENSORS_INDEX_FILE, { metadata: { total_size: safetensorsDataBytes(toWrite) }, weight_map: sortedMap });
  }
  if (content.tokenizerJson) await writeJson('tokenizer.json', content.tokenizerJson);
  return written;
}
