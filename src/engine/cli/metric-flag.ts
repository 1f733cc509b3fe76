/**
 * `--metric greater-than:YY`, shared by analyze and patch: Hanna et al. 2023's probability
 * difference over the year tokens after the start year YY (e.g. greater-than:32 for "1732").
 * Absent: the default metric (logit difference with a contrast, log-probability without).
 */
import type { MetricRequest } from '../../protocol/engine.js';
import { EngineError } from '../errors.js';
import type { CliFlags } from './command.js';
import { stringFlag } from './model-arg.js';

export function metricFlag(flags: CliFlags): MetricRequest | undefined {
  const v = stringFlag(flags, 'metric');
  if (v === undefined) return undefined;
  const match = /^greater-than:(\d{1,2})$/.exec(v.trim());
  if (!match)
    throw new EngineError('BAD_ARGUMENT', `Unknown --metric "${v}".`, 'Use --metric greater-than:YY, YY the start year (e.g. greater-than:32 for "1732").');
  return { kind: 'greater-than', startYear: Number(match[1]) };
}
