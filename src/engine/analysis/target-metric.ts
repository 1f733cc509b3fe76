/**
 * The scalar an analysis reports and a patch sweep restores, read from the final logits at one
 * position (see MetricName in the protocol):
 *  - 'logit_diff': logit(target) − logit(contrast), when there is a contrast (the IOI convention);
 *  - 'log_prob': log_softmax(logits)[target], when there is none (a raw logit moves with every
 *    logit's shared offset, which the softmax ignores);
 *  - 'prob_diff_greater_than': Hanna et al. 2023's probability difference
 *    PD = Σ_{y > YY} p(y) − Σ_{y ≤ YY} p(y) over the two-digit year tokens "00".."99" (GPT-2
 *    tokens without a leading space, as after the "17" of "17YY"), YY the start year.
 */
import type { MetricValue } from '../../protocol/analysis.js';
import type { MetricRequest } from '../../protocol/engine.js';
import { EngineError } from '../errors.js';
import type { PromptTokenizer } from '../tokenizer/types.js';

export type ResolvedMetric =
  | { name: 'logit_diff'; targetId: number; contrastId: number }
  | { name: 'log_prob'; targetId: number }
  /** yearIds[y] is the token of the two-digit year y ("00" .. "99"). */
  | { name: 'prob_diff_greater_than'; startYear: number; yearIds: readonly number[] };

/** The token ids of "00" .. "99"; each must be exactly one token of the model's vocabulary. */
export function yearTokenIds(tokenizer: PromptTokenizer, dVocab: number): number[] {
  const ids: number[] = [];
  for (let y = 0; y < 100; y++) {
    const text = String(y).padStart(2, '0');
    const encoded = tokenizer.encode(text);
    const id = encoded.ids[0];
    if (encoded.ids.length !== 1 || id === undefined || id >= dVocab) {
      throw new EngineError(
        'NOT_SINGLE_TOKEN',
        `The greater-than metric needs the year "${text}" as one token of the model's vocabulary; it is ${encoded.ids.length} tokens (${encoded.ids.join(', ')}).`,
        'Use the greater-than metric with a GPT-2 tokenizer, whose "00" .. "99" are single tokens.',
      );
    }
    ids.push(id);
  }
  return ids;
}

/** The metric a request names (checked before any forward, so bad input fails fast). */
export function resolveNamedMetric(tokenizer: PromptTokenizer, dVocab: number, request: MetricRequest): ResolvedMetric {
  if (request.kind !== 'greater-than')
    throw new EngineError('BAD_ARGUMENT', `Unknown metric "${String((request as { kind: unknown }).kind)}".`, 'The only named metric is "greater-than".');
  const { startYear } = request;
  if (!Number.isInteger(startYear) || startYear < 0 || startYear > 99) {
    throw new EngineError('BAD_ARGUMENT', `The greater-than start year must be a two-digit year 0..99 (the "32" of "1732"), got ${String(startYear)}.`);
  }
  return { name: 'prob_diff_greater_than', startYear, yearIds: yearTokenIds(tokenizer, dVocab) };
}

/** The metric without a named one: the logit difference with a contrast, else the log-probability of the target. */
export function defaultMetric(targetId: number, contrastId: number | null): ResolvedMetric {
  return contrastId === null ? { name: 'log_prob', targetId } : { name: 'logit_diff', targetId, contrastId };
}

/** The tokens whose logits and probabilities the metric reads, in the order metricOfScores takes them. */
export function metricTokens(metric: ResolvedMetric): number[] {
  switch (metric.name) {
    case 'logit_diff':
      return [metric.targetId, metric.contrastId];
    case 'log_prob':
      return [metric.targetId];
    case 'prob_diff_greater_than':
      return [...metric.yearIds];
  }
}

/** The metric from the logits and probabilities of metricTokens(metric) (e.g. a forward's token scores). */
export function metricOfScores(metric: ResolvedMetric, logits: ArrayLike<number>, probs: ArrayLike<number>): number {
  switch (metric.name) {
    case 'logit_diff':
      return logits[0]! - logits[1]!;
    // The softmax is over the whole vocabulary; its log is the log_softmax (−Infinity only if p underflows).
    case 'log_prob':
      return Math.log(probs[0]!);
    case 'prob_diff_greater_than': {
      let pd = 0;
      for (let y = 0; y < 100; y++) pd += y > metric.startYear ? probs[y]! : -probs[y]!;
      return pd;
    }
  }
}

/** The metric of one full row of logits ([vocab]), with a float64 softmax (max subtracted). */
export function metricOfLogits(metric: ResolvedMetric, logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const logSumExp = max + Math.log(sum);
  const ids = metricTokens(metric);
  const scored = ids.map((id) => {
    const logit = logits[id];
    if (logit === undefined) throw new RangeError(`token id ${id} is outside logits of ${logits.length}`);
    return logit;
  });
  if (metric.name === 'log_prob') return scored[0]! - logSumExp;
  return metricOfScores(
    metric,
    scored,
    scored.map((l) => Math.exp(l - logSumExp)),
  );
}

/** The serialisable form of a metric's value. */
export function metricValue(metric: ResolvedMetric, value: number): MetricValue {
  return { name: metric.name, value, ...(metric.name === 'prob_diff_greater_than' ? { startYear: metric.startYear } : {}) };
}
