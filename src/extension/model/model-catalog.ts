/**
 * The models the user can pick from: the built-in organism, the Hub models in the cache, the
 * known downloadable models of the registry, and (in trusted workspaces) a local folder. One list
 * feeds both the Models view and the Select Model quick pick.
 * Pure: no vscode import.
 */
import type { KnownModel } from './model-registry.js';
import { ORGANISM_CHOICE_ID, type ModelChoice } from './model-choice.js';
import { formatBytes } from '../format/token-text.js';

/** A cached Hub model as the catalog needs it (from cache-layout's listCachedModels). */
export interface CachedRepo {
  repo: string;
  sizeOnDisk: number;
  complete: boolean;
  partialDownloads: number;
}

export type CatalogEntryKind = 'organism' | 'cached' | 'remote';

export interface CatalogEntry {
  kind: CatalogEntryKind;
  /** Canonical choice id (model-choice.ts). */
  id: string;
  choice: ModelChoice;
  label: string;
  description: string;
  detail: string;
  active: boolean;
}

export interface CatalogInput {
  organismName: string;
  cached: readonly CachedRepo[];
  known: readonly KnownModel[];
  /** Canonical id of the active model, if any. */
  activeId: string | undefined;
}

export function buildCatalog(input: CatalogInput): CatalogEntry[] {
  const known = new Map(input.known.map((k) => [k.repo, k]));
  const entries: CatalogEntry[] = [
    {
      kind: 'organism',
      id: ORGANISM_CHOICE_ID,
      choice: { kind: 'organism' },
      label: input.organismName,
      description: 'built-in',
      detail: 'A small model with planted circuits, generated locally: no download.',
      active: input.activeId === ORGANISM_CHOICE_ID,
    },
  ];
  const cachedRepos = new Set<string>();
  for (const c of input.cached) {
    cachedRepos.add(c.repo);
    const k = known.get(c.repo);
    const state = c.complete ? formatBytes(c.sizeOnDisk) : `incomplete, ${formatBytes(c.sizeOnDisk)}${c.partialDownloads > 0 ? ' (download can resume)' : ''}`;
    entries.push({
      kind: 'cached',
      id: c.repo,
      choice: { kind: 'hub', repo: c.repo },
      label: k?.displayName ?? c.repo,
      description: `cached · ${state}`,
      detail: k ? knownModelDetail(k, false) : c.repo,
      active: input.activeId === c.repo,
    });
  }
  for (const k of input.known) {
    if (cachedRepos.has(k.repo)) continue;
    entries.push({
      kind: 'remote',
      id: k.repo,
      choice: k.revision ? { kind: 'hub', repo: k.repo, revision: k.revision } : { kind: 'hub', repo: k.repo },
      label: k.displayName,
      description: [k.sizeBytes ? `download · ${formatBytes(k.sizeBytes)}` : 'download', ...(k.gated ? ['gated: needs HF_TOKEN'] : [])].join(' · '),
      detail: knownModelDetail(k, true),
      active: input.activeId === k.repo,
    });
  }
  return entries;
}

/** A known model's shape and description, and, before a download, whether the Hub asks for a token. */
export function knownModelDetail(k: KnownModel, forDownload: boolean): string {
  const shape = [
    k.nLayers ? `${k.nLayers} layers` : null,
    k.nHeads ? `${k.nHeads} heads${k.nKvHeads ? ` (${k.nKvHeads} key-value)` : ''}` : null,
    k.dModel ? `d_model ${k.dModel}` : null,
  ].filter((part): part is string => part !== null);
  const gated =
    forDownload && k.gated
      ? 'Gated on the Hugging Face Hub: accept the licence on its page on huggingface.co, then set the HF_TOKEN environment variable to an access token before starting VS Code.'
      : null;
  return [shape.length > 0 ? `${shape.join(' · ')}.` : null, k.description ?? k.repo, gated].filter((part): part is string => part !== null).join(' ');
}

/** Hub ids complete in the cache. */
export function completeCachedRepos(cached: readonly CachedRepo[]): string[] {
  return cached.filter((c) => c.complete).map((c) => c.repo);
}
