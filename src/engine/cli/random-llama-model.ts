/** `random-model --arch llama|mistral|qwen2|qwen3`: a seeded random Llama-family checkpoint in the HF layout. */
import { EngineError } from '../errors.js';
import type { LlamaFamilyType } from '../model/adapters/llama-config.js';
import { LLAMA_FAMILY_TYPES } from '../model/adapters/llama-config.js';
import { writeHfFolder } from '../model/hf-folder-writer.js';
import { generateRandomLlama, LLAMA_PRESETS } from '../model/random-llama.js';
import { loadGpt2TokenizerJson } from '../tokenizer/gpt2-tokenizer-json.js';
import type { CliCommand, CliFlags } from './command.js';
import { intFlag, stringFlag } from './model-arg.js';

export function isLlamaFamilyArch(arch: string): arch is LlamaFamilyType {
  return (LLAMA_FAMILY_TYPES as readonly string[]).includes(arch);
}

/** Writes the model into `dir` (already resolved by the command) and says what it wrote. */
export async function writeRandomLlamaModel(flags: CliFlags, io: Parameters<CliCommand['run']>[1], arch: LlamaFamilyType, dir: string): Promise<void> {
  for (const gpt2Only of ['scale-attn-by-inverse-layer-idx', 'no-scale-attn-weights']) {
    if (flags.has(gpt2Only)) throw new EngineError('BAD_ARGUMENT', `--${gpt2Only} is a flag of --arch gpt2, not of --arch ${arch}.`);
  }
  const preset = stringFlag(flags, 'preset');
  if (preset === undefined || !Object.hasOwn(LLAMA_PRESETS, preset)) {
    throw new EngineError(
      'BAD_ARGUMENT',
      `random-model --arch ${arch} needs --preset ${Object.keys(LLAMA_PRESETS).join(' or ')}${preset === undefined ? '' : ` (got "${preset}")`}.`,
    );
  }
  const seed = intFlag(flags, 'seed', 0, 0);
  const model = generateRandomLlama(arch, preset as keyof typeof LLAMA_PRESETS, seed);
  const files = await writeHfFolder(dir, { config: model.config, tensors: model.tensors, tokenizerJson: loadGpt2TokenizerJson() });
  const c = model.config;
  io.stdout(
    `Wrote a random ${arch} (${preset}: ${String(c['num_hidden_layers'])} layers, ${String(c['num_attention_heads'])} heads, ${String(c['num_key_value_heads'])} key/value heads, d_model ${String(c['hidden_size'])}; seed ${seed}) to ${dir}: ${files.join(', ')}\n`,
  );
}
