/**
 * `circuit-trace organism --out DIR [--seed N] [--transcoder DIR]` writes the built-in model organism (and its
 * transcoders), and
 * `circuit-trace random-model --preset tiny|small [--seed N] --out DIR` a seeded random GPT-2
 * (with `--scale-attn-by-inverse-layer-idx` or `--no-scale-attn-weights`, GPT-2's attention flags set;
 * `--arch gpt_neo` a GPT-Neo in its own HF layout instead; `--arch gpt_neox`, the Llama family and Gemma likewise),
 * each as a Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer.json) that
 * `--model DIR` loads like any downloaded model. No network is used.
 */
import { resolve } from 'node:path';
import { EngineError } from '../errors.js';
import { writeHfFolder } from '../model/hf-folder-writer.js';
import { generateRandomGpt2, GPT2_PRESETS } from '../model/random-gpt2.js';
import { generateRandomGptNeo, GPT_NEO_PRESETS } from '../model/random-gpt-neo.js';
import { ORGANISM_HEADS, ORGANISM_SEED, writeOrganismFolder } from '../organism/index.js';
import { writeOrganismTranscoderFolder } from '../organism/transcoder-folder.js';
import { loadGpt2TokenizerJson } from '../tokenizer/gpt2-tokenizer-json.js';
import type { CliCommand, CliFlags } from './command.js';
import { isGemmaArch, writeRandomGemmaModel } from './random-gemma-model.js';
import { isLlamaFamilyArch, writeRandomLlamaModel } from './random-llama-model.js';
import { writeRandomGptNeoxModel } from './random-gpt-neox-model.js';
import { intFlag, stringFlag } from './model-arg.js';

function outDir(flags: CliFlags, command: string): string {
  const out = stringFlag(flags, 'out');
  if (!out) throw new EngineError('BAD_ARGUMENT', `${command} needs --out DIR.`, 'Name the folder to write the model into, e.g. --out ./my-model.');
  return resolve(out);
}

function checkKnownFlags(flags: CliFlags, known: readonly string[], command: string): void {
  for (const name of flags.keys()) {
    if (!known.includes(name))
      throw new EngineError('BAD_ARGUMENT', `${command} has no --${name} flag.`, `Its flags are ${known.map((k) => `--${k}`).join(', ')}.`);
  }
}

export const organismCommand: CliCommand = {
  name: 'organism',
  usage:
    'organism --out DIR [--seed N] [--transcoder DIR]      write the built-in model organism (a hand-built GPT-2 with known circuits); --transcoder: also its transcoders, whose features are its mechanisms (circuit-tracer layout)',
  async run(flags, io) {
    checkKnownFlags(flags, ['out', 'seed', 'transcoder'], 'organism');
    const transcoder = stringFlag(flags, 'transcoder');
    const dir = outDir(flags, 'organism');
    const seed = intFlag(flags, 'seed', ORGANISM_SEED, 0);
    const files = await writeOrganismFolder(dir, seed);
    io.stdout(`Wrote the model organism (seed ${seed}) to ${dir}: ${files.join(', ')}\n`);
    for (const h of ORGANISM_HEADS) if (h.role !== 'idle') io.stdout(`  L${h.layer}H${h.head} ${h.role}: ${h.summary}\n`);
    io.stdout(`Load it with --model ${dir}\n`);
    if (transcoder) {
      const transcoderDir = resolve(transcoder);
      const written = await writeOrganismTranscoderFolder(transcoderDir, seed);
      io.stdout(`Wrote the organism's transcoders to ${transcoderDir}: ${written.join(', ')}\n`);
    }
  },
};

export const randomModelCommand: CliCommand = {
  name: 'random-model',
  usage: `random-model [--arch gpt2|gpt_neo|gpt_neox|llama|mistral|qwen2|qwen3|gemma2|gemma3] --preset ${Object.keys(GPT2_PRESETS).join('|')} [--seed N] [--scale-attn-by-inverse-layer-idx] [--no-scale-attn-weights] --out DIR   write a GPT-2 (or another architecture) with seeded random weights`,
  async run(flags, io) {
    checkKnownFlags(flags, ['arch', 'preset', 'seed', 'out', 'scale-attn-by-inverse-layer-idx', 'no-scale-attn-weights'], 'random-model');
    /** A flag that is present or absent; it takes no value. */
    const isSet = (name: string): boolean => {
      const v = flags.get(name);
      if (v !== undefined && v !== true) throw new EngineError('BAD_ARGUMENT', `--${name} takes no value (got "${v}").`);
      return v === true;
    };
    const attentionFlags = { useAttnScale: !isSet('no-scale-attn-weights'), scaleAttnByInverseLayerIdx: isSet('scale-attn-by-inverse-layer-idx') };
    const arch = stringFlag(flags, 'arch') ?? 'gpt2';
    if (arch === 'gpt_neo') {
      if (!attentionFlags.useAttnScale || attentionFlags.scaleAttnByInverseLayerIdx)
        throw new EngineError(
          'BAD_ARGUMENT',
          '--no-scale-attn-weights and --scale-attn-by-inverse-layer-idx are flags of --arch gpt2; GPT-Neo never scales its scores.',
        );
      await writeRandomGptNeo(flags, io);
      return;
    }
    if (isLlamaFamilyArch(arch)) return writeRandomLlamaModel(flags, io, arch, outDir(flags, 'random-model'));
    if (isGemmaArch(arch)) return writeRandomGemmaModel(flags, io, arch, outDir(flags, 'random-model'));
    if (arch === 'gpt_neox') return writeRandomGptNeoxModel(flags, io, outDir(flags, 'random-model'));
    if (arch !== 'gpt2')
      throw new EngineError(
        'BAD_ARGUMENT',
        `random-model has no --arch ${arch}.`,
        'Use --arch gpt2, gpt_neo, gpt_neox, llama, mistral, qwen2, qwen3, gemma2 or gemma3.',
      );
    const preset = stringFlag(flags, 'preset');
    if (preset === undefined || !Object.hasOwn(GPT2_PRESETS, preset)) {
      throw new EngineError(
        'BAD_ARGUMENT',
        `random-model needs --preset ${Object.keys(GPT2_PRESETS).join(' or ')}${preset === undefined ? '' : ` (got "${preset}")`}.`,
      );
    }
    const dir = outDir(flags, 'random-model');
    const seed = intFlag(flags, 'seed', 0, 0);
    const model = generateRandomGpt2({ preset: preset as keyof typeof GPT2_PRESETS, flags: attentionFlags }, seed);
    const files = await writeHfFolder(dir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() });
    const c = model.modelConfig;
    io.stdout(`Wrote a random GPT-2 (${preset}: ${c.nLayers} layers, ${c.nHeads} heads, d_model ${c.dModel}; seed ${seed}) to ${dir}: ${files.join(', ')}\n`);
  },
};

/** random-model --arch gpt_neo: a seeded random GPT-Neo (layers alternating global and local) in HF's GPT-Neo layout. */
async function writeRandomGptNeo(flags: CliFlags, io: Parameters<CliCommand['run']>[1]): Promise<void> {
  const preset = stringFlag(flags, 'preset');
  if (preset === undefined || !Object.hasOwn(GPT_NEO_PRESETS, preset)) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `random-model --arch gpt_neo needs --preset ${Object.keys(GPT_NEO_PRESETS).join(' or ')}${preset === undefined ? '' : ` (got "${preset}")`}.`,
    );
  }
  const dir = outDir(flags, 'random-model');
  const seed = intFlag(flags, 'seed', 0, 0);
  const model = generateRandomGptNeo({ preset: preset as keyof typeof GPT_NEO_PRESETS }, seed);
  const files = await writeHfFolder(dir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() });
  const c = model.modelConfig;
  io.stdout(
    `Wrote a random GPT-Neo (${preset}: ${c.nLayers} layers, ${c.nHeads} heads, d_model ${c.dModel}, local window ${model.config.window_size}; seed ${seed}) to ${dir}: ${files.join(', ')}\n`,
  );
}
