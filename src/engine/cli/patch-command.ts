/**
 * `circuit-trace patch`: an activation-patching sweep from the command line, as JSON with `--json`
 * (stable field names, for scripts and tests) or as a short report.
 *
 *   circuit-trace patch --model M (--clean TEXT | --clean-ids 1,2,3) (--corrupt TEXT | --corrupt-ids 4,5,6)
 *     (--target TOKEN | --target-id ID) [--contrast TOKEN | --contrast-id ID]
 *     --kind heads-last|heads-all|resid|attn|mlp|single [--position P]
 *     [--hook z|q|k|v|resid_pre|attn_out|mlp_out --layer L [--head H]]   (for --kind single)
 *   circuit-trace patch ... --kind path --receivers logits|L9H6:q,L9H9:q [--json]   (path patching: path-patch-command.ts)
 *     [--prepend-bos | --no-prepend-bos] [--metric greater-than:YY]
 *     [--device D] [--max-tokens N] [--offline] [--cache-dir DIR] [--json]
 *
 * Text prompts get the model's BOS at position 0 (TransformerLens's prepend_bos; default on when the
 * model has one, `--no-prepend-bos` turns it off); token ids are used exactly as given. Every position
 * (`--position`, the entries', the token lists') counts the BOS; the output's `prependBos` says which.
 * `--position` is the patched position of heads-last (default: the last) and of a single component
 * (default: every position). The metric is the logit difference with a contrast, the target's
 * log-probability without one, or greater-than's probability difference with `--metric
 * greater-than:YY` (YY the start year, e.g. 32 for "1732"). In the JSON, a recovery that is undefined
 * (clean and corrupted runs agree on the metric) is `null`.
 */
import type { PatchEntry, PatchKind, PatchSweepResult } from '../../protocol/analysis.js';
import type { LoadedModelInfo, PatchRequest } from '../../protocol/engine.js';
import { EngineError } from '../errors.js';
import { loadModel } from '../model/load-model.js';
import { runPatchSweep } from '../patching/index.js';
import { PATCH_HOOKS, type PatchHook } from '../patching/patch-sites.js';
import type { CliCommand, CliFlags } from './command.js';
import { loadOptionsFromFlags, resolveModelArg, stringFlag } from './model-arg.js';
import { optionalInt, promptFlags, tokenFlag } from './patch-flags.js';
import { runPathPatchCommand } from './path-patch-command.js';
import { metricFlag } from './metric-flag.js';
import { prependBosFlag } from './prepend-bos-flag.js';

const KINDS: readonly PatchKind[] = ['heads-last', 'heads-all', 'resid', 'attn', 'mlp', 'single'];
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
  'position',
  'hook',
  'layer',
  'head',
  'prepend-bos',
  'no-prepend-bos',
  'metric',
  'receivers',
  'device',
  'max-tokens',
  'offline',
  'cache-dir',
  'json',
] as const;

/** The `--json` document: the sweep's result (its `metric` and `prependBos` say what was measured where) and the model. */
export interface PatchCliOutput extends PatchSweepResult {
  model: LoadedModelInfo;
}

/** The PatchRequest the flags describe. */
export function parsePatchFlags(flags: CliFlags): PatchRequest {
  for (const name of flags.keys()) {
    if (!(KNOWN_FLAGS as readonly string[]).includes(name)) {
      throw new EngineError('BAD_ARGUMENT', `Unknown flag --${name}.`, `patch takes ${KNOWN_FLAGS.map((f) => `--${f}`).join(', ')}.`);
    }
  }
  const kind = stringFlag(flags, 'kind');
  if (kind === undefined || !(KINDS as readonly string[]).includes(kind)) {
    throw new EngineError(
      'BAD_ARGUMENT',
      kind === undefined ? 'patch needs --kind.' : `Unknown --kind "${kind}".`,
      `Use one of ${[...KINDS, 'path'].join(', ')}.`,
    );
  }
  if (flags.has('receivers')) throw new EngineError('BAD_ARGUMENT', '--receivers only applies to --kind path.');
  const target = tokenFlag(flags, 'target', 'target-id');
  if (!target)
    throw new EngineError(
      'BAD_ARGUMENT',
      'patch needs --target TOKEN or --target-id ID.',
      'The target is the token whose prediction the patches should restore.',
    );
  const contrast = tokenFlag(flags, 'contrast', 'contrast-id');
  const position = optionalInt(flags, 'position');
  const prependBos = prependBosFlag(flags);
  const metric = metricFlag(flags);
  const request: PatchRequest = {
    ...promptFlags(flags, 'clean'),
    ...promptFlags(flags, 'corrupt'),
    target,
    ...(contrast ? { contrast } : {}),
    ...(prependBos !== undefined ? { prependBos } : {}),
    ...(metric ? { metric } : {}),
    kind: kind as PatchKind,
  };
  const componentFlags = ['hook', 'layer', 'head'].filter((f) => flags.has(f));
  if (kind === 'single') {
    const hook = stringFlag(flags, 'hook');
    const layer = optionalInt(flags, 'layer');
    if (hook === undefined || layer === undefined)
      throw new EngineError(
        'BAD_ARGUMENT',
        '--kind single needs --hook and --layer (and --head for z, q, k, v).',
        `--hook is one of ${PATCH_HOOKS.join(', ')}.`,
      );
    if (!(PATCH_HOOKS as readonly string[]).includes(hook))
      throw new EngineError('BAD_ARGUMENT', `Unknown --hook "${hook}".`, `Use one of ${PATCH_HOOKS.join(', ')}.`);
    const head = optionalInt(flags, 'head');
    request.component = { hook: hook as PatchHook, layer, ...(head !== undefined ? { head } : {}), ...(position !== undefined ? { position } : {}) };
  } else {
    if (componentFlags.length > 0) throw new EngineError('BAD_ARGUMENT', `${componentFlags.map((f) => `--${f}`).join(', ')} only apply to --kind single.`);
    if (position !== undefined) {
      if (kind !== 'heads-last') throw new EngineError('BAD_ARGUMENT', `--position applies to --kind heads-last and single, not ${kind}.`);
      request.position = position;
    }
  }
  return request;
}

export function patchCliOutput(result: PatchSweepResult, info: LoadedModelInfo): PatchCliOutput {
  return {
    model: info,
    kind: result.kind,
    targetId: result.targetId,
    target: result.target,
    contrastId: result.contrastId,
    contrast: result.contrast,
    metric: result.metric,
    ...(result.startYear !== undefined ? { startYear: result.startYear } : {}),
    prependBos: result.prependBos,
    cleanTokens: result.cleanTokens,
    corruptTokens: result.corruptTokens,
    clean: result.clean,
    corrupt: result.corrupt,
    entries: result.entries,
    elapsedMs: result.elapsedMs,
  };
}

const site = (e: PatchEntry): string => `L${e.layer}${e.head !== undefined ? `H${e.head}` : ''}${e.position !== undefined ? ` @${e.position}` : ''}`;
function num(x: number, digits = 3): string {
  if (Number.isNaN(x)) return '—';
  const s = x.toFixed(digits);
  return Number(s) === 0 ? s.replace('-', '') : s; // no "-0.000"
}

/** The human-readable report: baselines and the components with the largest recovery. */
export function formatPatch(out: PatchCliOutput): string {
  const metric =
    out.metric === 'log_prob'
      ? `log p(${JSON.stringify(out.target)})`
      : out.metric === 'logit_diff'
        ? `logit(${JSON.stringify(out.target)}) − logit(${JSON.stringify(out.contrast)})`
        : `greater-than probability difference p(YY > ${String(out.startYear).padStart(2, '0')}) − p(YY ≤ ${String(out.startYear).padStart(2, '0')})`;
  const lines = [
    `${out.model.displayName} on ${out.model.device}: ${out.kind} patching, ${out.entries.length} components, ${out.cleanTokens.length} tokens, ${out.elapsedMs.toFixed(0)} ms`,
    `positions: ${out.prependBos ? 'BOS prepended, it is position 0' : 'no BOS, position 0 is the first prompt token'}`,
    `metric: ${metric} at the last position`,
    `clean    ${num(out.clean.value)}  p(target)=${out.clean.prob.toExponential(3)}`,
    `corrupt  ${num(out.corrupt.value)}  p(target)=${out.corrupt.prob.toExponential(3)}`,
    'largest recovery ((patched − corrupted) / (clean − corrupted)):',
  ];
  const ranked = [...out.entries].sort(
    (a, b) => (Number.isNaN(b.recovery) ? -Infinity : Math.abs(b.recovery)) - (Number.isNaN(a.recovery) ? -Infinity : Math.abs(a.recovery)),
  );
  for (const e of ranked.slice(0, 10))
    lines.push(`  ${site(e).padEnd(12)} recovery ${num(e.recovery).padStart(7)}  metric ${num(e.value)}  p=${e.prob.toExponential(3)}`);
  return lines.join('\n') + '\n';
}

export const patchCommand: CliCommand = {
  name: 'patch',
  usage:
    'patch --model M (--clean TEXT | --clean-ids 1,2,3) (--corrupt TEXT | --corrupt-ids 4,5,6) (--target TOKEN | --target-id ID) ' +
    '[--contrast TOKEN | --contrast-id ID] --kind heads-last|heads-all|resid|attn|mlp|single [--position P] ' +
    '[--hook z|q|k|v|resid_pre|attn_out|mlp_out --layer L [--head H]] [--prepend-bos | --no-prepend-bos] [--metric greater-than:YY] ' +
    '[--device D] [--max-tokens N] [--offline] [--json]; or --kind path --receivers logits|L9H6:q,L9H9:q (path patching of every sender head)',
  async run(flags, io) {
    if (stringFlag(flags, 'kind') === 'path') return runPathPatchCommand(flags, io);
    // Check every flag before loading a model.
    const request = parsePatchFlags(flags);
    const spec = resolveModelArg(flags.get('model'));
    const options = loadOptionsFromFlags(flags);
    const loaded = await loadModel(spec, options);
    try {
      const result = await runPatchSweep(loaded.runner, loaded.tokenizer, request, { maxTokens: options.maxTokens });
      const out = patchCliOutput(result, loaded.info);
      io.stdout(flags.has('json') ? JSON.stringify(out, null, 2) + '\n' : formatPatch(out));
    } finally {
      await loaded.runner.dispose();
    }
  },
};
