/**
 * The extension's settings (contributes.configuration in package.json), read and validated.
 * Pure: takes a getter so it is unit tested without VS Code; the extension passes
 * `vscode.workspace.getConfiguration('circuitTrace').get`.
 */
import type { Device } from '../protocol/engine.js';

export const SETTINGS_SECTION = 'circuitTrace';

export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'];

export interface Settings {
  /** Raw model setting: '' (automatic), 'organism', a Hub id (owner/name[@revision]) or a folder path. */
  model: string;
  device: Device;
  maxTokens: number;
  topK: number;
  /** Hugging Face cache folder override; '' means the standard Hugging Face cache. */
  cacheFolder: string;
  offline: boolean;
  streamAnimation: boolean;
  headThreshold: number;
  /** Whether to prepend the model's BOS token (TransformerLens's prepend_bos): the model's own convention, always, or never. */
  prependBos: PrependBosSetting;
}

export const PREPEND_BOS_SETTINGS = ['model', 'on', 'off'] as const;
export type PrependBosSetting = (typeof PREPEND_BOS_SETTINGS)[number];

/** What a request says about the BOS: nothing for 'model' (the engine then follows the model's convention). */
export function prependBosRequest(setting: PrependBosSetting): boolean | undefined {
  return setting === 'model' ? undefined : setting === 'on';
}

export const DEFAULT_SETTINGS: Settings = {
  model: '',
  device: 'auto',
  maxTokens: 64,
  topK: 10,
  cacheFolder: '',
  offline: false,
  streamAnimation: true,
  headThreshold: 0.35,
  prependBos: 'model',
};

/** Setting keys whose change means the model must be (re)loaded. */
export const MODEL_SETTINGS: readonly (keyof Settings)[] = ['model', 'device', 'maxTokens', 'cacheFolder', 'offline'];

/**
 * The allowed range of each numeric setting: the one source for the reader below, and the
 * manifest's `minimum`/`maximum` must match it (test/extension/manifest.test.ts). maxTokens stops
 * at GPT-2's context of 1024 tokens.
 */
export const SETTING_RANGES = {
  maxTokens: { min: 1, max: 1024 },
  topK: { min: 1, max: 100 },
  headThreshold: { min: 0, max: 1 },
} as const satisfies Partial<Record<keyof Settings, { min: number; max: number }>>;

function integerIn(value: unknown, min: number, max: number, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : fallback;
}

function numberIn(value: unknown, min: number, max: number, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max ? value : fallback;
}

/** Reads every setting; a value of the wrong type or out of range falls back to its default. */
export function readSettings(get: (key: string) => unknown): Settings {
  const device = get('device');
  return {
    model: typeof get('model') === 'string' ? (get('model') as string).trim() : DEFAULT_SETTINGS.model,
    device: (DEVICES as readonly unknown[]).includes(device) ? (device as Device) : DEFAULT_SETTINGS.device,
    maxTokens: integerIn(get('maxTokens'), SETTING_RANGES.maxTokens.min, SETTING_RANGES.maxTokens.max, DEFAULT_SETTINGS.maxTokens),
    topK: integerIn(get('topK'), SETTING_RANGES.topK.min, SETTING_RANGES.topK.max, DEFAULT_SETTINGS.topK),
    cacheFolder: typeof get('cacheFolder') === 'string' ? (get('cacheFolder') as string).trim() : DEFAULT_SETTINGS.cacheFolder,
    offline: typeof get('offline') === 'boolean' ? (get('offline') as boolean) : DEFAULT_SETTINGS.offline,
    streamAnimation: typeof get('streamAnimation') === 'boolean' ? (get('streamAnimation') as boolean) : DEFAULT_SETTINGS.streamAnimation,
    headThreshold: numberIn(get('headThreshold'), SETTING_RANGES.headThreshold.min, SETTING_RANGES.headThreshold.max, DEFAULT_SETTINGS.headThreshold),
    prependBos: (PREPEND_BOS_SETTINGS as readonly unknown[]).includes(get('prependBos'))
      ? (get('prependBos') as PrependBosSetting)
      : DEFAULT_SETTINGS.prependBos,
  };
}

/** Which settings differ between two readings. */
export function changedSettings(before: Settings, after: Settings): (keyof Settings)[] {
  return (Object.keys(after) as (keyof Settings)[]).filter((key) => before[key] !== after[key]);
}
