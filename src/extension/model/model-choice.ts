/**
 * What model the user chose, as one canonical string (the `circuitTrace.model` setting, history
 * entries and analysis keys use it) and as the engine's ModelSpec.
 *
 *   "organism"                      the built-in model organism
 *   "openai-community/gpt2[@rev]"   a Hugging Face Hub model (cached or downloaded)
 *   "/abs/path" or "~/path"         a local folder in Hugging Face layout
 *
 * Pure: no vscode import.
 */
import { isAbsolute } from 'node:path';
import type { ModelSpec } from '../../protocol/engine.js';

export type ModelChoice = { kind: 'organism' } | { kind: 'hub'; repo: string; revision?: string } | { kind: 'folder'; path: string };

export const ORGANISM_CHOICE_ID = 'organism';

const REPO_RE = /^(?:[A-Za-z0-9_](?:[\w.-]{0,94}[A-Za-z0-9_])?\/)?[A-Za-z0-9_](?:[\w.-]{0,94}[A-Za-z0-9_])?$/;
const REVISION_RE = /^[\w.\-/]{1,200}$/;

export function looksLikePath(value: string): boolean {
  return (
    isAbsolute(value) ||
    /^[A-Za-z]:[\\/]/.test(value) ||
    value === '~' ||
    value.startsWith('~/') ||
    value.startsWith('./') ||
    value.startsWith('../') ||
    value.startsWith('\\\\')
  );
}

/** Parses a setting value; '' is null (automatic choice). Throws a message saying what is wrong. */
export function parseModelChoice(value: string): ModelChoice | null {
  const v = value.trim();
  if (v === '') return null;
  if (v.toLowerCase() === ORGANISM_CHOICE_ID) return { kind: 'organism' };
  if (looksLikePath(v)) return { kind: 'folder', path: v };
  const at = v.lastIndexOf('@');
  const repo = at > 0 ? v.slice(0, at) : v;
  const revision = at > 0 ? v.slice(at + 1) : undefined;
  if (
    !REPO_RE.test(repo) ||
    repo.includes('--') ||
    repo.includes('..') ||
    (revision !== undefined && (!REVISION_RE.test(revision) || revision.includes('..')))
  ) {
    throw new Error(`"${value}" is neither "organism", a Hugging Face model id (owner/name, optionally @revision) nor a folder path.`);
  }
  return revision ? { kind: 'hub', repo, revision } : { kind: 'hub', repo };
}

/** The canonical string of a choice (inverse of parseModelChoice). */
export function modelChoiceId(choice: ModelChoice): string {
  switch (choice.kind) {
    case 'organism':
      return ORGANISM_CHOICE_ID;
    case 'hub':
      return choice.revision && choice.revision !== 'main' ? `${choice.repo}@${choice.revision}` : choice.repo;
    case 'folder':
      return choice.path;
  }
}

/** The engine's model spec; `organismDir` is where the organism lives (the extension's global storage), `home` expands "~". */
export function toModelSpec(choice: ModelChoice, organismDir: string, home: string): ModelSpec {
  switch (choice.kind) {
    case 'organism':
      return { kind: 'organism', dir: organismDir };
    case 'hub':
      return choice.revision ? { kind: 'hub', repo: choice.repo, revision: choice.revision } : { kind: 'hub', repo: choice.repo };
    case 'folder': {
      const path = choice.path === '~' ? home : choice.path.startsWith('~/') ? `${home}/${choice.path.slice(2)}` : choice.path;
      return { kind: 'folder', path };
    }
  }
}

export interface AutomaticChoiceInput {
  /** Hub ids known to the registry, in the registry's order of preference. */
  knownRepos: readonly string[];
  /** Hub ids complete in the cache. */
  cachedRepos: readonly string[];
}

/**
 * The model used when the setting is empty: the first registry model already complete in the
 * cache (no download needed), else the model organism.
 */
export function automaticChoice(input: AutomaticChoiceInput): ModelChoice {
  const cached = new Set(input.cachedRepos);
  const repo = input.knownRepos.find((r) => cached.has(r));
  return repo ? { kind: 'hub', repo } : { kind: 'organism' };
}

/**
 * Whether a choice may be loaded in a workspace that is not trusted: only the organism and Hub
 * models (from the cache or the Hub), never a folder path (it could point into the workspace).
 */
export function allowedWhenUntrusted(choice: ModelChoice): boolean {
  return choice.kind !== 'folder';
}
