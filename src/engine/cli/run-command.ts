/**
 * `circuit-trace run`: one instrumented forward pass, written as a safetensors activation cache.
 * Tensors are named by their TransformerLens hook names and carry TransformerLens's leading batch
 * dimension of 1 (e.g. `blocks.0.attn.hook_pattern [1, head, query, key]`, `logits [1, pos, vocab]`),
 * so `safetensors.torch.load_file` gives tensors shaped like a TransformerLens ActivationCache.
 * A --prompt gets the model's BOS first, as TransformerLens's `run_with_cache(prompt)` does
 * (`--no-prepend-bos` turns it off; no BOS for a model without one); --ids run exactly as given.
 * The file's metadata holds the ids run (`token_ids`) and `prepend_bos`.
 */
import { EngineError } from '../errors.js';
import type { HookName } from '../hooks.js';
import { loadModel } from '../model/load-model.js';
import { writeSafetensors } from '../model/safetensors-writer.js';
import { checkOutputFile, writeOutputFile } from './output-file.js';
import { bosToPrepend } from '../analysis/prompt-input.js';
import { prependBosFlag } from './prepend-bos-flag.js';
import type { CliCommand } from './command.js';
import { idsFlag, intFlag, loadOptionsFromFlags, resolveModelArg, stringFlag } from './model-arg.js';

export const runCommand: CliCommand = {
  name: 'run',
  usage:
    'run --model DIR_OR_REPO (--prompt TEXT | --ids 1,2,3) [--prepend-bos | --no-prepend-bos] [--hooks all|NAME,...] --out cache.safetensors [--device D] [--max-tokens N] [--offline] [--repeat N]',
  async run(flags, io) {
    const spec = resolveModelArg(flags.get('model'));
    const options = loadOptionsFromFlags(flags);
    const prompt = stringFlag(flags, 'prompt');
    const givenIds = idsFlag(flags, 'ids');
    if ((prompt === undefined) === (givenIds === undefined)) throw new EngineError('BAD_ARGUMENT', 'Give exactly one of --prompt TEXT or --ids 1,2,3.');
    const prependBos = prependBosFlag(flags);
    const out = stringFlag(flags, 'out');
    const repeat = intFlag(flags, 'repeat', 1);
    if (!out && !flags.has('repeat')) throw new EngineError('BAD_ARGUMENT', '--out FILE.safetensors is required (or --repeat N to time the forward only).');
    if (out) checkOutputFile(out);
    const hooksArg = stringFlag(flags, 'hooks') ?? 'all';
    const hooks: HookName[] | 'all' =
      hooksArg === 'all'
        ? 'all'
        : (hooksArg
            .split(',')
            .map((h) => h.trim())
            .filter(Boolean) as HookName[]);

    const loaded = await loadModel(spec, options);
    try {
      const bos = givenIds === undefined ? bosToPrepend(loaded.runner.config, prependBos) : null;
      const promptIds = givenIds ?? (prompt!.length === 0 ? [] : loaded.tokenizer.encode(prompt!).ids);
      if (promptIds.length === 0) throw new EngineError('EMPTY_PROMPT', 'The prompt is empty.', 'Give a non-empty --prompt or --ids.');
      const ids = bos === null ? promptIds : [bos, ...promptIds];
      if (ids.length > options.maxTokens)
        throw new EngineError('PROMPT_TOO_LONG', `The prompt has ${ids.length} tokens, more than --max-tokens ${options.maxTokens}.`);
      const times: number[] = [];
      let result = await loaded.runner.forward(ids, { hooks });
      times.push(result.elapsedMs);
      for (let i = 1; i < repeat; i++) {
        result = await loaded.runner.forward(ids, { hooks });
        times.push(result.elapsedMs);
      }
      if (out) {
        const tensors = [...result.cache].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: [1, ...t.shape], data: t.data }));
        await writeOutputFile(
          out,
          writeSafetensors(tensors, {
            format: 'pt',
            model: loaded.info.id,
            token_ids: JSON.stringify(ids),
            prepend_bos: String(bos !== null),
            device: result.provider,
          }),
        );
        io.stderr(`wrote ${tensors.length} tensors for ${ids.length} tokens to ${out} (${result.provider})\n`);
      }
      if (flags.has('repeat')) {
        const sorted = [...times].sort((a, b) => a - b);
        const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
        io.stdout(`median forward ${median.toFixed(2)} ms over ${repeat} runs (${ids.length} tokens, hooks ${hooksArg}, ${result.provider})\n`);
      }
    } finally {
      await loaded.runner.dispose();
    }
  },
};
