/**
 * What the CodeLens above each prompt of a `.prompt` file says: "Analyze", "Patch" when the prompt
 * has a corrupted counterpart, and after a run (for the prompt as it is now, on the active model)
 * the top prediction with its probability, e.g. `→ " Mary" 44.6%`.
 * Pure: no vscode import; the provider maps `action` to command ids.
 */
import type { Prediction } from '../../protocol/analysis.js';
import type { PromptEntry } from './parser.js';
import { formatPercent, quoteToken } from '../format/token-text.js';

export type LensAction = 'analyze' | 'patch' | 'show-result' | 'show-problems';

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
