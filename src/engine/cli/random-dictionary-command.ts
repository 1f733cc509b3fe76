/**
 * `circuit-trace random-dictionary --model DIR --format saelens|transcoder|clt|gemma-scope-npz
 * --layers 0,1 --width N --activation relu|topk|jumprelu [--k K] [--seed S] --out DIR`: a seeded
 * random dictionary for a model, written in the format's own layout (random-dictionary-writer.ts)
 * and calibrated on one forward pass of the model so that about 4% of the features fire on a
 * position. Further flags: --input-hook / --output-hook (short per-layer hook names), --dtype
 * f32|f16|bf16 (how the safetensors tensors are stored), --skip (a W_skip per transcoder),
 * --legacy-layout (circuit-tracer's first transcoder layout).
 */
import { resolve } from 'node:path';
import type { WritableDtype } from '../model/safetensors-writer.js';
import { EngineError } from '../errors.js';
import { graphFamily } from '../model/config.js';
import { hasHook, hookPoint } from '../hooks/registry.js';
import { loadModel } from '../model/load-model.js';
import { sampleHookInputs } from '../features/hook-samples.js';
import { generateRandomDictionary, RANDOM_DICTIONARY_FORMATS, type RandomActivation, type RandomDictionaryFormat } from '../features/random-dictionary.js';
import { randomDictionaryProcessing, writeRandomDictionary } from '../features/random-dictionary-writer.js';
import type { CliCommand, CliFlags } from './command.js';
import { intFlag, loadOptionsFromFlags, resolveModelArg, stringFlag } from './model-arg.js';

const FLAGS = [
  'model',
  'format',
  'layers',
  'width',
  'activation',
  'k',
  'seed',
  'out',
  'input-hook',
  'output-hook',
  'dtype',
  'skip',
  'legacy-layout',
  'device',
  'cache-dir',
  'offline',
];
const ACTIVATIONS: readonly RandomActivation[] = ['relu', 'topk', 'jumprelu'];
const DTYPES: Readonly<Record<string, WritableDtype>> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };

function choice<T extends string>(flags: CliFlags, name: string, options: readonly T[]): T {
  const value = stringFlag(flags, name);
  if (value === undefined || !(options as readonly string[]).includes(value)) {
    throw new EngineError('BAD_ARGUMENT', `random-dictionary needs --${name} ${options.join('|')}${value === undefined ? '' : ` (got "${value}")`}.`);
  }
  return value as T;
}

function layersFlag(flags: CliFlags): number[] | null {
  const value = stringFlag(flags, 'layers');
  if (value === undefined) return null;
  const layers = value.split(',').map((s) => Number(s.trim()));
  if (layers.length === 0 || layers.some((l) => !Number.isInteger(l) || l < 0))
    throw new EngineError('BAD_ARGUMENT', `--layers must be comma-separated layer numbers (got "${value}").`);
  return layers;
}

function isSet(flags: CliFlags, name: string): boolean {
  const v = flags.get(name);
  if (v !== undefined && v !== true) throw new EngineError('BAD_ARGUMENT', `--${name} takes no value (got "${v}").`);
  return v === true;
}

export const randomDictionaryCommand: CliCommand = {
  name: 'random-dictionary',
  usage: `random-dictionary --model DIR --format ${RANDOM_DICTIONARY_FORMATS.join('|')} [--layers 0,1] --width N --activation relu|topk|jumprelu [--k K] [--seed S] [--input-hook H] [--output-hook H] [--dtype f32|f16|bf16] [--skip] [--legacy-layout] --out DIR   write a seeded random SAE or transcoder for a model`,
  async run(flags, io) {
    for (const name of flags.keys()) {
      if (!FLAGS.includes(name))
        throw new EngineError('BAD_ARGUMENT', `random-dictionary has no --${name} flag.`, `Its flags are ${FLAGS.map((f) => `--${f}`).join(', ')}.`);
    }
    const format = choice<RandomDictionaryFormat>(flags, 'format', RANDOM_DICTIONARY_FORMATS);
    const activation = choice(flags, 'activation', ACTIVATIONS);
    const out = stringFlag(flags, 'out');
    if (!out) throw new EngineError('BAD_ARGUMENT', 'random-dictionary needs --out DIR.');
    const width = intFlag(flags, 'width', 0, 1);
    if (!flags.has('width')) throw new EngineError('BAD_ARGUMENT', 'random-dictionary needs --width N (the number of features per layer).');
    const k = flags.has('k') ? intFlag(flags, 'k', 1, 1) : undefined;
    if (k !== undefined && activation !== 'topk') throw new EngineError('BAD_ARGUMENT', '--k is for --activation topk.');
    const seed = intFlag(flags, 'seed', 0, 0);
    const dtypeName = stringFlag(flags, 'dtype') ?? 'f32';
    const dtype = DTYPES[dtypeName];
    if (!dtype) throw new EngineError('BAD_ARGUMENT', `--dtype must be f32, f16 or bf16 (got "${dtypeName}").`);
    const skip = isSet(flags, 'skip');
    const legacyLayout = isSet(flags, 'legacy-layout');
    if ((skip || legacyLayout) && format !== 'transcoder') throw new EngineError('BAD_ARGUMENT', '--skip and --legacy-layout are for --format transcoder.');

    const spec = resolveModelArg(flags.get('model'));
    const loaded = await loadModel(spec, { ...loadOptionsFromFlags(flags), maxTokens: 1024 });
    try {
      const config = loaded.runner.config;
      const layers = layersFlag(flags) ?? Array.from({ length: config.nLayers }, (_, l) => l);
      const isSae = format === 'saelens' || format === 'gemma-scope-npz';
      // circuit-tracer's transcoders read the MLP's input stream: resid_mid where the model has it.
      const hasResidMid = hasHook(hookPoint('hook_resid_mid'), graphFamily(config));
      const inputHook =
        stringFlag(flags, 'input-hook') ??
        (isSae ? (format === 'gemma-scope-npz' ? 'hook_resid_post' : 'hook_resid_pre') : hasResidMid ? 'hook_resid_mid' : 'ln2.hook_normalized');
      const outputHook = stringFlag(flags, 'output-hook') ?? (isSae ? inputHook : 'hook_mlp_out');
      if (isSae && outputHook !== inputHook) throw new EngineError('BAD_ARGUMENT', 'An SAE reads and writes one hook: --output-hook is for transcoders.');
      const generatedLayers = format === 'clt' ? Array.from({ length: config.nLayers }, (_, l) => l) : layers;
      for (const l of generatedLayers)
        if (l >= config.nLayers) throw new EngineError('BAD_ARGUMENT', `Layer ${l} does not exist: the model has ${config.nLayers} layers.`);
      const samples = await sampleHookInputs(loaded.runner, generatedLayers, inputHook, seed, randomDictionaryProcessing(format));
      const dictionary = generateRandomDictionary(
        { format, layers: format === 'clt' ? (layersFlag(flags) ?? []) : layers, width, activation, ...(k !== undefined ? { k } : {}), seed, skip },
        config,
        samples,
      );
      const dir = resolve(out);
      const files = await writeRandomDictionary(dir, dictionary, { inputHook, outputHook, dtype, legacyLayout, modelName: loaded.info.id });
      io.stdout(
        `Wrote a random ${format} dictionary (${activation}${dictionary.spec.k !== null ? `, k ${dictionary.spec.k}` : ''}, width ${width}, layers ${dictionary.layers.map((l) => l.layer).join(',')}, seed ${seed}) to ${dir}: ${files.join(', ')}\n`,
      );
    } finally {
      await loaded.runner.dispose();
    }
  },
};
