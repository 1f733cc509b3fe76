/**
 * What the CodeLens above each prompt of a `.prompt` file says: "Analyze", "Patch" when the prompt
 * has a corrupted counterpart, and after a run (for the prompt as it is now, on the active model)
 * the top prediction with its probability, e.g. `→ " Mary" 44.6%`. On each `@circuit` line:
 * "Check circuit", then the verdict, e.g. `✓ 84% (≥ 80%)` or `✗ 61% (≥ 80%)`.
 * Pure: no vscode import; the provider maps `action` to command ids.
 */
import type { Prediction } from '../../protocol/analysis.js';
import type { CircuitCheckResult } from '../../protocol/circuit-check.js';
import { circuitNodeName } from '../../engine/prompt-file/circuit-directive.js';
import type { CircuitHypothesis, PromptEntry } from './parser.js';
import { formatPercent, quoteToken } from '../format/token-text.js';

export type LensAction = 'analyze' | 'patch' | 'show-result' | 'show-problems' | 'check-circuit';

export interface LensSpec {
  title: string;
  tooltip: string;
  action: LensAction;
}

/** What is known about a prompt's current text on the active model. */
export interface PromptRunState {
  /** The finished analysis's top prediction, if there is one for this exact prompt and model. */
  top?: Prediction;
  /** An analysis of this exact prompt is running. */
  running?: boolean;
  modelName?: string;
}

export const ANALYZE_TITLE = 'Analyze';
export const PATCH_TITLE = 'Patch';
export const CHECK_CIRCUIT_TITLE = 'Check circuit';

/** `→ " Mary" 44.6%` */
export function predictionLensTitle(top: Prediction): string {
  return `→ ${quoteToken(top.token)} ${formatPercent(top.prob)}`;
}

export function promptLenses(prompt: PromptEntry, state: PromptRunState): LensSpec[] {
  if (prompt.errorCount > 0) {
    const n = prompt.errorCount;
    return [{ title: `$(warning) ${n} problem${n === 1 ? '' : 's'}`, tooltip: 'Fix the problems of this prompt to analyze it.', action: 'show-problems' }];
  }
  const on = state.modelName ? ` on ${state.modelName}` : '';
  const lenses: LensSpec[] = [{ title: ANALYZE_TITLE, tooltip: `Analyze prompt "${prompt.name}"${on}`, action: 'analyze' }];
  if (prompt.corrupt) {
    lenses.push({ title: PATCH_TITLE, tooltip: `Sweep activation patching over every head: corrupted → clean for "${prompt.name}"${on}`, action: 'patch' });
  }
  if (state.running) {
    lenses.push({ title: '$(sync~spin) analyzing…', tooltip: 'Analysis in progress', action: 'show-result' });
  } else if (state.top) {
    lenses.push({
      title: predictionLensTitle(state.top),
      tooltip: `Top prediction${on}: ${quoteToken(state.top.token)} (id ${state.top.tokenId}) with probability ${formatPercent(state.top.prob)}. Click to open the analysis in the Lab.`,
      action: 'show-result',
    });
  }
  return lenses;
}

/** What is known about one `@circuit` hypothesis (as it is now) on the active model. */
export interface CircuitRunState {
  result?: CircuitCheckResult;
  running?: boolean;
  /** Why the last check of this hypothesis failed to run. */
  error?: string;
  modelName?: string;
}

/** A share in whole percent, with one decimal where rounding would contradict the verdict (79.6% against 80%). */
function percentOf(fraction: number, threshold: number): string {
  if (!Number.isFinite(fraction)) return 'undefined';
  const whole = Math.round(fraction * 100);
  return whole >= threshold * 100 === fraction >= threshold ? `${whole}%` : `${(fraction * 100).toFixed(1)}%`;
}

function thresholdText(threshold: number): string {
  return `${Number((threshold * 100).toFixed(4))}%`;
}

/** `✓ 84% (≥ 80%)` / `✗ 61% (≥ 80%)` */
export function circuitLensTitle(result: Pick<CircuitCheckResult, 'faithfulness' | 'threshold' | 'passed'>): string {
  return `${result.passed ? '✓' : '✗'} ${percentOf(result.faithfulness, result.threshold)} (≥ ${thresholdText(result.threshold)})`;
}

/** The lens on a `@circuit` line; none while the prompt has problems (its header's lens says so). */
export function circuitLens(prompt: PromptEntry, hypothesis: CircuitHypothesis, state: CircuitRunState): LensSpec | null {
  if (prompt.errorCount > 0) return null;
  const on = state.modelName ? ` on ${state.modelName}` : '';
  const nodes = hypothesis.nodes.map(circuitNodeName).join(' ');
  const claim = `the circuit of ${nodes} carries at least ${thresholdText(hypothesis.threshold)} of the clean − corrupted metric`;
  if (state.running) return { title: '$(sync~spin) checking circuit…', tooltip: `Checking that ${claim}${on}`, action: 'check-circuit' };
  const { result } = state;
  if (result) {
    const share = Number.isFinite(result.faithfulness)
      ? `carries ${(result.faithfulness * 100).toFixed(1)}%`
      : 'has no share to measure: the clean and corrupted prompts give the same metric';
    return {
      title: circuitLensTitle(result),
      tooltip:
        `The circuit of ${nodes} (${result.edges} of ${result.totalEdges} edges) ${share} of the clean − corrupted metric${on} ` +
        `(${result.metric}: clean ${result.clean.toFixed(3)}, corrupted ${result.corrupt.toFixed(3)}, circuit ${result.circuit.toFixed(3)}); ` +
        `the hypothesis needs ≥ ${thresholdText(result.threshold)}. Click to check again.`,
      action: 'check-circuit',
    };
  }
  if (state.error) return { title: '$(error) circuit check failed', tooltip: `${state.error} Click to check again.`, action: 'check-circuit' };
  return { title: CHECK_CIRCUIT_TITLE, tooltip: `Check by exact edge-level patching that ${claim}${on}`, action: 'check-circuit' };
}
