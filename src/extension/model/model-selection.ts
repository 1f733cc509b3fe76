/**
 * Which model is active and how it may be loaded, decided from the settings, the registry, the
 * cache listing, workspace trust and a fallback in force. Pure: no vscode import, no engine work,
 * so every rule is unit tested on its own (test/extension/model/model-selection.test.ts).
 */
import type { LoadOptions } from '../../protocol/engine.js';
import { EngineError } from '../../engine/errors.js';
import { ORGANISM_DISPLAY_NAME } from '../../engine/organism/organism-design.js';
import type { Settings } from '../settings.js';
import { allowedWhenUntrusted, automaticChoice, modelChoiceId, parseModelChoice, type ModelChoice } from './model-choice.js';
import type { KnownModel } from './model-registry.js';
import { completeCachedRepos, type CachedRepo } from './model-catalog.js';

export interface ActiveModel {
  /** Canonical choice id (analysis keys and history use it). */
  id: string;
  choice: ModelChoice;
  displayName: string;
  /** Why this model is active when it is not what the setting says (e.g. the Hub was unreachable). */
  fallbackReason: string | null;
}

/** The organism stands in for model `fromId`, which could not be loaded. */
export interface ModelFallback {
  fromId: string;
  reason: string;
}

export interface SelectionInputs {
  /** circuitTrace.model as read. */
  setting: string;
  known: readonly KnownModel[];
  cached: readonly CachedRepo[];
  fallback: ModelFallback | null;
}

export const ORGANISM_MODEL: ActiveModel = { id: 'organism', choice: { kind: 'organism' }, displayName: ORGANISM_DISPLAY_NAME, fallbackReason: null };

/** The model the setting chooses; an empty or invalid setting gives the automatic choice (and the problem, to log). */
export function chosenModel(inputs: Omit<SelectionInputs, 'fallback'>): { choice: ModelChoice; problem: string | null } {
  let problem: string | null = null;
  try {
    const parsed = parseModelChoice(inputs.setting);
    if (parsed) return { choice: parsed, problem };
  } catch (error) {
    problem = `circuitTrace.model: ${error instanceof Error ? error.message : String(error)} Using the automatic choice.`;
  }
  return { choice: automaticChoice({ knownRepos: inputs.known.map((k) => k.repo), cachedRepos: completeCachedRepos(inputs.cached) }), problem };
}

/** The model in use: the chosen one, or the organism while a fallback for it is in force. */
export function activeModel(inputs: SelectionInputs): ActiveModel {
  const { choice } = chosenModel(inputs);
  const id = modelChoiceId(choice);
  if (inputs.fallback && inputs.fallback.fromId === id) return { ...ORGANISM_MODEL, fallbackReason: inputs.fallback.reason };
  return { id, choice, displayName: modelDisplayName(choice, inputs.known), fallbackReason: null };
}

export function modelDisplayName(choice: ModelChoice, known: readonly KnownModel[]): string {
  switch (choice.kind) {
    case 'organism':
      return ORGANISM_DISPLAY_NAME;
    case 'hub':
      return known.find((k) => k.repo === choice.repo)?.displayName ?? choice.repo;
    case 'folder':
      return (
        choice.path
          .split(/[\\/]/)
          .filter((part) => part !== '')
          .pop() ?? choice.path
      );
  }
}

export function loadOptionsOf(settings: Settings): LoadOptions {
  const options: LoadOptions = { device: settings.device, maxTokens: settings.maxTokens, offline: settings.offline };
  if (settings.cacheFolder) options.cacheDir = settings.cacheFolder;
  return options;
}

/** What identifies one load: the model and every option that changes what gets loaded. */
export function loadKey(id: string, options: LoadOptions): string {
  return JSON.stringify([id, options.device, options.maxTokens, options.offline, options.cacheDir ?? '']);
}

/**
 * May a load contact the Hub? Background loads (activation, opening a file, CodeLens, hovers, the
 * models view) never: they use the cache only. An explicit one (Analyze, Select Model, Download)
 * may in a trusted workspace, and in an untrusted one only after the user said yes.
 */
export type NetworkUse = 'cache-only' | 'ask-first' | 'allowed';

export function networkUse(load: { background: boolean; trusted: boolean }): NetworkUse {
  if (load.background) return 'cache-only';
  return load.trusted ? 'allowed' : 'ask-first';
}

/** An untrusted workspace loads models from the cache or the Hub, never from a folder (which the workspace could plant). */
export function untrustedFolderError(model: ActiveModel, trusted: boolean): EngineError | null {
  if (trusted || allowedWhenUntrusted(model.choice)) return null;
  return new EngineError(
    'UNTRUSTED_WORKSPACE',
    `This workspace is not trusted, so Circuit Trace loads models only from the Hugging Face cache or the Hub, not from the folder ${model.id}.`,
    'Select another model, or trust the workspace.',
  );
}

/** A user's no to "Contact the Hugging Face Hub?" in an untrusted workspace. */
export function hubRefusedError(model: ActiveModel): EngineError {
  return new EngineError(
    'UNTRUSTED_WORKSPACE',
    `${model.displayName} is not in the Hugging Face cache, and this untrusted workspace may contact the Hub only with your permission.`,
    'Answer "Contact the Hub" to download it, download it with Circuit Trace: Download Model, or trust the workspace.',
  );
}
