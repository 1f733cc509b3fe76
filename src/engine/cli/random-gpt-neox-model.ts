/** `random-model --arch gpt_neox`: a seeded random GPT-NeoX (Pythia's architecture) checkpoint in the HF layout. */
import { EngineError } from '../errors.js';
import { writeHfFolder } from '../model/hf-folder-writer.js';
import { generateRandomGptNeox, GPT_NEOX_PRESETS } from '../model/random-gpt-neox.js';
import { loadGpt2TokenizerJson } from '../tokenizer/gpt2-tokenizer-json.js';
import type { CliCommand, CliFlags } from './command.js';
import { intFlag, stringFlag } from './model-arg.js';

/** Writes the model into `dir` (already resolved by the command) and says what it wrote. */
export async function writeRandomGptNeoxModel(flags: CliFlags, io: Parameters<CliCommand['run']>[1], dir: string): Promise<void> {
  for (const gpt2Only of ['scale-attn-by-inverse-layer-idx', 'no-scale-attn-weights']) {
    if (flags.has(gpt2Only)) throw new EngineError('BAD_ARGUMENT', `--${gpt2Only} is a flag of --arch gpt2, not of --arch gpt_neox.`);
  }
  const preset = stringFlag(flags, 'preset');
  if (preset === undefined || !Object.hasOwn(GPT_NEOX_PRESETS, preset)) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `random-model --arch gpt_neox needs --preset ${Object.keys(GPT_NEOX_PRESETS).join(' or ')}${preset === undefined ? '' : ` (got "${preset}")`}.`,
    );
  }
  const seed = intFlag(flags, 'seed', 0, 0);
  const model = generateRandomGptNeox(preset as keyof typeof GPT_NEOX_PRESETS, seed);
  const files = await writeHfFolder(dir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() });
  const c = model.config;
  io.stdout(
    `Wrote a random gpt_neox (${preset}: ${String(c['num_hidden_layers'])} layers, ${String(c['num_attention_heads'])} heads, d_model ${String(c['hidden_size'])}, rotary_pct ${String(c['rotary_pct'])}, parallel residual; seed ${seed}) to ${dir}: ${files.join(', ')}\n`,
  );
}
