/**
 * Loads a model folder in Hugging Face layout: config.json, model.safetensors (or a sharded
 * model.safetensors.index.json with its shards; else PyTorch's pytorch_model.bin, or its sharded
 * index) and tokenizer.json, into the canonical model and a tokenizer. Only the safetensors headers
 * (a .bin's directory and pickle) are read up front; each tensor is then read into a
 * buffer of its own as the adapter asks for it, so the checkpoint never sits in memory twice.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../errors.js';
import { tensor, type Tensor } from '../tensor.js';
import { bosConvention } from '../tokenizer/bos-convention.js';
import { loadTokenizer } from '../tokenizer/tokenizer.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import { adapterFor } from './adapters/index.js';
import { assertFiniteTensor } from './finite-check.js';
import { isFile, missingModelFile, openCheckpointFiles } from './checkpoint-files.js';
import type { SafetensorsFile } from './safetensors.js';
import type { TensorSource } from './tensor-source.js';
import { assertVocabularyMatches } from './vocab-check.js';
import type { CanonicalModel } from './weights.js';

export interface LoadedFolder {
  model: CanonicalModel;
  tokenizer: PromptTokenizer;
  /** Raw config.json. */
  rawConfig: Record<string, unknown>;
  /** Bytes of weights read. */
  weightBytes: number;
}

export async function loadModelFolder(folder: string): Promise<LoadedFolder> {
  if (
    !(await stat(folder).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  ) {
    throw new EngineError('MODEL_NOT_FOUND', `No model folder at ${folder}.`, 'Choose a folder that holds config.json, model.safetensors and tokenizer.json.');
  }
  const configPath = join(folder, 'config.json');
  const tokenizerPath = join(folder, 'tokenizer.json');
  if (!(await isFile(configPath))) throw missingModelFile(folder, 'config.json');
  if (!(await isFile(tokenizerPath))) throw missingModelFile(folder, 'tokenizer.json');

  let rawConfig: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(await readFile(configPath, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    rawConfig = parsed as Record<string, unknown>;
  } catch (error) {
    throw new EngineError('BAD_CONFIG', `${configPath} is not valid JSON: ${(error as Error).message}.`);
  }
  // Fail on an unknown architecture before reading gigabytes of weights.
  const adapter = adapterFor(rawConfig['model_type']);

  // Safetensors when the folder has them, else pytorch_model.bin (read without running its pickle).
  const { files, weightBytes } = await openCheckpointFiles(folder);

  // The tokenizer first: a broken one fails before gigabytes of weights are read.
  const tokenizerText = await readFile(tokenizerPath, 'utf8');
  let tokenizerJson: unknown;
  try {
    tokenizerJson = JSON.parse(tokenizerText);
  } catch {
    tokenizerJson = tokenizerText; // loadTokenizer says what is wrong with it
  }
  const tokenizer = loadTokenizer(tokenizerJson as object | string);
  const model = adapter.adapt(rawConfig, tensorSource(files));
  const bos = bosConvention({
    config: rawConfig,
    tokenizerJson,
    tokenizerConfig: await readTokenizerConfig(folder),
    tokenToId: (token) => tokenizer.tokenId?.(token),
  });
  // Only a model whose default differs from GPT-2's carries it.
  if (!bos.prependByDefault && model.config.bosTokenId !== null) model.config.defaultPrependBos = false;
  assertVocabularyMatches(tokenizer.vocabSize, model.config.dVocab, rawConfig, folder);
  return { model, tokenizer, rawConfig, weightBytes };
}

/** tokenizer_config.json, parsed, or undefined when the folder has none (or it is not JSON: it only informs the BOS default). */
async function readTokenizerConfig(folder: string): Promise<unknown> {
  const path = join(folder, 'tokenizer_config.json');
  if (!(await isFile(path))) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** One TensorSource over several safetensors files (the shards of a checkpoint). */
export function tensorSource(files: readonly SafetensorsFile[]): TensorSource {
  const owner = new Map<string, SafetensorsFile>();
  for (const file of files) for (const name of file.tensors.keys()) owner.set(name, file);
  return {
    names: () => [...owner.keys()],
    shape: (name) => owner.get(name)?.tensors.get(name)?.shape,
    get: (name): Tensor => {
      const file = owner.get(name);
      if (!file) throw new EngineError('MISSING_TENSOR', `The checkpoint has no tensor "${name}".`);
      const t = file.get(name);
      const data = t.float32();
      assertFiniteTensor(data, t.shape, name, file.label);
      return tensor(data, t.shape);
    },
  };
}
