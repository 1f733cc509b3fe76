/**
 * `circuit-trace graph`: an attribution graph of a prompt's next-token prediction (circuit-tracer's
 * method) with a transcoder set replacing the MLPs, written as circuit-tracer's graph JSON (the
 * file its local server and Neuronpedia open).
 *
 *   circuit-trace graph --model M --transcoders D (--prompt TEXT | --ids 1,2,3) --out graph.json
 *     [--node-threshold 0.8] [--edge-threshold 0.98] [--max-feature-nodes 7500] [--max-logits 10]
 *     [--logit-probability 0.95] [--batch-size 512] [--slug NAME] [--scan NAME]
 *     [--prepend-bos | --no-prepend-bos] [--device D] [--max-tokens N] [--offline] [--cache-dir DIR] [--json]
 *
 * Prints the scores, the node and link counts and the timings (`--json`: as one JSON object). A
 * prompt over 64 tokens, thresholds outside [0, 1] and a dictionary that does not fit the model
 * are typed errors before any work.
 */
import { basename } from 'node:path';
import { Engine } from '../engine.js';
import { EngineError } from '../errors.js';
import { buildAttributionGraph } from '../features/attribution-graph/attribution-graph.js';
import { toCircuitTracerJson } from '../features/attribution-graph/graph-json.js';
import { checkGraphPrompt, MAX_GRAPH_TOKENS } from '../features/attribution-graph/limits.js';
import type { AttributionGraphOptions, AttributionGraphResult } from '../features/attribution-graph/types.js';
import { loadDictionaryFromSpec } from '../features/dictionary-spec-loader.js';
import type { DictionaryLoader } from '../features/feature-tools.js';
import type { CliCommand, CliFlags } from './command.js';
import { loadGraphInputs } from './graph-inputs.js';
import { idsFlag, intFlag, stringFlag } from './model-arg.js';
import { checkOutputFile, writeOutputFile } from './output-file.js';

const KNOWN_FLAGS = [
  'model',
  'transcoders',
  'prompt',
  'ids',
  'out',
  'node-threshold',
  'edge-threshold',
  'max-feature-nodes',
  'max-logits',
  'logit-probability',
  'batch-size',
  'slug',
  'scan',
  'prepend-bos',
  'no-prepend-bos',
  'device',
  'max-tokens',
  'offline',
  'cache-dir',
  'json',
] as const;

function fraction(flags: CliFlags, name: string, fallback: number): number {
  const text = stringFlag(flags, name);
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!(Number.isFinite(v) && v >= 0 && v <= 1)) throw new EngineError('BAD_ARGUMENT', `--${name} must be a number from 0 to 1 (got "${text}").`);
  return v;
}

/** The graph options the flags describe, checked before any model loads. */
export function parseGraphFlags(flags: CliFlags): { options: Required<Omit<AttributionGraphOptions, 'zeroBos'>>; out: string } {
  for (const name of flags.keys())
    if (!(KNOWN_FLAGS as readonly string[]).includes(name))
      throw new EngineError('BAD_ARGUMENT', `Unknown flag --${name}.`, `graph takes ${KNOWN_FLAGS.map((f) => `--${f}`).join(', ')}.`);
  const out = stringFlag(flags, 'out');
  if (!out) throw new EngineError('BAD_ARGUMENT', 'graph needs --out FILE.json (circuit-tracer’s graph JSON).');
  checkOutputFile(out);
  if ((stringFlag(flags, 'prompt') === undefined) === (idsFlag(flags, 'ids') === undefined))
    throw new EngineError('BAD_ARGUMENT', 'Give exactly one of --prompt TEXT or --ids 1,2,3.');
  const ids = idsFlag(flags, 'ids');
  if (ids) checkGraphPrompt(ids);
  return {
    out,
    options: {
      nodeThreshold: fraction(flags, 'node-threshold', 0.8),
      edgeThreshold: fraction(flags, 'edge-threshold', 0.98),
      maxFeatureNodes: intFlag(flags, 'max-feature-nodes', 7500),
      maxLogits: intFlag(flags, 'max-logits', 10),
      logitProbability: fraction(flags, 'logit-probability', 0.95),
      batchSize: intFlag(flags, 'batch-size', 512),
    },
  };
}

/** The summary printed after the graph is written. */
export function graphSummary(result: AttributionGraphResult, out: string): Record<string, unknown> {
  return {
    out,
    replacementScore: result.replacementScore,
    completenessScore: result.completenessScore,
    counts: result.counts,
    logits: result.logits,
    zeroedBos: result.zeroedBos,
    timings: result.timings,
  };
}

export function makeGraphCommand(loadDictionary: DictionaryLoader): CliCommand {
  return {
    name: 'graph',
    usage: `graph --model M --transcoders D (--prompt TEXT|--ids 1,2,3) --out graph.json [--node-threshold 0.8] [--edge-threshold 0.98] [--max-feature-nodes 7500] [--json]   an attribution graph (circuit-tracer's JSON; at most ${MAX_GRAPH_TOKENS} tokens)`,
    async run(flags, io) {
      const { options, out } = parseGraphFlags(flags);
      const engine = new Engine();
      try {
        const { runner, tokenizer, prompt, dictionary } = await loadGraphInputs(flags, engine, loadDictionary);
        try {
          const tokenText = (id: number): string => tokenizer.tokenText(id);
          const run = await buildAttributionGraph(runner, dictionary, prompt.ids, tokenText, options);
          const json = toCircuitTracerJson(run.result, {
            slug: stringFlag(flags, 'slug') ?? basename(out).replace(/\.json$/i, ''),
            scan: stringFlag(flags, 'scan') ?? dictionary.modelName ?? dictionary.id,
            prompt: prompt.prompt,
            nLayers: runner.config.nLayers,
          });
          await writeOutputFile(out, new TextEncoder().encode(JSON.stringify(json, null, 2)));
          const r = run.result;
          if (flags.has('json')) io.stdout(JSON.stringify(graphSummary(r, out)) + '\n');
          else
            io.stdout(
              `${out}: ${r.counts.keptNodes} nodes, ${r.counts.keptLinks} links (of ${r.counts.nodes} nodes; ${r.counts.visitedFeatures} of ${r.counts.activeFeatures} active features visited)\n` +
                `replacement score ${r.replacementScore.toFixed(3)}, completeness ${r.completenessScore.toFixed(3)}\n` +
                `logits: ${r.logits.map((l) => `${JSON.stringify(l.text)} ${l.probability.toFixed(3)}`).join(', ')}\n` +
                `${(r.timings.totalMs / 1000).toFixed(1)} s (activations ${(r.timings.activationMs / 1000).toFixed(1)} s, backward ${(r.timings.backwardMs / 1000).toFixed(1)} s, pruning ${(r.timings.pruningMs / 1000).toFixed(1)} s)\n`,
            );
        } finally {
          dictionary.dispose();
        }
      } finally {
        await engine.dispose();
      }
    },
  };
}

export const graphCommand = makeGraphCommand(loadDictionaryFromSpec);
