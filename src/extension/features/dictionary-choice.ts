/**
 * The dictionary the user chose, from what they typed or picked: a Hugging Face repository
 * (`owner/name[@revision]`, as model ids are parsed) with an optional subfolder (SAELens and
 * circuit-tracer repositories hold one dictionary per folder, e.g. `blocks.8.hook_resid_pre`), or a
 * local folder. Also the short name shown for it. Pure: no vscode import.
 */
import { basename } from 'node:path';
import type { DictionarySpec } from '../../protocol/features.js';
import { parseModelChoice } from '../model/model-choice.js';

/** The repository part of a Hub dictionary; throws a message saying what is wrong. */
export function parseDictionaryRepo(value: string): { repo: string; revision?: string } {
  let choice;
  try {
    choice = parseModelChoice(value);
  } catch {
    choice = null;
  }
  if (choice?.kind !== 'hub') throw new Error(`"${value.trim()}" is not a Hugging Face repository id (owner/name, optionally @revision).`);
  return choice.revision ? { repo: choice.repo, revision: choice.revision } : { repo: choice.repo };
}

/** A subfolder inside a repository: relative, forward slashes, no `..` or empty segments; '' means the repository's root. */
export function parseSubfolder(value: string): string {
  const v = value.trim().replace(/^\/+|\/+$/g, '');
  if (v === '') return '';
  if (v.includes('\\') || /^[A-Za-z]:/.test(v) || v.includes('\0')) throw new Error('A subfolder uses forward slashes and is relative to the repository.');
  const segments = v.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) throw new Error(`"${value.trim()}" is not a folder inside the repository.`);
  if (v.length > 300) throw new Error('The subfolder is longer than 300 characters.');
  return v;
}

/** A Hub dictionary from the repository and subfolder inputs; throws a message saying what is wrong. */
export function hubDictionary(repoInput: string, subfolderInput: string): DictionarySpec {
  const { repo, revision } = parseDictionaryRepo(repoInput);
  const subfolder = parseSubfolder(subfolderInput);
  return { kind: 'hub', repo, ...(revision ? { revision } : {}), ...(subfolder ? { subfolder } : {}) };
}

/** The dictionary's name as shown: `owner/name/subfolder` (with `@revision`), or the folder's name. */
export function dictionaryName(spec: DictionarySpec): string {
  if (spec.kind === 'organism') return "the organism's transcoders";
  if (spec.kind === 'folder') return basename(spec.path) || spec.path;
  const repo = spec.revision && spec.revision !== 'main' ? `${spec.repo}@${spec.revision}` : spec.repo;
  return spec.subfolder ? `${repo}/${spec.subfolder}` : repo;
}

/** Where the dictionary is, in full (tooltips, logs). */
export function dictionaryLocation(spec: DictionarySpec): string {
  if (spec.kind === 'organism') return spec.dir;
  return spec.kind === 'folder' ? spec.path : `huggingface.co/${dictionaryName(spec)}`;
}

/** A stored spec read back (workspace state is ours, but it may come from an older version): null unless well formed. */
export function storedDictionary(value: unknown): DictionarySpec | null {
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Record<string, unknown>;
  if (r.kind === 'folder' && typeof r.path === 'string' && r.path !== '') return { kind: 'folder', path: r.path };
  if (r.kind === 'organism' && typeof r.dir === 'string' && r.dir !== '') return { kind: 'organism', dir: r.dir };
  if (r.kind !== 'hub' || typeof r.repo !== 'string') return null;
  try {
    const rev = typeof r.revision === 'string' ? `@${r.revision}` : '';
    return hubDictionary(`${r.repo}${rev}`, typeof r.subfolder === 'string' ? r.subfolder : '');
  } catch {
    return null;
  }
}
