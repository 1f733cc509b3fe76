/**
 * `circuit-trace circuit`: automatic circuit discovery from the command line. Edges are scored by
 * EAP or EAP-IG, the top k (or those above a threshold) are kept and pruned to paths from the
 * embedding to the logits, and the circuit's faithfulness is measured exactly by edge-level
 * patching; `--curve [N]` adds a faithfulness curve of N circuit sizes (default 10).
 *
 *   circuit-trace circuit --model M (--clean TEXT | --clean-ids 1,2,3) (--corrupt TEXT | --corrupt-ids 4,5,6)
 *     (--target TOKEN | --target-id ID) [--contrast TOKEN | --contrast-id ID]
 *     [--method eap|eap-ig] [--steps N] [--edges K | --threshold X] [--curve [N]]
 *     [--prepend-bos | --no-prepend-bos] [--device D] [--max-tokens N] [--offline] [--cache-dir DIR] [--json]
 *
 * The JSON holds the circuit's nodes and scored edges, its metric and faithfulness, the curve with
 * --curve, the ids run and the elapsed time.
 */
import type { CircuitReport, CircuitRequest, EdgeScoreMethod } from '../../protocol/circuit.js';
import { eapEdgeScorer } from '../circuits/eap-edge-scorer.js';
import { Engine } from '../engine.js';
import { EngineError } from '../errors.js';
import type { CliCommand, CliFlags } from './command.js';
import { loadOptionsFromFlags, resolveModelArg, stringFlag } from './model-arg.js';
import { optionalInt, promptFlags, tokenFlag } from './patch-flags.js';
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
  'steps',
  'edges',
  'threshold',
  'curve',
  'prepend-bos',
  'no-prepend-bos',
  'device',
  'max-tokens',
  'offline',
  'cache-dir',
  'json',
] as const;
const METHODS: readonly EdgeScoreMethod[] = ['eap', 'eap-ig'];
const DEFAULT_CURVE_POINTS = 10;

/** The CircuitRequest the flags describe, checked before any model loads. */
export function parseCircuitFlags(flags: CliFlags): CircuitRequest {
  for (const name of flags.keys()) {
    if (!(KNOWN_FLAGS as readonly string[]).includes(name))
      throw new EngineError('BAD_ARGUMENT', `Unknown flag --${name}.`, `circuit takes ${KNOWN_FLAGS.map((f) => `--${f}`).join(', ')}.`);
  }
  const method = (stringFlag(flags, 'method') ?? 'eap-ig') as EdgeScoreMethod;
  if (!METHODS.includes(method)) throw new EngineError('BAD_ARGUMENT', `--method must be eap or eap-ig (got "${method}").`);
  const steps = optionalInt(flags, 'steps');
  if (steps !== undefined && method !== 'eap-ig') throw new EngineError('BAD_ARGUMENT', '--steps applies to --method eap-ig only.');
  const edges = optionalInt(flags, 'edges');
  const thresholdText = stringFlag(flags, 'threshold');
  if (edges !== undefined && thresholdText !== undefined) throw new EngineError('BAD_ARGUMENT', 'Give --edges K or --threshold X, not both.');
  const threshold = thresholdText === undefined ? undefined : Number(thresholdText);
  if (threshold !== undefined && !(Number.isFinite(threshold) && threshold >= 0))
    throw new EngineError('BAD_ARGUMENT', `--threshold must be a number of at least 0 (got "${thresholdText}").`);
  const curve = flags.get('curve');
  const curvePoints = curve === undefined ? 0 : curve === true ? DEFAULT_CURVE_POINTS : Number(curve);
  if (!Number.isInteger(curvePoints) || curvePoints < 0)
    throw new EngineError('BAD_ARGUMENT', `--curve takes a whole number of circuit sizes (got "${String(curve)}").`);
  const target = tokenFlag(flags, 'target', 'target-id');
  if (!target) throw new EngineError('BAD_ARGUMENT', 'circuit needs --target TOKEN or --target-id ID.', 'The metric is logit(target) − logit(contrast).');
  const contrast = tokenFlag(flags, 'contrast', 'contrast-id');
  const prependBos = prependBosFlag(flags);
  return {
    ...promptFlags(flags, 'clean'),
    ...promptFlags(flags, 'corrupt'),
    target,
    ...(contrast ? { contrast } : {}),
    ...(prependBos !== undefined ? { prependBos } : {}),
    method,
    ...(steps !== undefined ? { steps } : {}),
    ...(edges !== undefined ? { edges } : {}),
    ...(threshold !== undefined ? { threshold } : {}),
    curvePoints,
  };
}

/** The `--json` document: the report without the per-curve-point circuits and every edge's score (the CLI prints the circuit). */
export type CircuitCliOutput = Omit<CircuitReport, 'allEdges' | 'curveCircuits'>;

/** The report as the CLI prints it; the curve only when asked for (the engine's always holds the chosen size). */
export function circuitCliOutput(report: CircuitReport, withCurve: boolean): CircuitCliOutput {
  const { allEdges: _all, curveCircuits: _circuits, curve, ...out } = report;
  return withCurve && curve ? { ...out, curve } : out;
}

function percent(x: number | null): string {
  return x === null ? '—' : `${(100 * x).toFixed(1)}%`;
}

/** The human-readable report: the circuit's faithfulness, its edges and the curve. */
export function formatCircuit(r: CircuitCliOutput): string {
  const size = 'edges' in r.size ? `top ${r.size.edges} edges` : `edges with |score| ≥ ${r.size.threshold}`;
  const lines = [
    `${r.model.displayName}: ${r.method}${r.steps !== undefined ? ` (${r.steps} steps)` : ''}, ${size} → ${r.edges.length} edges after pruning, ${r.nodes.length} nodes, ${r.elapsedMs.toFixed(0)} ms`,
    `metric ${r.metric.clean.name}: clean ${r.metric.clean.value.toFixed(3)}, corrupt ${r.metric.corrupt.value.toFixed(3)}, circuit ${r.metric.circuit.value.toFixed(3)}`,
    `faithfulness ${percent(r.faithfulness)}`,
    'edges (by |score|):',
    ...r.edges.slice(0, 30).map((e) => `  ${`${e.from} → ${e.to}`.padEnd(24)} ${e.score.toFixed(4)}`),
  ];
  if (r.edges.length > 30) lines.push(`  … ${r.edges.length - 30} more (--json for all)`);
  if (r.curve)
    lines.push(
      'faithfulness curve:',
      ...r.curve.map((p) => `  top ${String(p.requested).padStart(6)} → ${String(p.edges).padStart(6)} edges  ${percent(p.faithfulness)}`),
    );
  return lines.join('\n') + '\n';
}

export const circuitCommand: CliCommand = {
  name: 'circuit',
  usage:
    'circuit --model M (--clean TEXT|--clean-ids IDS) (--corrupt TEXT|--corrupt-ids IDS) (--target T|--target-id ID) [--contrast C|--contrast-id ID] [--method eap|eap-ig] [--steps N] [--edges K|--threshold X] [--curve [N]] [--json]   discover a circuit (EAP/EAP-IG) and measure its faithfulness exactly',
  async run(flags, io) {
    const request = parseCircuitFlags(flags);
    const engine = new Engine({ edgeScorer: eapEdgeScorer });
    try {
      await engine.loadModel(resolveModelArg(flags.get('model')), loadOptionsFromFlags(flags));
      const out = circuitCliOutput(await engine.circuit(request), flags.has('curve'));
      io.stdout(flags.has('json') ? JSON.stringify(out, null, 2) + '\n' : formatCircuit(out));
    } finally {
      await engine.dispose();
    }
  },
};
