/**
 * How the CLI names models and loading options: `--model organism`, a local folder, or a Hugging
 * Face repo id (optionally `repo@revision`); `--device`, `--max-tokens`, `--offline`, `--cache-dir`.
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Device, LoadOptions, ModelSpec } from '../../protocol/engine.js';
import { EngineError } from '../errors.js';
import type { CliFlags } from './command.js';

const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'];
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** Where the CLI keeps the generated organism (the extension uses its own storage folder). */
export function defaultOrganismDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['CIRCUIT_TRACE_HOME'] ?? join(homedir(), '.cache', 'circuit-trace'), 'organism');
}

/** Where the CLI keeps the organism's generated transcoders (`--dictionary organism`). */
export function defaultOrganismTranscoderDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['CIRCUIT_TRACE_HOME'] ?? join(homedir(), '.cache', 'circuit-trace'), 'organism-transcoder');
}

export function resolveModelArg(value: string | true | undefined): ModelSpec {
  if (typeof value !== 'string' || value.length === 0) {
    throw new EngineError(
      'BAD_ARGUMENT',
      '--model is required.',
      'Use --model organism, a model folder, or a Hugging Face repo id such as openai-community/gpt2.',
    );
  }
  if (value === 'organism') return { kind: 'organism', dir: defaultOrganismDir() };
  const path = resolve(value);
  if (existsSync(path) && statSync(path).isDirectory()) return { kind: 'folder', path };
  const [repo, revision] = value.split('@');
  if (repo && REPO_ID.test(repo) && !value.startsWith('.') && !value.startsWith('/')) {
    return revision ? { kind: 'hub', repo, revision } : { kind: 'hub', repo };
  }
  throw new EngineError(
    'MODEL_NOT_FOUND',
    `"${value}" is neither a model folder nor a Hugging Face repo id.`,
    'Use --model organism, an existing folder, or owner/name.',
  );
}

export function stringFlag(flags: CliFlags, name: string): string | undefined {
  const v = flags.get(name);
  if (v === true) throw new EngineError('BAD_ARGUMENT', `--${name} needs a value.`);
  return v;
}

export function intFlag(flags: CliFlags, name: string, fallback: number, min = 1): number {
  const v = stringFlag(flags, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new EngineError('BAD_ARGUMENT', `--${name} must be an integer of at least ${min} (got "${v}").`);
  return n;
}

/** Comma-separated token ids, e.g. `--ids 464,3797,3332`. */
export function idsFlag(flags: CliFlags, name: string): number[] | undefined {
  const v = stringFlag(flags, name);
  if (v === undefined) return undefined;
  const ids = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (ids.some((id) => !Number.isInteger(id) || id < 0)) throw new EngineError('BAD_ARGUMENT', `--${name} must be comma-separated token ids (got "${v}").`);
  return ids;
}

export function loadOptionsFromFlags(flags: CliFlags): LoadOptions {
  const device = (stringFlag(flags, 'device') ?? 'cpu') as Device;
  if (!DEVICES.includes(device)) throw new EngineError('BAD_ARGUMENT', `--device must be one of ${DEVICES.join(', ')} (got "${device}").`);
  const cacheDir = stringFlag(flags, 'cache-dir');
  return {
    device,
    maxTokens: intFlag(flags, 'max-tokens', 1024),
    offline: flags.has('offline') || ['1', 'on', 'yes', 'true'].includes((process.env['HF_HUB_OFFLINE'] ?? '').toLowerCase()),
    ...(cacheDir ? { cacheDir } : {}),
  };
}
