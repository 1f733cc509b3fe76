/**
 * Recent analyses, persisted in the workspace state as identifiers, prompt and model only (no
 * tensors): reopening one recomputes it. Newest first, at most `capacity` entries; asking the same
 * question of the same model again moves its entry to the top instead of adding a duplicate.
 * Pure: works on a Memento-like store, so it is unit tested without VS Code.
 */
import { randomUUID } from 'node:crypto';
import type { MetricRequest, TokenRef } from '../protocol/engine.js';

export interface HistoryEntry {
  id: string;
  /** Analysis key (analysis-key.ts): question hash + model id. */
  key: string;
  /** Display name: the `.prompt` prompt's name, or a shortened prompt. */
  name: string;
  prompt: string;
  target?: TokenRef;
  contrast?: TokenRef;
  corrupt?: string;
  /** The named metric it was asked with (`@metric`), so reopening asks the same question. */
  metric?: MetricRequest;
  /** Canonical model choice id (model-choice.ts). */
  modelId: string;
  modelName: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Top prediction when it was run, for the list's description. */
  top?: { token: string; prob: number };
}

/** The subset of vscode.Memento the store needs. */
export interface StateStore {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void> | Promise<void>;
}

export const HISTORY_STATE_KEY = 'circuitTrace.history';

function isTokenRef(value: unknown): value is TokenRef {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v['text'] === 'string' || (typeof v['id'] === 'number' && Number.isInteger(v['id']));
}

function isMetricRequest(value: unknown): value is MetricRequest {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v['kind'] === 'greater-than' && typeof v['startYear'] === 'number' && Number.isInteger(v['startYear']) && v['startYear'] >= 0 && v['startYear'] <= 99;
}

/** Keeps only well-formed entries: the workspace state may hold data of an older version. */
function sanitize(raw: unknown): HistoryEntry[] {
  if (!Array.isArray(raw)) return [];
  const out: HistoryEntry[] = [];
  for (const item of raw) {
    if (typeof item !== 'object' || item === null) continue;
    const e = item as Record<string, unknown>;
    const { id, key, name, prompt, modelId, modelName, createdAt } = e;
    if (typeof id !== 'string' || typeof key !== 'string' || typeof name !== 'string' || typeof prompt !== 'string') continue;
    if (typeof modelId !== 'string' || typeof modelName !== 'string' || typeof createdAt !== 'number') continue;
    const entry: HistoryEntry = { id, key, name, prompt, modelId, modelName, createdAt };
    if (isTokenRef(e['target'])) entry.target = e['target'];
    if (isTokenRef(e['contrast'])) entry.contrast = e['contrast'];
    if (typeof e['corrupt'] === 'string') entry.corrupt = e['corrupt'];
    if (isMetricRequest(e['metric'])) entry.metric = { kind: e['metric'].kind, startYear: e['metric'].startYear };
    const top = e['top'] as Record<string, unknown> | undefined;
    if (top && typeof top['token'] === 'string' && typeof top['prob'] === 'number') entry.top = { token: top['token'], prob: top['prob'] };
    out.push(entry);
  }
  return out;
}

/** A short display name for a prompt: its first line, cut at `max` characters. */
export function shortPromptName(prompt: string, max = 48): string {
  const line = prompt.split(/\r?\n/)[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export class HistoryStore {
  constructor(
    private readonly state: StateStore,
    private readonly capacity = 50,
  ) {}

  list(): HistoryEntry[] {
    return sanitize(this.state.get<unknown>(HISTORY_STATE_KEY));
  }

  get(id: string): HistoryEntry | undefined {
    return this.list().find((e) => e.id === id);
  }

  findByKey(key: string): HistoryEntry | undefined {
    return this.list().find((e) => e.key === key);
  }

  /** Records an analysis; returns the entry (an existing one with the same key keeps its id). */
  async add(entry: Omit<HistoryEntry, 'id'>): Promise<HistoryEntry> {
    const entries = this.list();
    const existing = entries.find((e) => e.key === entry.key);
    const stored: HistoryEntry = { ...entry, id: existing?.id ?? randomUUID() };
    const next = [stored, ...entries.filter((e) => e.key !== entry.key)].slice(0, this.capacity);
    await this.state.update(HISTORY_STATE_KEY, next);
    return stored;
  }

  async remove(id: string): Promise<boolean> {
    const entries = this.list();
    const next = entries.filter((e) => e.id !== id);
    if (next.length === entries.length) return false;
    await this.state.update(HISTORY_STATE_KEY, next);
    return true;
  }

  async clear(): Promise<void> {
    await this.state.update(HISTORY_STATE_KEY, []);
  }
}
