/**
 * Opens the weights of a model folder, whichever layout it has (hub/model-files.ts's
 * WEIGHTS_LAYOUTS, in order: model.safetensors, model.safetensors.index.json and its shards,
 * pytorch_model.bin, pytorch_model.bin.index.json and its shards). Each file is opened lazily: its
 * header (or a torch archive's directory and pickle) now, tensor bytes when the adapter asks.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../errors.js';
import { WEIGHTS_LAYOUTS, type WeightsLayout } from './hub/model-files.js';
import { openSafetensors, readShardedIndex, type SafetensorsFile } from './safetensors.js';
import { joinRelativePath } from './shard-path.js';
import { openTorchCheckpoint } from './torch-checkpoint.js';

export interface CheckpointFiles {
  files: SafetensorsFile[];
  /** Bytes of the weight files on disk. */
  weightBytes: number;
  layout: WeightsLayout;
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** MODEL_FILE_MISSING for a file a model folder needs. */
export function missingModelFile(folder: string, file: string): EngineError {
  return new EngineError(
    'MODEL_FILE_MISSING',
    `The model folder ${folder} has no ${file}.`,
    'A model folder needs config.json, tokenizer.json and its weights: model.safetensors (or model.safetensors.index.json with its shards), or pytorch_model.bin (or pytorch_model.bin.index.json with its shards); download the model again.',
  );
}

export async function openCheckpointFiles(folder: string): Promise<CheckpointFiles> {
  for (const layout of WEIGHTS_LAYOUTS) {
    const open = layout.format === 'torch' ? openTorchCheckpoint : openSafetensors;
    const single = join(folder, layout.single);
    if (await isFile(single)) return { files: [open(single)], weightBytes: (await stat(single)).size, layout };
    const indexPath = join(folder, layout.index);
    if (!(await isFile(indexPath))) continue;
    const index = readShardedIndex(await readFile(indexPath, 'utf8'), indexPath);
    const files: SafetensorsFile[] = [];
    let weightBytes = 0;
    for (const shard of index.shardFiles) {
      const path = joinRelativePath(folder, shard);
      if (!(await isFile(path))) throw missingModelFile(folder, shard);
      weightBytes += (await stat(path)).size;
      files.push(open(path));
    }
    return { files, weightBytes, layout };
  }
  throw missingModelFile(folder, `${WEIGHTS_LAYOUTS[0]!.single} (nor any other weights file)`);
}
