/** The predictions view's data: the top-k next tokens (at the selected position when available) as bars. */
import type { AnalysisResult, Prediction } from '../../../../protocol/analysis.js';
import { BOS_TITLE, isBos, tokenQuoted } from '../../shared/token-display.js';

export interface PredictionBar {
  prediction: Prediction;
  /** Bar length relative to the most likely token, (0, 1]. */
  fraction: number;
}

/** Top-k at `position` when the result has per-position predictions, else at the traced position. */
export function predictionsAt(result: AnalysisResult, position: number | undefined): { position: number; predictions: Prediction[] } {
  const perPosition = result.predictionsPerPosition;
  if (position !== undefined && perPosition && perPosition[position]) return { position, predictions: perPosition[position]! };
  return { position: result.trace.position, predictions: result.predictions };
}

export function predictionBars(predictions: readonly Prediction[]): PredictionBar[] {
  const max = predictions.reduce((m, p) => Math.max(m, p.prob), 0);
  return predictions.map((prediction) => ({ prediction, fraction: max > 0 ? prediction.prob / max : 0 }));
}

/** Where the predictions are read, in words: `after " mat" (position 5)`, or after the prepended BOS. */
export function predictionsNote(result: AnalysisResult, position: number): string {
  const token = result.tokens[position];
  return isBos(token) ? `after ${tokenQuoted(token)} (${BOS_TITLE})` : `after ${tokenQuoted(token)} (position ${position})`;
}
