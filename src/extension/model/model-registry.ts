/**
 * Reads models/registry.json (the known downloadable models; written by the organism helper)
 * defensively: the file may be missing, hold an array or an object with `models`, and entries
 * may name their fields a little differently. Anything unusable is skipped with a reason.
 * Pure: no vscode import.
 */

export interface KnownModel {
  /** Hugging Face model id, e.g. "openai-community/gpt2". */
  repo: string;
  revision?: string;
  displayName: string;
  description?: string;
  /** Download size in bytes, when the registry gives it. */
  sizeBytes?: number;
  nLayers?: number;
  nHeads?: number;
  /** Key-value heads, when fewer than the query heads (grouped-query attention). */
  nKvHeads?: number;
  dModel?: number;
  /** The repository is gated on the Hub: downloading needs its licence accepted and HF_TOKEN set. */
  gated?: boolean;
}

export interface RegistryReading {
  models: KnownModel[];
  /** Why entries (or the whole file) were skipped. */
  problems: string[];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function positiveInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

function positiveNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

function readEntry(raw: unknown, index: number): KnownModel | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return `entry ${index} is not an object`;
  const e = raw as Record<string, unknown>;
  const hub = typeof e['hub'] === 'object' && e['hub'] !== null ? (e['hub'] as Record<string, unknown>) : {};
  const repo = str(e['repo']) ?? str(e['hubId']) ?? str(hub['repo']) ?? str(e['id']);
  if (!repo) return `entry ${index} names no Hub repo`;
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(repo)) return `entry ${index}: "${repo}" is not a Hugging Face model id`;
  const model: KnownModel = { repo, displayName: str(e['displayName']) ?? str(e['label']) ?? str(e['name']) ?? repo };
  const revision = str(e['revision']) ?? str(hub['revision']);
  if (revision) model.revision = revision;
  const description = str(e['description']);
  if (description) model.description = description;
  const size = positiveNumber(e['sizeBytes']) ?? positiveNumber(e['downloadBytes']) ?? positiveNumber(e['bytes']) ?? positiveNumber(e['size']);
  if (size) model.sizeBytes = size;
  const config = typeof e['config'] === 'object' && e['config'] !== null ? (e['config'] as Record<string, unknown>) : {};
  const nLayers = positiveInt(e['nLayers']) ?? positiveInt(config['nLayers']) ?? positiveInt(config['n_layer']);
  const nHeads = positiveInt(e['nHeads']) ?? positiveInt(config['nHeads']) ?? positiveInt(config['n_head']);
  const nKvHeads = positiveInt(e['nKvHeads']) ?? positiveInt(config['nKvHeads']) ?? positiveInt(config['num_key_value_heads']);
  const dModel = positiveInt(e['dModel']) ?? positiveInt(config['dModel']) ?? positiveInt(config['n_embd']) ?? positiveInt(config['hidden_size']);
  if (nLayers) model.nLayers = nLayers;
  if (nHeads) model.nHeads = nHeads;
  if (nKvHeads && nKvHeads !== nHeads) model.nKvHeads = nKvHeads;
  if (dModel) model.dModel = dModel;
  if (e['gated'] === true) model.gated = true;
  return model;
}

/** Parses the registry's text; never throws. */
export function readModelRegistry(text: string | undefined): RegistryReading {
  if (text === undefined) return { models: [], problems: ['models/registry.json is missing'] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { models: [], problems: [`models/registry.json is not valid JSON (${error instanceof Error ? error.message : String(error)})`] };
  }
  const list = Array.isArray(parsed)
    ? parsed
    : typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as Record<string, unknown>)['models'])
      ? ((parsed as Record<string, unknown>)['models'] as unknown[])
      : null;
  if (!list) return { models: [], problems: ['models/registry.json holds neither an array nor an object with "models"'] };
  const models: KnownModel[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  list.forEach((raw, i) => {
    // The organism may be listed in the registry too; it is always offered separately.
    if (
      typeof raw === 'object' &&
      raw !== null &&
      ((raw as Record<string, unknown>)['kind'] === 'organism' || (raw as Record<string, unknown>)['id'] === 'organism')
    )
      return;
    const entry = readEntry(raw, i);
    if (typeof entry === 'string') problems.push(entry);
    else if (seen.has(entry.repo)) problems.push(`entry ${i} repeats ${entry.repo}`);
    else {
      seen.add(entry.repo);
      models.push(entry);
    }
  });
  return { models, problems };
}
