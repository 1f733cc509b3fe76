/**
 * What the `graph` and `intervene` commands both start from: the model loaded into `engine`, the
 * prompt (`--prompt` text with the model's BOS convention, or `--ids` as given) checked against the
 * graph's token limit, and the transcoders (`--transcoders`) loaded for that model.
 */
import { bosToPrepend, resolvePrompt, type ResolvedPrompt } from '../analysis/prompt-input.js';
import type { Engine } from '../engine.js';
import { checkGraphPrompt } from '../features/attribution-graph/limits.js';
import type { Dictionary } from '../features/dictionary.js';
import type { DictionaryLoader } from '../features/feature-tools.js';
import type { LoadedModel } from '../model/load-model.js';
import type { CliFlags } from './command.js';
import { dictionarySpecFromArg } from './features-command.js';
import { idsFlag, loadOptionsFromFlags, resolveModelArg, stringFlag } from './model-arg.js';
import { prependBosFlag } from './prepend-bos-flag.js';

export interface GraphInputs {
  runner: LoadedModel['runner'];
  tokenizer: LoadedModel['tokenizer'];
  prompt: ResolvedPrompt;
  /** The caller disposes it. */
  dictionary: Dictionary;
}

export async function loadGraphInputs(flags: CliFlags, engine: Engine, loadDictionary: DictionaryLoader): Promise<GraphInputs> {
  const spec = dictionarySpecFromArg(flags.get('transcoders'));
  const loadOptions = loadOptionsFromFlags(flags);
  await engine.loadModel(resolveModelArg(flags.get('model')), loadOptions);
  const { runner, tokenizer } = engine.model();
  const text = stringFlag(flags, 'prompt');
  const prompt = resolvePrompt(tokenizer, text !== undefined ? { prompt: text } : { ids: idsFlag(flags, 'ids')! }, {
    maxTokens: loadOptions.maxTokens ?? runner.config.nCtx,
    nCtx: runner.config.nCtx,
    dVocab: runner.config.dVocab,
    prependBosId: bosToPrepend(runner.config, prependBosFlag(flags)),
  });
  checkGraphPrompt(prompt.ids);
  const dictionary = await loadDictionary(spec, runner.config, {
    offline: loadOptions.offline ?? false,
    ...(loadOptions.cacheDir ? { cacheDir: loadOptions.cacheDir } : {}),
  });
  return { runner, tokenizer, prompt, dictionary };
}
