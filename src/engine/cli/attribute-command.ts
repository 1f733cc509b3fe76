/**
 * `circuit-trace attribute`: attribution patching (AtP, AtP*) and edge attribution (EAP, EAP-IG)
 * from the command line, as JSON with `--json` or as a short report.
 *
 *   circuit-trace attribute --model M (--clean TEXT | --clean-ids 1,2,3) (--corrupt TEXT | --corrupt-ids 4,5,6)
 *     (--target TOKEN | --target-id ID) [--contrast TOKEN | --contrast-id ID]
 *     --method atp|atp-star|eap|eap-ig --kind heads|resid|attn-out|mlp-out|neurons|edges
 *     [--steps N] [--per-position] [--grad-drop] [--repeat N]
 *     [--prepend-bos | --no-prepend-bos] [--max-tokens N] [--offline] [--cache-dir DIR] [--json]
 *
 * Text prompts get the model's BOS as `patch` does; ids are used as given. The metric is the logit
 * difference target − contrast with a contrast, log p(target) without one. The JSON is
 * `{ method, kind, metric: { clean, corrupt }, entries, elapsedMs }` plus the ids run; edge entries
 * `{ from, to, score }` are also under `edges`. With --repeat N the attribution runs N times and
 * elapsedMs is the median. Gradients run on the CPU.
 */
import type { ScoredEdge } from '../../protocol/circuit.js';
import type { TokenRef } from '../../protocol/engine.js';
import {
  ATTRIBUTION_KINDS,
  ATTRIBUTION_METHODS,
  type AttributionKind,
  type AttributionMethod,
  type AttributionResult,
  type NodeScore,
} from '../attribution/attribution-types.js';
import { checkAttributionRequest, runAttribution } from '../attribution/run-attribution.js';
import { bosToPrepend } from '../analysis/prompt-input.js';
import { EngineError } from '../errors.js';
import { loadModelFolder } from '../model/load-folder.js';
import { resolveModelFolder } from '../model/load-model.js';
import { resolvePatchInputs } from '../patching/patch-inputs.js';
import { GradientModel } from '../runtime/gradient-model.js';
import type { CliCommand, CliFlags } from './command.js';
import { idsFlag, intFlag, loadOptionsFromFlags, resolveModelArg, stringFlag } from './model-arg.js';
import { optionalInt, tokenFlag } from './patch-flags.js';
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
  'method',
  'kind',
  'steps',
  'per-position',
  'grad-drop',
  'repeat',
  'prepend-bos',
  'no-prepend-bos',
  'max-tokens',
  'offline',
  'cache-dir',
  'json',
] as const;

/** Most repeats of --repeat (a timing aid, not a benchmark harness). */
const MAX_REPEAT = 100;

export interface AttributeFlags {
  method: AttributionMethod;
  kind: AttributionKind;
  clean: { text: string } | { ids: number[] };
  corrupt: { text: string } | { ids: number[] };
  target: TokenRef;
  contrast?: TokenRef;
  steps?: number;
  perPosition: boolean;
  gradDrop: boolean;
  repeat: number;
  prependBos?: boolean;
}

export interface AttributeCliOutput {
  method: AttributionMethod;
  kind: AttributionKind;
  steps?: number;
  metric: { clean: number; corrupt: number };
  cleanIds: number[];
  corruptIds: number[];
  targetId: number;
  contrastId: number | null;
  entries: Array<NodeScore | ScoredEdge>;
  edges?: ScoredEdge[];
  elapsedMs: number;
}

function booleanFlag(flags: CliFlags, name: string): boolean {
  const v = flags.get(name);
  if (v !== undefined && v !== true) throw new EngineError('BAD_ARGUMENT', `--${name} takes no value (got "${v}").`);
  return v === true;
}

function promptFlag(flags: CliFlags, role: 'clean' | 'corrupt'): { text: string } | { ids: number[] } {
  const text = stringFlag(flags, role);
  const ids = idsFlag(flags, `${role}-ids`);
  if ((text === undefined) === (ids === undefined))
    throw new EngineError('BAD_ARGUMENT', `attribute needs exactly one of --${role} TEXT or --${role}-ids 1,2,3.`);
  return text !== undefined ? { text } : { ids: ids! };
}

/** The flags, checked before any model is loaded. */
export function parseAttributeFlags(flags: CliFlags): AttributeFlags {
  for (const name of flags.keys()) {
    if (!(KNOWN_FLAGS as readonly string[]).includes(name))
      throw new EngineError('BAD_ARGUMENT', `Unknown flag --${name}.`, `attribute takes ${KNOWN_FLAGS.map((f) => `--${f}`).join(', ')}.`);
  }
  const method = stringFlag(flags, 'method');
  if (method === undefined || !(ATTRIBUTION_METHODS as readonly string[]).includes(method))
    throw new EngineError(
      'BAD_ARGUMENT',
      method === undefined ? 'attribute needs --method.' : `Unknown --method "${method}".`,
      `Use one of ${ATTRIBUTION_METHODS.join(', ')}.`,
    );
  const kind = stringFlag(flags, 'kind');
  if (kind === undefined || !(ATTRIBUTION_KINDS as readonly string[]).includes(kind))
    throw new EngineError(
      'BAD_ARGUMENT',
      kind === undefined ? 'attribute needs --kind.' : `Unknown --kind "${kind}".`,
      `Use one of ${ATTRIBUTION_KINDS.join(', ')}.`,
    );
  const target = tokenFlag(flags, 'target', 'target-id');
  if (!target) throw new EngineError('BAD_ARGUMENT', 'attribute needs --target TOKEN or --target-id ID.');
  const contrast = tokenFlag(flags, 'contrast', 'contrast-id');
  const steps = optionalInt(flags, 'steps');
  const prependBos = prependBosFlag(flags);
  const parsed: AttributeFlags = {
    method: method as AttributionMethod,
    kind: kind as AttributionKind,
    clean: promptFlag(flags, 'clean'),
    corrupt: promptFlag(flags, 'corrupt'),
    target,
    ...(contrast ? { contrast } : {}),
    ...(steps !== undefined ? { steps } : {}),
    perPosition: booleanFlag(flags, 'per-position'),
    gradDrop: booleanFlag(flags, 'grad-drop'),
    repeat: intFlag(flags, 'repeat', 1),
    ...(prependBos !== undefined ? { prependBos } : {}),
  };
  if (parsed.repeat > MAX_REPEAT) throw new EngineError('BAD_ARGUMENT', `--repeat is at most ${MAX_REPEAT} (got ${parsed.repeat}).`);
  // The request's own checks (steps, kinds per method, per-position) before loading; lengths are checked once tokenized.
  checkAttributionRequest(
    {
      cleanIds: [],
      corruptIds: [],
      targetId: 0,
      contrastId: null,
      method: parsed.method,
      kind: parsed.kind,
      perPosition: parsed.perPosition,
      gradDrop: parsed.gradDrop,
      ...(steps !== undefined ? { steps } : {}),
    },
    2,
  );
  return parsed;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const nodeName = (e: NodeScore): string =>
  `L${e.layer}${e.head !== undefined ? `H${e.head}` : ''}${e.neuron !== undefined ? ` N${e.neuron}` : ''}${e.position !== undefined ? ` @${e.position}` : ''}`;

/** The human-readable report: the metric and the ten largest scores by magnitude. */
export function formatAttribution(out: AttributeCliOutput): string {
  const lines = [
    `${out.method} over ${out.kind}: ${out.entries.length} scores, ${out.cleanIds.length} tokens, ${out.elapsedMs.toFixed(0)} ms`,
    `metric: ${out.contrastId === null ? `log p(${out.targetId})` : `logit(${out.targetId}) − logit(${out.contrastId})`} at the last position`,
    `clean ${out.metric.clean.toFixed(4)}  corrupt ${out.metric.corrupt.toFixed(4)}`,
    'largest |score|:',
  ];
  const ranked = [...(out.entries as Array<NodeScore | ScoredEdge>)].sort((a, b) => Math.abs(b.score) - Math.abs(a.score));
  for (const e of ranked.slice(0, 10)) lines.push(`  ${('from' in e ? `${e.from} → ${e.to}` : nodeName(e)).padEnd(24)} ${e.score.toFixed(5)}`);
  return lines.join('\n') + '\n';
}

export const attributeCommand: CliCommand = {
  name: 'attribute',
  usage:
    'attribute --model M (--clean TEXT | --clean-ids 1,2,3) (--corrupt TEXT | --corrupt-ids 4,5,6) (--target TOKEN | --target-id ID) ' +
    '[--contrast TOKEN | --contrast-id ID] --method atp|atp-star|eap|eap-ig --kind heads|resid|attn-out|mlp-out|neurons|edges ' +
    '[--steps N] [--per-position] [--grad-drop] [--repeat N] [--prepend-bos | --no-prepend-bos] [--max-tokens N] [--offline] [--json]',
  async run(flags, io) {
    const parsed = parseAttributeFlags(flags);
    const spec = resolveModelArg(flags.get('model'));
    const options = loadOptionsFromFlags(flags);
    const { folder } = await resolveModelFolder(spec, options);
    const { model: canonical, tokenizer } = await loadModelFolder(folder);
    const { config } = canonical;
    const inputs = resolvePatchInputs(
      tokenizer,
      {
        ...('text' in parsed.clean ? { clean: parsed.clean.text } : { cleanIds: parsed.clean.ids }),
        ...('text' in parsed.corrupt ? { corrupt: parsed.corrupt.text } : { corruptIds: parsed.corrupt.ids }),
        target: parsed.target,
        ...(parsed.contrast ? { contrast: parsed.contrast } : {}),
        ...(parsed.prependBos !== undefined ? { prependBos: parsed.prependBos } : {}),
      },
      { maxTokens: options.maxTokens, nCtx: config.nCtx, dVocab: config.dVocab, prependBosId: bosToPrepend(config, parsed.prependBos) },
    );
    const model = await GradientModel.create(canonical);
    try {
      const request = {
        cleanIds: inputs.clean.ids,
        corruptIds: inputs.corrupt.ids,
        targetId: inputs.targetId,
        contrastId: inputs.contrastId,
        method: parsed.method,
        kind: parsed.kind,
        perPosition: parsed.perPosition,
        gradDrop: parsed.gradDrop,
        ...(parsed.steps !== undefined ? { steps: parsed.steps } : {}),
      };
      const runs: AttributionResult[] = [];
      for (let i = 0; i < parsed.repeat; i++) runs.push(await runAttribution(model, request));
      const result = runs[0]!;
      const out: AttributeCliOutput = {
        method: result.method,
        kind: result.kind,
        ...(parsed.method === 'eap-ig' ? { steps: parsed.steps ?? 5 } : {}),
        metric: result.metric,
        cleanIds: [...inputs.clean.ids],
        corruptIds: [...inputs.corrupt.ids],
        targetId: inputs.targetId,
        contrastId: inputs.contrastId,
        entries: result.entries,
        ...(result.kind === 'edges' ? { edges: result.entries as ScoredEdge[] } : {}),
        elapsedMs: median(runs.map((r) => r.elapsedMs)),
      };
      io.stdout(flags.has('json') ? JSON.stringify(out, null, 2) + '\n' : formatAttribution(out));
    } finally {
      await model.dispose();
    }
  },
};
