/** Typed reads of a dictionary config's fields (cfg.json, circuit-tracer's YAML), each failing with BAD_CONFIG naming the key. */
import { EngineError } from '../errors.js';

export type ConfigObject = Readonly<Record<string, unknown>>;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badField(label: string, key: string, want: string, value: unknown): EngineError {
  return new EngineError('BAD_CONFIG', `${label}: "${key}" must be ${want} (got ${JSON.stringify(value) ?? String(value)}).`);
}

export function positiveInt(config: ConfigObject, key: string, label: string): number {
  const value = config[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw badField(label, key, 'a positive integer', value);
  return value;
}

export function optionalString(config: ConfigObject, key: string, label: string): string | null {
  const value = config[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw badField(label, key, 'a string', value);
  return value;
}

export function requiredString(config: ConfigObject, key: string, label: string): string {
  const value = optionalString(config, key, label);
  if (value === null || value === '') throw new EngineError('BAD_CONFIG', `${label} has no "${key}".`);
  return value;
}

export function optionalBoolean(config: ConfigObject, key: string, fallback: boolean, label: string): boolean {
  const value = config[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw badField(label, key, 'true or false', value);
  return value;
}

export function optionalNumber(config: ConfigObject, key: string, label: string): number | null {
  const value = config[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw badField(label, key, 'a finite number', value);
  return value;
}

/** Parses JSON text that must be an object; BAD_CONFIG otherwise. */
export function parseJsonObject(text: string, label: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new EngineError('BAD_CONFIG', `${label} is not valid JSON: ${(error as Error).message}.`);
  }
  if (!isObject(parsed)) throw new EngineError('BAD_CONFIG', `${label} is not a JSON object.`);
  return parsed;
}
