import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withShownMetric } from '../../src/extension/lab-patch-metric.js';
import type { PatchRequest } from '../../src/protocol/engine.js';

const request: PatchRequest = { clean: 'from 1732 to 17', corrupt: 'from 1701 to 17', target: { id: 3 }, kind: 'heads-last' };
const greaterThan = { prompt: 'from 1732 to 17', metric: { name: 'prob_diff_greater_than' as const, value: 0.5, startYear: 32 } };

test('a Lab sweep of the shown greater-than analysis measures its metric', () => {
  assert.deepEqual(withShownMetric(request, greaterThan).metric, { kind: 'greater-than', startYear: 32 });
});

test('other prompts, default metrics and a request that names one keep their own', () => {
  assert.equal(withShownMetric(request, undefined).metric, undefined);
  assert.equal(withShownMetric({ ...request, clean: 'another' }, greaterThan).metric, undefined);
  assert.equal(withShownMetric(request, { prompt: request.clean ?? '', metric: { name: 'log_prob', value: -1 } }).metric, undefined);
  assert.deepEqual(withShownMetric({ ...request, metric: { kind: 'greater-than', startYear: 10 } }, greaterThan).metric, {
    kind: 'greater-than',
    startYear: 10,
  });
});
