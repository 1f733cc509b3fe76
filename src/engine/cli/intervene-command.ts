/**
 * `circuit-trace intervene`: edit features of a prompt's attribution graph and compare the logits
 * with what the graph predicts. The graph is built as `circuit-trace graph` builds it; the edits run
 * on the real model with attention frozen at the clean run's patterns (circuit-tracer's default) or,
 * with --unfrozen, recomputed.
 *
 *   circuit-trace intervene --model M --transcoders D (--prompt TEXT | --ids 1,2,3)
 *     (--ablate "L:F[@P,P];…" | --edits "L:F[@P,P]=V;L:F*S;L:F+V;…") [--unfrozen]
 *     [--max-feature-nodes 7500] [--prepend-bos | --no-prepend-bos] [--device D] [--offline] [--cache-dir DIR] [--json]
 *
 * An edit names a feature by layer and index, optionally positions (default: every position), and
 * sets (=V), scales (*S) or adds to (+V) its activation; --ablate sets each listed feature to 0.
 * Per logit target of the graph: the demeaned logit before and after, the change, and the graph's
 * direct and propagated predictions (graph-intervention.ts).
 */
import { Engine } from '../engine.js';
import { EngineError } from '../errors.js';
import { buildAttributionGraph } from '../features/attribution-graph/attribution-graph.js';
import { interveneOnGraph } from '../features/attribution-graph/graph-intervention.js';
import { checkGraphPrompt } from '../features/attribution-graph/limits.js';
import { loadDictionaryFromSpec } from '../features/dictionary-spec-loader.js';
import type { DictionaryLoader } from '../features/feature-tools.js';
import { MatmulSessions } from '../runtime/matmul-session.js';
import type { FeatureEdit } from '../../protocol/features.js';
import type { CliCommand, CliFlags } from './command.js';
import { loadGraphInputs } from './graph-inputs.js';
import { idsFlag, intFlag, stringFlag } from './model-arg.js';

const KNOWN_FLAGS = [
  'model',
  'transcoders',
  'prompt',
  'ids',
  'ablate',
  'edits',
  'unfrozen',
  'max-feature-nodes',
  'prepend-bos',
  'no-prepend-bos',
  'device',
  'max-tokens',
  'offline',
  'cache-dir',
  'json',
] as const;

const EDIT = /^(\d+):(\d+)(?:@([\d,\s]+))?(?:(=|\*|\+)\s*(-?[\d.]+(?:e-?\d+)?))?$/i;

/** Edits from `--edits` ("L:F[@P,P]=V", "*S", "+V"; ';'-separated) and `--ablate` ("L:F[@P,P]", set to 0). */
export function parseEdits(edits: string | undefined, ablate: string | undefined): FeatureEdit[] {
  const out: FeatureEdit[] = [];
  const items = (text: string | undefined): string[] =>
    (text ?? '')
      .split(';')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  for (const [text, ablating] of [
    [edits, false],
    [ablate, true],
  ] as const)
    for (const item of items(text)) {
      const m = EDIT.exec(item);
      if (!m || (ablating ? m[4] !== undefined : m[4] === undefined))
        throw new EngineError(
          'BAD_ARGUMENT',
          `"${item}" is not a feature ${ablating ? 'to ablate' : 'edit'}.`,
          ablating ? 'Write LAYER:FEATURE[@POS,POS], e.g. 3:1234@5.' : 'Write LAYER:FEATURE[@POS,POS]=VALUE, *FACTOR or +VALUE, e.g. 3:1234@5=0.',
        );
      const positions = m[3]
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
        .map(Number);
      const value = m[5] === undefined ? 0 : Number(m[5]);
      if (!Number.isFinite(value)) throw new EngineError('BAD_ARGUMENT', `"${item}": ${m[5]} is not a number.`);
      const base = { layer: Number(m[1]), feature: Number(m[2]), ...(positions ? { positions } : {}) };
      out.push(m[4] === '*' ? { ...base, kind: 'scale', factor: value } : m[4] === '+' ? { ...base, kind: 'add', value } : { ...base, kind: 'set', value });
    }
  if (out.length === 0) throw new EngineError('BAD_ARGUMENT', 'intervene needs --ablate or --edits naming at least one feature.');
  return out;
}

export function parseInterveneFlags(flags: CliFlags): { edits: FeatureEdit[]; freezeAttention: boolean } {
  for (const name of flags.keys())
    if (!(KNOWN_FLAGS as readonly string[]).includes(name))
      throw new EngineError('BAD_ARGUMENT', `Unknown flag --${name}.`, `intervene takes ${KNOWN_FLAGS.map((f) => `--${f}`).join(', ')}.`);
  if ((stringFlag(flags, 'prompt') === undefined) === (idsFlag(flags, 'ids') === undefined))
    throw new EngineError('BAD_ARGUMENT', 'Give exactly one of --prompt TEXT or --ids 1,2,3.');
  const ids = idsFlag(flags, 'ids');
  if (ids) checkGraphPrompt(ids);
  return { edits: parseEdits(stringFlag(flags, 'edits'), stringFlag(flags, 'ablate')), freezeAttention: !flags.has('unfrozen') };
}

export function makeInterveneCommand(loadDictionary: DictionaryLoader): CliCommand {
  return {
    name: 'intervene',
    usage:
      'intervene --model M --transcoders D (--prompt TEXT|--ids 1,2,3) (--ablate "L:F[@P]" | --edits "L:F[@P]=V;L:F*S") [--unfrozen] [--json]   edit graph features, compare the logits with the graph',
    async run(flags, io) {
      const { edits, freezeAttention } = parseInterveneFlags(flags);
      const engine = new Engine();
      const matmul = await MatmulSessions.create();
      try {
        const { runner, tokenizer, prompt, dictionary } = await loadGraphInputs(flags, engine, loadDictionary);
        try {
          const tokenText = (id: number): string => tokenizer.tokenText(id);
          const graph = await buildAttributionGraph(runner, dictionary, prompt.ids, tokenText, { maxFeatureNodes: intFlag(flags, 'max-feature-nodes', 7500) });
          const result = await interveneOnGraph(runner, matmul, dictionary, graph, edits, tokenText, { freezeAttention });
          if (flags.has('json')) io.stdout(JSON.stringify({ ids: prompt.ids, ...result }) + '\n');
          else {
            const lines = [`attention ${freezeAttention ? 'frozen' : 'recomputed'}; ${result.applied.length} edits applied`];
            for (const a of result.applied) lines.push(`  L${a.layer} f${a.feature} @${a.position}: ${a.before.toFixed(3)} → ${a.after.toFixed(3)}`);
            if (result.notInGraph.length > 0)
              lines.push(`  (${result.notInGraph.length} of them on features that are not graph nodes: not in the predictions)`);
            lines.push('logit (demeaned)        clean → intervened   change   graph: direct  propagated');
            for (const l of result.logits)
              lines.push(
                `  ${JSON.stringify(l.text).padEnd(20)} ${l.clean.toFixed(3).padStart(8)} → ${l.intervened.toFixed(3).padEnd(8)} ${l.actual.toFixed(3).padStart(8)}   ${l.predictedDirect.toFixed(3).padStart(8)}  ${l.predictedPropagated.toFixed(3).padStart(8)}`,
              );
            io.stdout(lines.join('\n') + '\n');
          }
        } finally {
          dictionary.dispose();
        }
      } finally {
        await matmul.dispose();
        await engine.dispose();
      }
    },
  };
}

export const interveneCommand = makeInterveneCommand(loadDictionaryFromSpec);
