/**
 * `circuit-trace patch --kind path`: path patching of every sender head to a receiver set, as JSON
 * with `--json` or as a short report.
 *
 *   circuit-trace patch --model M (--clean TEXT | --clean-ids 1,2,3) (--corrupt TEXT | --corrupt-ids 4,5,6)
 *     (--target TOKEN | --target-id ID) [--contrast TOKEN | --contrast-id ID]
 *     --kind path --receivers logits|L9H6:q,L9H9:q [--prepend-bos | --no-prepend-bos]
 *     [--device D] [--max-tokens N] [--offline] [--cache-dir DIR] [--json]
 *
 * The JSON is `{ cleanLogitDiff, corruptLogitDiff, entries: [{ layer, head, logitDiff, normalized }] }`
 * plus the model, receivers, tokens and elapsed time; `normalized` is (patched − clean) / (clean −
 * corrupt), `null` when clean and corrupt agree. The logit difference is target − contrast, the
 * target logit alone without a contrast.
 */
import type { LoadedModelInfo } from '../../protocol/engine.js';
import { EngineError } from '../errors.js';
import { loadModel } from '../model/load-model.js';
import { runPathPatching, type PathPatchRequest, type PathPatchResult } from '../patching/path-patching.js';
import { parseReceivers } from '../patching/path-receivers.js';
import type { CliFlags, CliIo } from './command.js';
import { loadOptionsFromFlags, resolveModelArg, stringFlag } from './model-arg.js';
import { promptFlags, tokenFlag } from './patch-flags.js';
import { prependBosFlag } from './prepend-bos-flag.js';

const KNOWN_FLAGS = [
  'model',
  'clean',
  'corrupt',
  'clean-ids',
  'corrupt-ids',
  'target',
  'target-id',
  'contrast',
  'contrast-id',
  'kind',
  'receivers',
  'prepend-bos',
  'no-prepend-bos',
  'device',
  'max-tokens',
  'offline',
  'cache-dir',
  'json',
] as const;

/** The `--json` document. */
export interface PathPatchCliOutput extends PathPatchResult {
  model: LoadedModelInfo;
}

/** The PathPatchRequest the flags describe (the receivers parsed; checked against the model when it runs). */
export function parsePathPatchFlags(flags: CliFlags): PathPatchRequest {
  for (const name of flags.keys()) {
    if (!(KNOWN_FLAGS as readonly string[]).includes(name)) {
      const why = ['position', 'hook', 'layer', 'head', 'metric'].includes(name) ? `--${name} does not apply to --kind path.` : `Unknown flag --${name}.`;
      throw new EngineError('BAD_ARGUMENT', why, `patch --kind path takes ${KNOWN_FLAGS.map((f) => `--${f}`).join(', ')}.`);
    }
  }
  const receivers = stringFlag(flags, 'receivers');
  if (receivers === undefined)
    throw new EngineError(
      'BAD_ARGUMENT',
      'patch --kind path needs --receivers.',
      "Give --receivers logits, or heads' inputs such as --receivers L9H6:q,L9H9:q.",
    );
  const target = tokenFlag(flags, 'target', 'target-id');
  if (!target)
    throw new EngineError(
      'BAD_ARGUMENT',
      'patch needs --target TOKEN or --target-id ID.',
      'The target is the token of the logit difference target − contrast.',
    );
  const contrast = tokenFlag(flags, 'contrast', 'contrast-id');
  const prependBos = prependBosFlag(flags);
  return {
    ...promptFlags(flags, 'clean'),
    ...promptFlags(flags, 'corrupt'),
    target,
    ...(contrast ? { contrast } : {}),
    ...(prependBos !== undefined ? { prependBos } : {}),
    // Their syntax now, before any model loads; layers and heads once it has.
    receivers: parseReceivers(receivers),
  };
}

function num(x: number, digits = 3): string {
  if (Number.isNaN(x)) return '—';
  const s = x.toFixed(digits);
  return Number(s) === 0 ? s.replace('-', '') : s; // no "-0.000"
}

/** The human-readable report: baselines and the senders with the largest |normalized| effect. */
export function formatPathPatch(out: PathPatchCliOutput): string {
  const metric =
    out.contrast === null ? `logit(${JSON.stringify(out.target)})` : `logit(${JSON.stringify(out.target)}) − logit(${JSON.stringify(out.contrast)})`;
  const lines = [
    `${out.model.displayName} on ${out.model.device}: path patching to ${out.receivers}, ${out.entries.length} senders, ${out.cleanTokens.length} tokens, ${out.elapsedMs.toFixed(0)} ms`,
    `metric: ${metric} at the last position`,
    `clean    ${num(out.cleanLogitDiff)}`,
    `corrupt  ${num(out.corruptLogitDiff)}`,
    'largest effects ((patched − clean) / (clean − corrupt)):',
  ];
  const magnitude = (x: number): number => (Number.isNaN(x) ? -Infinity : Math.abs(x));
  const ranked = [...out.entries].sort((a, b) => magnitude(b.normalized) - magnitude(a.normalized));
  for (const e of ranked.slice(0, 10))
    lines.push(`  ${`L${e.layer}H${e.head}`.padEnd(8)} normalized ${num(e.normalized).padStart(7)}  logit diff ${num(e.logitDiff)}`);
  return lines.join('\n') + '\n';
}

export async function runPathPatchCommand(flags: CliFlags, io: CliIo): Promise<void> {
  // Check every flag before loading a model.
  const request = parsePathPatchFlags(flags);
  const spec = resolveModelArg(flags.get('model'));
  const options = loadOptionsFromFlags(flags);
  const loaded = await loadModel(spec, options);
  try {
    const result = await runPathPatching(loaded.runner, loaded.tokenizer, request, { maxTokens: options.maxTokens });
    const out: PathPatchCliOutput = { model: loaded.info, ...result };
    io.stdout(flags.has('json') ? JSON.stringify(out, null, 2) + '\n' : formatPathPatch(out));
  } finally {
    await loaded.runner.dispose();
  }
}
