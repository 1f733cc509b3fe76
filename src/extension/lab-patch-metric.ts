/**
 * The Lab's patch form sends no metric: a sweep it starts on the prompt of the analysis on show
 * measures what that analysis was asked with (`@metric greater-than 32` for the Greater-than
 * preset), not the default logit difference. Pure: no vscode import.
 */
import type { AnalysisResult } from '../protocol/analysis.js';
import type { PatchRequest } from '../protocol/engine.js';

export function withShownMetric(request: PatchRequest, shown: Pick<AnalysisResult, 'prompt' | 'metric'> | undefined): PatchRequest {
  if (request.metric || !shown || request.clean !== shown.prompt) return request;
  const { name, startYear } = shown.metric;
  if (name !== 'prob_diff_greater_than' || startYear === undefined) return request;
  return { ...request, metric: { kind: 'greater-than', startYear } };
}
