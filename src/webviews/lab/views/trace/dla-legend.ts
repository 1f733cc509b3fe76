/**
 * The circuit trace's legend: which direct-logit-attribution convention the trace follows
 * (CircuitTrace.dla) and what each component then includes. All of the wording lives here, so
 * that it follows the engine's definitions (src/engine/analysis/circuit-trace.ts) in one place.
 */
import type { CircuitTrace, DlaMode } from '../../../../protocol/analysis.js';

export interface DlaLegendEntry {
  /** The component as the trace names it: "head", "mlp", "bias". */
  component: string;
  includes: string;
}

export interface DlaLegend {
  mode: DlaMode;
  /** One line: the mode and the weights it reads. */
  summary: string;
  entries: DlaLegendEntry[];
  /** How the unembedding is read under this mode and metric. */
  unembedding: string;
}

/** The mode of a trace; results made before the field existed are 'raw'. */
export function dlaMode(trace: Pick<CircuitTrace, 'dla'>): DlaMode {
  return trace.dla ?? 'raw';
}

const MODE_SUMMARY: Record<DlaMode, string> = {
  tl: 'tl: TransformerLens processed weights',
  raw: "raw: the checkpoint's weights as they are",
};

const ENTRIES: Record<DlaMode, DlaLegendEntry[]> = {
  tl: [
    { component: 'head', includes: 'z·W_O[h], its value bias (b_V + ln1.b·W_V)·W_O[h] folded into bias' },
    { component: 'mlp', includes: 'the W_out part (b_out is in bias)' },
    { component: 'bias', includes: 'b_O with the folded b_V·W_O, b_out, ln_final bias, b_U' },
  ],
  raw: [
    { component: 'head', includes: 'z·W_O[h], including b_V·W_O[h] weighted by attention (which sums to b_V·W_O[h])' },
    { component: 'mlp', includes: 'the W_out part (b_out is in bias)' },
    { component: 'bias', includes: 'b_O, b_out, ln_final bias, b_U' },
  ],
};

function unembedding(mode: DlaMode, metric: CircuitTrace['metric']): string {
  if (mode === 'raw') return 'unembedding W_U and b_U as they are';
  // A logit difference subtracts two rows of W_U, so the vocabulary means cancel there.
  return metric === 'logit'
    ? 'unembedding centred over the vocabulary (logit mode: the logit minus the mean logit)'
    : 'unembedding centred over the vocabulary (cancels in a logit difference)';
}

export function dlaLegend(trace: Pick<CircuitTrace, 'dla' | 'metric'>): DlaLegend {
  const mode = dlaMode(trace);
  return { mode, summary: MODE_SUMMARY[mode], entries: ENTRIES[mode], unembedding: unembedding(mode, trace.metric) };
}

/** The legend as lines of text (the SVG export and screen readers). */
export function dlaLegendLines(legend: DlaLegend): string[] {
  return [`DLA ${legend.summary}`, ...legend.entries.map((e) => `${e.component} = ${e.includes}`), legend.unembedding];
}
