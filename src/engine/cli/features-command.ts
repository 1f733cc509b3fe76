/**
 * `circuit-trace features`: a prompt's sparse-dictionary features, per dictionary layer.
 *
 *   circuit-trace features --model M --dictionary D (--prompt TEXT | --ids 1,2,3) [--top-k K] [--layers 3,5]
 *     [--prepend-bos | --no-prepend-bos] [--max-tokens N] [--device D] [--offline] [--cache-dir DIR] [--json]
 *
 * `--dictionary` is a local folder (or circuit-tracer .yaml, or Gemma Scope params.npz), or a Hugging
 * Face repo with an optional folder in it and revision (`owner/name/sub/folder@rev`, or `hf://…`). `--json` prints exactly
 * `{ tokens, hooks: [{ hook, features: [{ position, feature, activation }], reconstructionError }] }`:
 * per dictionary layer the hook its encoder reads, every feature with activation above zero (by
 * position, then feature) and ‖true − reconstruction‖ of its output hook at each position. Without
 * --json, the top K features of each position (default 5) and the error's share of the hook's norm.
 * --ids are used exactly as given; a --prompt gets the model's BOS as TransformerLens's does.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TokenInfo } from '../../protocol/analysis.js';
import type { DictionarySpec, FeaturesRequest, FeaturesResult } from '../../protocol/features.js';
import { Engine } from '../engine.js';
import { EngineError } from '../errors.js';
import { parseHubSource } from '../features/dictionary-hub.js';
import { loadDictionaryFromSpec } from '../features/dictionary-spec-loader.js';
import type { DictionaryLoader } from '../features/feature-tools.js';
import type { CliCommand, CliFlags } from './command.js';
import { defaultOrganismTranscoderDir, idsFlag, intFlag, loadOptionsFromFlags, resolveModelArg, stringFlag } from './model-arg.js';
import { prependBosFlag } from './prepend-bos-flag.js';

const KNOWN_FLAGS = [
  'model',
  'dictionary',
  'prompt',
  'ids',
  'top-k',
  'layers',
  'prepend-bos',
  'no-prepend-bos',
  'max-tokens',
  'device',
  'offline',
  'cache-dir',
  'json',
] as const;

/**
 * `--dictionary`: `organism` (the organism's built-in transcoders), an existing local path, else a
 * Hub source as the loader reads it (`owner/name[/sub/folder][@revision]` or `hf://…`).
 */
export function dictionarySpecFromArg(value: string | true | undefined): DictionarySpec {
  if (typeof value !== 'string' || value.length === 0)
    throw new EngineError(
      'BAD_ARGUMENT',
      '--dictionary is required.',
      'Give organism, a dictionary folder or a Hugging Face repo (owner/name[/sub/folder][@revision]).',
    );
  if (value === 'organism') return { kind: 'organism', dir: defaultOrganismTranscoderDir() };
  if (existsSync(resolve(value))) return { kind: 'folder', path: value };
  const hub = parseHubSource(value);
  if (!hub) throw new EngineError('MODEL_NOT_FOUND', `"${value}" is neither a dictionary folder nor a Hugging Face repo.`);
  return { kind: 'hub', repo: hub.repo, revision: hub.revision, ...(hub.subfolder ? { subfolder: hub.subfolder } : {}) };
}

/** The feature request the flags describe. */
export function parseFeaturesFlags(flags: CliFlags): FeaturesRequest {
  for (const name of flags.keys())
    if (!(KNOWN_FLAGS as readonly string[]).includes(name))
      throw new EngineError('BAD_ARGUMENT', `Unknown flag --${name}.`, `features takes ${KNOWN_FLAGS.map((f) => `--${f}`).join(', ')}.`);
  const prompt = stringFlag(flags, 'prompt');
  const ids = idsFlag(flags, 'ids');
  if ((prompt === undefined) === (ids === undefined)) throw new EngineError('BAD_ARGUMENT', 'Give exactly one of --prompt TEXT or --ids 1,2,3.');
  const layers = flags.has('layers') ? idsFlag(flags, 'layers') : undefined;
  const prependBos = prependBosFlag(flags);
  return {
    dictionary: dictionarySpecFromArg(flags.get('dictionary')),
    ...(prompt !== undefined ? { prompt } : { ids: ids! }),
    ...(prependBos !== undefined ? { prependBos } : {}),
    topK: intFlag(flags, 'top-k', 5),
    ...(layers ? { layers } : {}),
    logitTokens: 0,
  };
}

/** The `--json` document. */
export interface FeaturesCliOutput {
  tokens: TokenInfo[];
  hooks: Array<{ hook: string; features: Array<{ position: number; feature: number; activation: number }>; reconstructionError: number[] }>;
}

export function featuresCliOutput(result: FeaturesResult): FeaturesCliOutput {
  return {
    tokens: result.tokens,
    hooks: result.layers.map((l) => ({
      hook: l.inputHook,
      features: Array.from(l.active.positions, (position, i) => ({ position, feature: l.active.features[i]!, activation: l.active.activations[i]! })),
      reconstructionError: Array.from(l.reconstructionError),
    })),
  };
}

/** The human-readable report: per layer and position, the top features and the reconstruction error's share. */
export function formatFeatures(result: FeaturesResult): string {
  const lines = [`${result.dictionary.id} (${result.dictionary.kind}), ${result.tokens.length} tokens, ${result.elapsedMs.toFixed(0)} ms`];
  for (const l of result.layers) {
    lines.push(`${l.inputHook} → ${l.outputHook} (${l.dSae} features, ${l.active.features.length} active)`);
    const { k, features, activations } = l.top;
    result.tokens.forEach((t, p) => {
      const top: string[] = [];
      for (let j = 0; j < k && features[p * k + j]! >= 0; j++) top.push(`f${features[p * k + j]} ${activations[p * k + j]!.toFixed(3)}`);
      const share = (100 * l.errorShare[p]!).toFixed(1);
      lines.push(
        `  ${String(p).padStart(3)} ${JSON.stringify(t.text).padEnd(14)} error ${l.reconstructionError[p]!.toFixed(3)} (${share}%)  ${top.join(', ')}`,
      );
    });
  }
  return lines.join('\n') + '\n';
}

/** The command, with the dictionary loader it uses. */
export function makeFeaturesCommand(loadDictionary: DictionaryLoader): CliCommand {
  return {
    name: 'features',
    usage:
      "features --model M --dictionary D (--prompt TEXT|--ids 1,2,3) [--top-k K] [--layers 3,5] [--prepend-bos | --no-prepend-bos] [--json]   a prompt's SAE / transcoder features, top k per position and reconstruction error",
    async run(flags, io) {
      const request = parseFeaturesFlags(flags);
      const engine = new Engine({ loadDictionary });
      try {
        await engine.loadModel(resolveModelArg(flags.get('model')), loadOptionsFromFlags(flags));
        const result = await engine.features(request);
        io.stdout(flags.has('json') ? JSON.stringify(featuresCliOutput(result)) + '\n' : formatFeatures(result));
      } finally {
        await engine.dispose();
      }
    },
  };
}

export const featuresCommand = makeFeaturesCommand(loadDictionaryFromSpec);
