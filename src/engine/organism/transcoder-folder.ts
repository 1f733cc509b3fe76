/**
 * Writes the organism's transcoder (organism-transcoder.ts) in circuit-tracer's per-layer layout:
 *
 *   config.yaml               model_name, feature_input_hook, feature_output_hook, and a
 *                             `transcoders` list of { id, layer, filepath } (filepath relative to
 *                             the folder)
 *   layer_L.safetensors       one per layer, as circuit-tracer's ReLU transcoders store them (the
 *                             layout of torch Linear weights): W_enc [d_sae, d_model],
 *                             b_enc [d_sae], W_dec [d_model, d_sae], b_dec [d_model], F32; no
 *                             W_skip, no thresholds
 *   LABELS_FILE               the features' explanations in Neuronpedia's export format: a JSON
 *                             array of { modelId, layer, index, description, ... }, `layer` being
 *                             `L-organism-transcoder` and `index` the feature's index as a string
 *   TRANSCODER_MARKER         version, seed and the files' sizes, written last: a folder with it is
 *                             complete, and one from an older design is regenerated
 *
 * The same seed gives the same bytes. `ensureOrganismTranscoder` generates it once into a storage
 * folder, atomically, as `ensureOrganism` does the organism.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSafetensorsFile } from '../model/safetensors-writer.js';
import { loadTokenizer } from '../tokenizer/tokenizer.js';
import { bytesToByteLevel } from '../tokenizer/byte-level.js';
import { vocabLookup } from './build-organism.js';
import { ensureGeneratedFolder } from './generated-folder.js';
import { ORGANISM_SEED } from './organism-design.js';
import { generateOrganism, ORGANISM_VERSION } from './organism-folder.js';
import {
  buildOrganismTranscoder,
  defaultMonitoredTokens,
  TRANSCODER_INPUT_HOOK,
  TRANSCODER_OUTPUT_HOOK,
  type OrganismTranscoder,
} from './organism-transcoder.js';
import { D_MODEL } from './residual-layout.js';

export const TRANSCODER_CONFIG_FILE = 'config.yaml';
export const TRANSCODER_LABELS_FILE = 'explanations.json';
export const TRANSCODER_MARKER = 'organism-transcoder.json';
/** Bumped whenever the transcoder's features change, so that stored copies are regenerated. */
export const ORGANISM_TRANSCODER_VERSION = 1;

export interface TranscoderMarker {
  name: 'circuit-trace-organism-transcoder';
  version: number;
  /** The organism's version the features were built from. */
  organismVersion: number;
  seed: number;
  /** Each written file's size, so that a truncated copy is noticed and regenerated. */
  sizes: Record<string, number>;
}
/** The model the config names: the CLI's and the extension's name for the organism. */
export const ORGANISM_MODEL_NAME = 'organism';
/** Neuronpedia's source-set name for the layers' labels (`0-organism-transcoder`). */
export const TRANSCODER_SOURCE_SET = 'organism-transcoder';

export function transcoderLayerFile(layer: number): string {
  return `layer_${layer}.safetensors`;
}

/** One label of a Neuronpedia explanations export. */
export interface NeuronpediaExplanation {
  modelId: string;
  layer: string;
  index: string;
  description: string;
  explanationModelName: string;
  typeName: string;
}

/** The config.yaml text: every string double-quoted (JSON strings are valid YAML). */
export function transcoderConfigYaml(transcoder: OrganismTranscoder): string {
  const lines = [
    "# The Circuit Trace organism's hand-built transcoders (features are its known mechanisms).",
    `model_name: ${JSON.stringify(ORGANISM_MODEL_NAME)}`,
    `feature_input_hook: ${JSON.stringify(TRANSCODER_INPUT_HOOK)}`,
    `feature_output_hook: ${JSON.stringify(TRANSCODER_OUTPUT_HOOK)}`,
    '',
    'transcoders:',
  ];
  for (const { layer } of transcoder.layers) {
    lines.push(
      `  - id: ${JSON.stringify(`organism-transcoder-${layer}`)}`,
      `    layer: ${layer}`,
      `    filepath: ${JSON.stringify(transcoderLayerFile(layer))}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The labels of every feature, in Neuronpedia's export format. */
export function transcoderExplanations(transcoder: OrganismTranscoder): NeuronpediaExplanation[] {
  return transcoder.layers.flatMap(({ layer, features }) =>
    features.map((f) => ({
      modelId: ORGANISM_MODEL_NAME,
      layer: `${layer}-${TRANSCODER_SOURCE_SET}`,
      index: String(f.index),
      description: f.label,
      explanationModelName: 'hand-written',
      typeName: 'organism-design',
    })),
  );
}

/** [rows, cols] row-major -> [cols, rows] row-major. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Writes `transcoder` into `dir` (created if needed) and returns the names of the files written. */
export async function writeTranscoderFolder(dir: string, transcoder: OrganismTranscoder): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const t of transcoder.layers) {
    const file = transcoderLayerFile(t.layer);
    await writeSafetensorsFile(
      join(dir, file),
      [
        // W_enc is held [d_model, d_sae] and stored [d_sae, d_model]; W_dec held [d_sae, d_model], stored [d_model, d_sae].
        { name: 'W_enc', dtype: 'F32', shape: [t.dSae, D_MODEL], data: transpose(t.W_enc, D_MODEL, t.dSae) },
        { name: 'b_enc', dtype: 'F32', shape: [t.dSae], data: t.b_enc },
        { name: 'W_dec', dtype: 'F32', shape: [D_MODEL, t.dSae], data: transpose(t.W_dec, t.dSae, D_MODEL) },
        { name: 'b_dec', dtype: 'F32', shape: [D_MODEL], data: t.b_dec },
      ],
      { format: 'pt', organism_seed: String(transcoder.seed) },
    );
    written.push(file);
  }
  await writeFile(join(dir, TRANSCODER_LABELS_FILE), `${JSON.stringify(transcoderExplanations(transcoder), null, 1)}\n`);
  written.push(TRANSCODER_LABELS_FILE);
  await writeFile(join(dir, TRANSCODER_CONFIG_FILE), transcoderConfigYaml(transcoder));
  written.push(TRANSCODER_CONFIG_FILE);
  const sizes: Record<string, number> = {};
  for (const file of written) sizes[file] = (await stat(join(dir, file))).size;
  const marker: TranscoderMarker = {
    name: 'circuit-trace-organism-transcoder',
    version: ORGANISM_TRANSCODER_VERSION,
    organismVersion: ORGANISM_VERSION,
    seed: transcoder.seed,
    sizes,
  };
  // Written last: its presence says the folder is complete.
  await writeFile(join(dir, TRANSCODER_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
  written.push(TRANSCODER_MARKER);
  return written;
}

const utf8 = new TextEncoder();

/** Builds the organism of token-code seed `seed` and its transcoder (default monitored tokens). */
export function generateOrganismTranscoder(seed: number = ORGANISM_SEED): OrganismTranscoder {
  const { model, tokenizerJson } = generateOrganism(seed);
  const tokenizer = loadTokenizer(tokenizerJson);
  const lookup = vocabLookup(tokenizerJson.model.vocab, (text) => bytesToByteLevel(utf8.encode(text)));
  const monitored = defaultMonitoredTokens((text) => tokenizer.encode(text).ids, lookup);
  return buildOrganismTranscoder(model, seed, { lookup, tokenText: (id) => tokenizer.tokenText(id) }, monitored);
}

/** Writes the organism's transcoder for seed `seed` into `dir`; returns the names of the files written. */
export async function writeOrganismTranscoderFolder(dir: string, seed: number = ORGANISM_SEED): Promise<string[]> {
  return writeTranscoderFolder(dir, generateOrganismTranscoder(seed));
}

/** Whether `dir` holds a complete organism transcoder of the current versions and the default seed. */
export async function isOrganismTranscoderFolder(dir: string): Promise<boolean> {
  try {
    const marker = JSON.parse(await readFile(join(dir, TRANSCODER_MARKER), 'utf8')) as Partial<TranscoderMarker>;
    if (
      marker.name !== 'circuit-trace-organism-transcoder' ||
      marker.version !== ORGANISM_TRANSCODER_VERSION ||
      marker.organismVersion !== ORGANISM_VERSION ||
      marker.seed !== ORGANISM_SEED ||
      typeof marker.sizes !== 'object' ||
      marker.sizes === null
    )
      return false;
    const expected = [transcoderLayerFile(0), transcoderLayerFile(1), TRANSCODER_LABELS_FILE, TRANSCODER_CONFIG_FILE];
    for (const file of expected) {
      const size = await stat(join(dir, file)).then(
        (s) => (s.isFile() ? s.size : -1),
        () => -1,
      );
      if (size <= 0 || size !== marker.sizes[file]) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Makes sure `dir` holds the organism's transcoder (default seed), generated once and atomically; returns `dir`. */
export async function ensureOrganismTranscoder(dir: string): Promise<string> {
  return ensureGeneratedFolder(dir, {
    isComplete: isOrganismTranscoderFolder,
    write: (temp) => writeOrganismTranscoderFolder(temp),
    what: "the organism's transcoder",
  });
}
