/** `random-model --arch gemma2|gemma3`: a seeded random Gemma 2 or Gemma 3 text checkpoint in the HF layout. */
import { EngineError } from '../errors.js';
import type { GemmaType } from '../model/adapters/gemma-config.js';
import { writeHfFolder } from '../model/hf-folder-writer.js';
import { GEMMA_PRESETS, generateRandomGemma } from '../model/random-gemma.js';
import { loadGpt2TokenizerJson } from '../tokenizer/gpt2-tokenizer-json.js';
import type { CliCommand, CliFlags } from './command.js';
import { intFlag, stringFlag } from './model-arg.js';

/** The --arch names and the model_type each writes (Gemma 3's text-only checkpoints are gemma3_text). */
const GEMMA_ARCHS: Readonly<Record<string, GemmaType>> = { gemma2: 'gemma2', gemma3: 'gemma3_text', gemma3_text: 'gemma3_text' };

export function isGemmaArch(arch: string): boolean {
  return Object.hasOwn(GEMMA_ARCHS, arch);
}

/** Writes the model into `dir` (already resolved by the command) and says what it wrote. */
export async function writeRandomGemmaModel(flags: CliFlags, io: Parameters<CliCommand['run']>[1], arch: string, dir: string): Promise<void> {
  for (const gpt2Only of ['scale-attn-by-inverse-layer-idx', 'no-scale-attn-weights']) {
    if (flags.has(gpt2Only)) throw new EngineError('BAD_ARGUMENT', `--${gpt2Only} is a flag of --arch gpt2, not of --arch ${arch}.`);
  }
  const preset = stringFlag(flags, 'preset');
  if (preset === undefined || !Object.hasOwn(GEMMA_PRESETS, preset)) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `random-model --arch ${arch} needs --preset ${Object.keys(GEMMA_PRESETS).join(' or ')}${preset === undefined ? '' : ` (got "${preset}")`}.`,
    );
  }
  const seed = intFlag(flags, 'seed', 0, 0);
  const modelType = GEMMA_ARCHS[arch]!;
  const model = generateRandomGemma(modelType, preset as keyof typeof GEMMA_PRESETS, seed);
  const files = await writeHfFolder(dir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() });
  const c = model.config;
  io.stdout(
    `Wrote a random ${modelType} (${preset}: ${String(c['num_hidden_layers'])} layers, ${String(c['num_attention_heads'])} heads, ${String(c['num_key_value_heads'])} key/value heads, head_dim ${String(c['head_dim'])}, d_model ${String(c['hidden_size'])}; seed ${seed}) to ${dir}: ${files.join(', ')}\n`,
  );
}
