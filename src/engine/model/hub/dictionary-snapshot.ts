/**
 * Whether a snapshot in the hub cache is a dictionary's rather than a model's. Dictionaries are
 * fetched into the same cache as models (features/dictionary-hub.ts), and a dictionary repository
 * has no config.json, so the model listing would show it as a model missing everything.
 *
 * A snapshot is a dictionary's when it has no config.json at its root and somewhere under it holds
 * a dictionary's files in the layouts features/ reads: SAELens's cfg.json beside
 * sae_weights.safetensors (saelens.ts), a circuit-tracer transcoder config, a YAML file with a
 * top-level feature_input_hook (circuit-tracer-config.ts; config.yaml or the first release's
 * configs/*.yaml), or Gemma Scope's params.npz (gemma-scope.ts). The names are repeated here, not
 * imported, so the cache listing does not load the dictionary readers; the test lays out each
 * format with features/random-dictionary-writer.ts, so a change of layout there fails it.
 */
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFIG_FILE } from './model-files.js';

const SAELENS_CONFIG = 'cfg.json';
const SAELENS_WEIGHTS = 'sae_weights.safetensors';
const GEMMA_SCOPE_PARAMS = 'params.npz';
const YAML_FILE = /\.ya?ml$/i;
/** Every circuit-tracer config, in both of its forms, names the hook its transcoders read. */
const CIRCUIT_TRACER_KEY = /^feature_input_hook\s*:/m;
/** A transcoder config is a few kilobytes; a larger YAML file is not read. */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** Gemma Scope's params.npz lies four folders down (layer_L/width_W/average_l0_N/); releases may add a folder or two. */
const MAX_DEPTH = 8;

async function entriesOf(folder: string): Promise<Dirent[]> {
  try {
    return await readdir(folder, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** A file, or a snapshot link to one (a dangling link is none). */
async function fileSize(path: string): Promise<number | null> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

async function isCircuitTracerConfig(path: string): Promise<boolean> {
  const size = await fileSize(path);
  if (size === null || size > MAX_CONFIG_BYTES) return false;
  try {
    return CIRCUIT_TRACER_KEY.test(await readFile(path, 'utf8'));
  } catch {
    return false;
  }
}

async function holdsDictionaryFiles(folder: string, depth: number): Promise<boolean> {
  const entries = await entriesOf(folder);
  const names = new Set(entries.filter((e) => !e.isDirectory()).map((e) => e.name));
  if (names.has(GEMMA_SCOPE_PARAMS) && (await fileSize(join(folder, GEMMA_SCOPE_PARAMS))) !== null) return true;
  if (names.has(SAELENS_CONFIG) && names.has(SAELENS_WEIGHTS)) {
    if ((await fileSize(join(folder, SAELENS_CONFIG))) !== null && (await fileSize(join(folder, SAELENS_WEIGHTS))) !== null) return true;
  }
  for (const name of names) if (YAML_FILE.test(name) && (await isCircuitTracerConfig(join(folder, name)))) return true;
  if (depth >= MAX_DEPTH) return false;
  // Snapshot folders are real folders (only files are links to blobs), so links are not followed.
  for (const entry of entries) if (entry.isDirectory() && (await holdsDictionaryFiles(join(folder, entry.name), depth + 1))) return true;
  return false;
}

/** Whether the snapshot folder holds a dictionary (and no model's config.json), so the model listing leaves it out. */
export async function isDictionarySnapshot(snapshot: string): Promise<boolean> {
  if ((await fileSize(join(snapshot, CONFIG_FILE))) !== null) return false;
  return holdsDictionaryFiles(snapshot, 0);
}
