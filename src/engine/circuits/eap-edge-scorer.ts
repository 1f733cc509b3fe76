/**
 * The engine's edge scorer for circuit discovery: EAP and EAP-IG (attribution/edge-scores.ts) on
 * the model's gradient graphs, which are built once per model, when the first circuit is asked for.
 */
import { runAttribution } from '../attribution/run-attribution.js';
import type { ResolvedMetric } from '../analysis/target-metric.js';
import { EngineError } from '../errors.js';
import { GradientModel } from '../runtime/gradient-model.js';
import type { EdgeScorerFactory } from './circuit-tools.js';

/** The target and contrast of a metric that edge attribution takes (logit difference or log-probability). */
function metricTokens(metric: ResolvedMetric): { targetId: number; contrastId: number | null } {
  if (metric.name === 'logit_diff') return { targetId: metric.targetId, contrastId: metric.contrastId };
  if (metric.name === 'log_prob') return { targetId: metric.targetId, contrastId: null };
  throw new EngineError(
    'BAD_ARGUMENT',
    `Edge attribution takes the logit difference or the log-probability as its metric, not ${metric.name}.`,
    'Give a contrast token (logit difference) or none (log-probability of the target), without @metric.',
  );
}

export const eapEdgeScorer: EdgeScorerFactory = async (model, _runner, graph) => {
  const gradients = await GradientModel.create(model);
  return {
    score: async ({ clean, corrupt, metric, method, steps, signal }) => {
      const result = await runAttribution(
        gradients,
        { cleanIds: clean, corruptIds: corrupt, ...metricTokens(metric), method, kind: 'edges', ...(method === 'eap-ig' ? { steps } : {}) },
        signal ? { signal } : {},
      );
      if (result.entries.length !== graph.edges.length)
        throw new EngineError('INTERNAL', `Edge attribution gave ${result.entries.length} scores for ${graph.edges.length} edges.`);
      return Float64Array.from(result.entries as readonly { score: number }[], (e) => e.score);
    },
    attribute: (request, options) => runAttribution(gradients, request, options),
    dispose: () => gradients.dispose(),
  };
};
