import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  barAxisLabel,
  describeEntry,
  entryMetricLine,
  metricName,
  patchSubtitle,
  patchSvgTitle,
  recoveryLabel,
} from '../../../src/webviews/lab/views/patching/patch-metric.js';
import { syntheticPatch, syntheticPatchWithMetric } from '../../mocks/synthetic-result.js';

const base = syntheticPatch('heads-last', 3, 4, 5);
const logProb = syntheticPatchWithMetric(base, 'log_prob');
const greaterThan = syntheticPatchWithMetric(base, 'prob_diff_greater_than');

test('the metric by name: log p(target), logit diff of target and contrast, P(> YY) − P(≤ YY)', () => {
  assert.equal(metricName(logProb), 'log p(" mat")');
  assert.equal(metricName(base), 'logit diff " Mary" − " John"');
  assert.equal(metricName(greaterThan), 'P(> 32) − P(≤ 32)');
  assert.equal(metricName({ ...greaterThan, startYear: 5 }), 'P(> 05) − P(≤ 05)');
});

test('the subtitle shows the metric and its clean and corrupted values, not the logit difference', () => {
  assert.equal(patchSubtitle(logProb), 'heads-last · metric: log p(" mat") — clean −0.250, corrupted −3.10');
  assert.equal(patchSubtitle(greaterThan), 'heads-last · metric: P(> 32) − P(≤ 32) — clean +0.620, corrupted −0.180');
  assert.equal(patchSubtitle(base), 'heads-last · metric: logit diff " Mary" − " John" — clean +3.00, corrupted −1.00');
  // logitDiff (the target logit without a contrast) must not leak into a log-prob sweep's subtitle.
  assert.doesNotMatch(patchSubtitle({ ...logProb, clean: { ...logProb.clean, logitDiff: 17 } }), /17/);
});

test("a cell or bar shows the entry's metric value; recovery is labelled as normalised recovery of that metric", () => {
  const e = logProb.entries[0]!;
  assert.equal(entryMetricLine(logProb, { ...e, value: -1.2, logitDiff: 9 }), 'log p(" mat") −1.20');
  assert.equal(entryMetricLine(base, { ...base.entries[0]!, value: 2.5, prob: 0.3 }), 'logit diff " Mary" − " John" +2.50 · P(" Mary") 30.0%');
  assert.equal(entryMetricLine(greaterThan, { ...greaterThan.entries[0]!, value: 0.41 }), 'P(> 32) − P(≤ 32) +0.410');
  assert.equal(recoveryLabel(logProb), 'normalised recovery of log p(" mat")');
  assert.equal(barAxisLabel(greaterThan), 'normalised recovery of P(> 32) − P(≤ 32) (0 = corrupted, 1 = clean)');
  assert.equal(describeEntry(logProb, 'L1H2', { ...e, recovery: 0.5, value: -1.2 }), 'L1H2: normalised recovery +0.500 of log p(" mat"); log p(" mat") −1.20');
});

test('the SVG export is titled with the metric', () => {
  assert.equal(
    patchSvgTitle(logProb, 'layer × head'),
    'Activation patching (heads-last), layer × head: normalised recovery of log p(" mat"); clean −0.250, corrupted −3.10',
  );
});
