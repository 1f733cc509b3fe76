/**
 * Which buttons an error notification offers, chosen from the EngineError code: the one thing
 * most likely to fix it first, "Show Logs" always last. A cancelled run shows no notification.
 * Pure: no vscode import.
 */
import type { EngineErrorCode } from '../engine/errors.js';

export type ErrorAction = 'selectModel' | 'downloadModel' | 'openSettings' | 'showLogs';

export const ERROR_ACTION_LABELS: Readonly<Record<ErrorAction, string>> = {
  selectModel: 'Select Model',
  downloadModel: 'Download',
  openSettings: 'Open Settings',
  showLogs: 'Show Logs',
};

const ACTIONS: Readonly<Record<EngineErrorCode, readonly ErrorAction[]>> = {
  EMPTY_PROMPT: ['showLogs'],
  PROMPT_TOO_LONG: ['openSettings', 'showLogs'],
  MODEL_NOT_FOUND: ['selectModel', 'downloadModel', 'showLogs'],
  MODEL_FILE_MISSING: ['downloadModel', 'selectModel', 'showLogs'],
  CORRUPT_WEIGHTS: ['downloadModel', 'selectModel', 'showLogs'],
  MISSING_TENSOR: ['selectModel', 'showLogs'],
  WRONG_SHAPE: ['selectModel', 'showLogs'],
  UNSUPPORTED_DTYPE: ['selectModel', 'showLogs'],
  UNKNOWN_ARCHITECTURE: ['selectModel', 'showLogs'],
  UNSUPPORTED_ARCHITECTURE: ['selectModel', 'showLogs'],
  BAD_CONFIG: ['selectModel', 'showLogs'],
  BAD_TOKENIZER: ['selectModel', 'showLogs'],
  VOCAB_MISMATCH: ['selectModel', 'showLogs'],
  NON_FINITE: ['selectModel', 'showLogs'],
  UNTRUSTED_WORKSPACE: ['showLogs'],
  PROMPT_FILE_TOO_LARGE: ['showLogs'],
  LOCKED: ['showLogs'],
  NOT_SINGLE_TOKEN: ['showLogs'],
  LENGTH_MISMATCH: ['showLogs'],
  BAD_ARGUMENT: ['showLogs'],
  DOWNLOAD_FAILED: ['downloadModel', 'selectModel', 'showLogs'],
  CHECKSUM_MISMATCH: ['downloadModel', 'showLogs'],
  OFFLINE: ['openSettings', 'selectModel', 'showLogs'],
  CANCELLED: [],
  DEVICE_UNAVAILABLE: ['openSettings', 'showLogs'],
  WORKER_CRASHED: ['showLogs'],
  INTERNAL: ['showLogs'],
};

/** The setting an "Open Settings" button should open for this code. */
const SETTING_FOR: Partial<Record<EngineErrorCode, string>> = {
  PROMPT_TOO_LONG: 'circuitTrace.maxTokens',
  OFFLINE: 'circuitTrace.offline',
  DEVICE_UNAVAILABLE: 'circuitTrace.device',
};

export function errorActions(code: EngineErrorCode): readonly ErrorAction[] {
  return ACTIONS[code] ?? ['showLogs'];
}

export function settingForError(code: EngineErrorCode): string {
  return SETTING_FOR[code] ?? 'circuitTrace';
}

/** Whether the error deserves a notification at all (a cancellation does not). */
export function isNotifiable(code: EngineErrorCode): boolean {
  return code !== 'CANCELLED';
}

/** Errors after which falling back to the organism makes sense for an automatic/default Hub choice. */
export function isHubUnreachable(code: EngineErrorCode): boolean {
  return code === 'DOWNLOAD_FAILED' || code === 'OFFLINE';
}
