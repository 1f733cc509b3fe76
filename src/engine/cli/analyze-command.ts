/**
 * `circuit-trace analyze`: loads a model, analyses one prompt and prints the result, as JSON with
 * `--json` (stable field names, for scripts and tests) or as a short human-readable report.
 *
 *   circuit-trace analyze --model M (--prompt TEXT | --ids 1,2,3)
 *     [--target TOKEN | --target-id ID] [--contrast TOKEN | --contrast-id ID] [--position P]
 *     [--census] [--top-k K] [--threshold T] [--prepend-bos | --no-prepend-bos] [--metric greater-than:YY]
 *     [--dla tl|raw] [--max-tokens N] [--device D] [--offline] [--cache-dir DIR] [--json]
 *
 * --dla picks the direct logit attribution convention: 'tl' (default), TransformerLens's processed
 * weights (value biases folded into the bias, unembedding centred over the vocabulary), or 'raw',
 * the checkpoint's weights as they are (README, "Direct logit attribution").
 *
 * A text prompt gets the model's BOS at position 0 (TransformerLens's prepend_bos; default on when
 * the model has one); --ids are used exactly as given. `prependBos` in the JSON says which, and
 * every position (--position, the tokens, the trace) counts the BOS. `metric` is the model's value of
 * the logit difference (with a contrast), the target's log-probability (without) or, with --metric
 * greater-than:YY, greater-than's probability difference, at the traced position.
 *
 * Model resolution and load flags (--device default cpu, --max-tokens default 1024, --offline or
 * HF_HUB_OFFLINE, --cache-dir) are the shared ones of model-arg.ts.
 */
import { resultModelInfo } from '../model/model-info.js';
import type { AnalysisResult, CensusScoreSet, DlaMode, HeadSummary, LensLayer, MetricValue, Prediction, TokenInfo } from '../../protocol/analysis.js';
import type { AnalyzeRequest, LoadedModelInfo, LoadOptions, ModelSpec, TokenRef } from '../../protocol/engine.js';
import type { AnalysisRunner } from '../analysis/analysis-runner.js';
import { analyze } from '../analysis/analyze.js';
import { EngineError } from '../errors.js';
import type { ForwardRunner } from '../runtime/types.js';
import type { PromptTokenizer } from '../tokenizer/types.js';
import { loadModel } from '../model/load-model.js';
import type { CliCommand, CliFlags, CliIo } from './command.js';
import { idsFlag, loadOptionsFromFlags, resolveModelArg, stringFlag } from './model-arg.js';
import { metricFlag } from './metric-flag.js';
import { prependBosFlag } from './prepend-bos-flag.js';

const KNOWN_FLAGS = [
  'model',
  'prompt',
  'ids',
  'target',
  'target-id',
  'contrast',
  'contrast-id',
  'position',
  'census',
  'top-k',
  'threshold',
  'prepend-bos',
  'no-prepend-bos',
  'metric',
  'dla',
  'max-tokens',
  'device',
  'offline',
  'cache-dir',
  'json',
] as const;

/** A loaded model as the CLI needs it. */
export interface CliLoadedModel {
  runner: AnalysisRunner & Pick<ForwardRunner, 'dispose'>;
  tokenizer: PromptTokenizer;
  info: LoadedModelInfo;
}

/** Model resolution and loading, injected so that the command can be tested without model files. */
export interface AnalyzeCommandDeps {
  /** The --model argument (folder path, hub repo id or `organism`) as a ModelSpec. */
  resolveModelArg: (arg: string) => ModelSpec;
  loadModel: (spec: ModelSpec, options: LoadOptions) => Promise<CliLoadedModel>;
}

/** The `--json` document. */
export interface AnalyzeCliOutput {
  model: LoadedModelInfo;
  device: string;
  prompt: string;
  /** Whether tokens[0] is a prepended BOS (then positions count it as 0). */
  prependBos: boolean;
  tokens: TokenInfo[];
  position: number;
  /** The model's value of the metric at `position`. */
  metric: MetricValue;
  predictions: Prediction[];
  threshold: number;
  heads: HeadSummary[];
  /** With --census: one entry per head. */
  census: Array<{ layer: number; head: number; previous: number; duplicate: number; induction: number; raw: CensusScoreSet; label: string }> | null;
  censusProbe: { batch: number; halfLength: number; seed: number } | null;
  trace: {
    /** The attribution convention ('tl' or 'raw'). */
    dla: DlaMode;
    metric: 'logit' | 'logit_diff';
    targetId: number;
    target: string;
    contrastId: number | null;
    contrast: string | null;
    /** The model's final logit soft-cap, or null; with one, the trace is of the pre-softcap logit. */
    logitSoftcap: number | null;
    total: number;
    actual: number;
    /** Every component, largest |value| first. */
    components: Array<{ name: string; value: number }>;
    topPath: Array<Array<{ layer: number; head: number; value: number }>>;
  };
  /** One entry per depth: resid_pre 0 .. resid_pre L−1, resid_post L−1. */
  lens: LensLayer[];
  elapsedMs: number;
}

/** An optional integer flag (undefined when absent). */
function optionalIntFlag(flags: CliFlags, name: string, min: number): number | undefined {
  const v = stringFlag(flags, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim()) || Number(v) < min) throw new EngineError('BAD_ARGUMENT', `--${name} must be an integer ≥ ${min}, got "${v}".`);
  return Number(v);
}

function tokenFlag(flags: CliFlags, textName: string, idName: string): TokenRef | undefined {
  const text = stringFlag(flags, textName);
  const id = optionalIntFlag(flags, idName, 0);
  if (text !== undefined && id !== undefined) throw new EngineError('BAD_ARGUMENT', `Give --${textName} or --${idName}, not both.`);
  if (id !== undefined) return { id };
  return text !== undefined ? { text } : undefined;
}

/** The AnalyzeRequest and load options that the flags describe. */
export function parseAnalyzeFlags(flags: CliFlags): { model: string; request: AnalyzeRequest; load: LoadOptions; json: boolean } {
  for (const name of flags.keys()) {
    if (!(KNOWN_FLAGS as readonly string[]).includes(name)) {
      throw new EngineError('BAD_ARGUMENT', `Unknown flag --${name}.`, `analyze takes ${KNOWN_FLAGS.map((f) => `--${f}`).join(', ')}.`);
    }
  }
  const model = stringFlag(flags, 'model');
  if (!model) throw new EngineError('BAD_ARGUMENT', 'analyze needs --model.', 'Give a model folder, a Hugging Face repo id, or "organism".');
  const prompt = stringFlag(flags, 'prompt');
  const ids = idsFlag(flags, 'ids');
  if ((prompt === undefined) === (ids === undefined)) throw new EngineError('BAD_ARGUMENT', 'analyze needs exactly one of --prompt TEXT or --ids 1,2,3.');
  const request: AnalyzeRequest = {};
  if (prompt !== undefined) request.prompt = prompt;
  if (ids !== undefined) request.ids = ids;
  const target = tokenFlag(flags, 'target', 'target-id');
  if (target) request.target = target;
  const contrast = tokenFlag(flags, 'contrast', 'contrast-id');
  if (contrast) request.contrast = contrast;
  const position = optionalIntFlag(flags, 'position', 0);
  if (position !== undefined) request.position = position;
  const topK = optionalIntFlag(flags, 'top-k', 1);
  if (topK !== undefined) request.topK = topK;
  const threshold = stringFlag(flags, 'threshold');
  if (threshold !== undefined) {
    const t = Number(threshold);
    if (threshold.trim() === '' || !Number.isFinite(t) || t < 0 || t > 1)
      throw new EngineError('BAD_ARGUMENT', `--threshold must be a number in [0, 1], got "${threshold}".`);
    request.threshold = t;
  }
  if (flags.has('census')) request.census = true;
  const dla = stringFlag(flags, 'dla');
  if (dla !== undefined) {
    if (dla !== 'tl' && dla !== 'raw') throw new EngineError('BAD_ARGUMENT', `--dla must be "tl" or "raw", got "${dla}".`);
    request.dla = dla;
  }
  const prependBos = prependBosFlag(flags);
  if (prependBos !== undefined) request.prependBos = prependBos;
  const metric = metricFlag(flags);
  if (metric) request.metric = metric;
  return { model, request, load: loadOptionsFromFlags(flags), json: flags.has('json') };
}

export function analyzeCliOutput(result: AnalysisResult, info: LoadedModelInfo): AnalyzeCliOutput {
  return {
    model: info,
    device: result.device,
    prompt: result.prompt,
    prependBos: result.prependBos,
    tokens: result.tokens,
    position: result.trace.position,
    metric: result.metric,
    predictions: result.predictions,
    threshold: result.threshold,
    heads: result.heads.map((h) => ({
      layer: h.layer,
      head: h.head,
      name: h.name,
      label: h.label,
      scores: h.scores,
      entropy: h.entropy,
      entropyNormalized: h.entropyNormalized,
      concentration: h.concentration,
      outputNorm: h.outputNorm,
      dla: h.dla,
    })),
    census: result.census
      ? result.census.entries.map((e) => ({
          layer: e.layer,
          head: e.head,
          previous: e.previous,
          duplicate: e.duplicate,
          induction: e.induction,
          raw: e.raw,
          label: e.label,
        }))
      : null,
    censusProbe: result.census ? { batch: result.census.batch, halfLength: result.census.halfLength, seed: result.census.seed } : null,
    trace: {
      dla: result.trace.dla ?? 'raw',
      metric: result.trace.metric,
      targetId: result.trace.targetId,
      target: result.trace.target,
      contrastId: result.trace.contrastId,
      contrast: result.trace.contrast,
      logitSoftcap: result.trace.logitSoftcap ?? null,
      total: result.trace.total,
      actual: result.trace.actual,
      components: result.trace.components.map((c) => ({ name: c.name, value: c.value })),
      topPath: result.trace.topPath.map((nodes) => nodes.map((n) => ({ layer: n.layer, head: n.head, value: n.value }))),
    },
    lens: result.lens.layers,
    elapsedMs: result.elapsedMs,
  };
}

const fmt = (x: number, digits = 3): string => (x >= 0 ? ' ' : '') + x.toFixed(digits);

/** The human-readable report. */
export function formatAnalysis(out: AnalyzeCliOutput): string {
  const lines: string[] = [];
  lines.push(`${out.model.displayName} on ${out.device}, ${out.tokens.length} tokens, ${out.elapsedMs.toFixed(0)} ms`);
  lines.push(`tokens: ${out.tokens.map((t, i) => `${i}:${t.bos ? `BOS${JSON.stringify(t.text)}` : JSON.stringify(t.text)}`).join(' ')}`);
  lines.push(`positions: ${out.prependBos ? 'BOS prepended, it is position 0' : 'no BOS, position 0 is the first prompt token'}`);
  lines.push(`predictions at position ${out.position}:`);
  for (const p of out.predictions) lines.push(`  ${JSON.stringify(p.token).padEnd(16)} p=${p.prob.toFixed(4)}  logit=${p.logit.toFixed(3)}`);
  // A soft-capped model's trace attributes the logit before the cap (the only one that decomposes).
  const logit = out.trace.logitSoftcap === null ? 'logit' : 'pre-softcap logit';
  const metric =
    out.trace.metric === 'logit'
      ? `${logit} of ${JSON.stringify(out.trace.target)}`
      : `${logit}(${JSON.stringify(out.trace.target)}) − ${logit}(${JSON.stringify(out.trace.contrast)})`;
  lines.push(
    `metric ${out.metric.name}${out.metric.startYear !== undefined ? ` (start year ${String(out.metric.startYear).padStart(2, '0')})` : ''}: ${out.metric.value.toFixed(4)}`,
  );
  lines.push(`circuit trace of the ${metric} (DLA ${out.trace.dla}): total ${out.trace.total.toFixed(4)} (model ${out.trace.actual.toFixed(4)})`);
  for (const c of out.trace.components.slice(0, 10)) lines.push(`  ${c.name.padEnd(10)} ${fmt(c.value)}`);
  const labelled = out.heads.filter((h) => h.label !== 'diffuse' && h.label !== 'no evidence');
  lines.push(
    `head classes on this prompt (threshold ${out.threshold}): ${labelled.length === 0 ? 'none' : labelled.map((h) => `${h.name} ${h.label}`).join(', ')}`,
  );
  if (out.census) {
    const found = out.census.filter((e) => e.label !== 'diffuse' && e.label !== 'no evidence');
    lines.push(`head census: ${found.length === 0 ? 'none' : found.map((e) => `L${e.layer}H${e.head} ${e.label}`).join(', ')}`);
  }
  lines.push('logit lens (top guess, target rank):');
  for (const layer of out.lens) lines.push(`  ${layer.label.padEnd(14)} ${JSON.stringify(layer.top[0]?.token ?? '').padEnd(16)} rank ${layer.targetRank}`);
  return lines.join('\n') + '\n';
}

async function runAnalyze(deps: AnalyzeCommandDeps, flags: CliFlags, io: CliIo): Promise<void> {
  const { model, request, load, json } = parseAnalyzeFlags(flags);
  const spec = deps.resolveModelArg(model);
  const loaded = await deps.loadModel(spec, load);
  try {
    const { info } = loaded;
    const result = await analyze(loaded.runner, loaded.tokenizer, request, {
      modelInfo: resultModelInfo(info),
      maxTokens: load.maxTokens,
    });
    const out = analyzeCliOutput(result, info);
    io.stdout(json ? JSON.stringify(out, null, 2) + '\n' : formatAnalysis(out));
  } finally {
    await loaded.runner.dispose();
  }
}

export function createAnalyzeCommand(deps: AnalyzeCommandDeps): CliCommand {
  return {
    name: 'analyze',
    usage:
      'analyze --model M (--prompt TEXT | --ids 1,2,3) [--target TOKEN | --target-id ID] [--contrast TOKEN | --contrast-id ID] ' +
      '[--position P] [--census] [--top-k K] [--threshold T] [--prepend-bos | --no-prepend-bos] [--metric greater-than:YY] [--dla tl|raw] [--max-tokens N] [--device D] [--offline] [--cache-dir DIR] [--json]',
    run: (flags, io) => runAnalyze(deps, flags, io),
  };
}

/** The registered command: models resolved and loaded as every CLI command does. */
export const analyzeCommand: CliCommand = createAnalyzeCommand({ resolveModelArg, loadModel });
