import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dlaLegend, dlaLegendLines, dlaMode } from '../../../src/webviews/lab/views/trace/dla-legend.js';
import { syntheticResult } from '../../mocks/synthetic-result.js';

const components = (legend: ReturnType<typeof dlaLegend>) => Object.fromEntries(legend.entries.map((e) => [e.component, e.includes]));

test('DLA legend: a trace without a mode is raw', () => {
  const trace = syntheticResult().trace;
  delete trace.dla;
  assert.equal(dlaMode(trace), 'raw');
  assert.equal(dlaLegend(trace).mode, 'raw');
});

test('DLA legend, tl: value biases folded into bias, unembedding centred in logit mode', () => {
  const trace = { ...syntheticResult().trace, dla: 'tl' as const };
  const legend = dlaLegend(trace);
  assert.equal(legend.mode, 'tl');
  assert.match(legend.summary, /TransformerLens processed weights/);
  const c = components(legend);
  assert.deepEqual(Object.keys(c), ['head', 'mlp', 'bias']);
  assert.match(c.head!, /^z·W_O\[h\].*folded into bias/);
  assert.match(c.mlp!, /W_out part \(b_out is in bias\)/);
  assert.equal(c.bias, 'b_O with the folded b_V·W_O, b_out, ln_final bias, b_U');
  assert.match(legend.unembedding, /centred over the vocabulary \(logit mode/);
  assert.match(dlaLegend({ ...trace, metric: 'logit_diff' }).unembedding, /cancels in a logit difference/);
});

test('DLA legend, raw: the head keeps its value bias; bias is the plain bias terms', () => {
  const trace = { ...syntheticResult().trace, dla: 'raw' as const };
  const legend = dlaLegend(trace);
  const c = components(legend);
  assert.match(c.head!, /^z·W_O\[h\], including b_V·W_O\[h\] weighted by attention/);
  assert.equal(c.bias, 'b_O, b_out, ln_final bias, b_U');
  assert.doesNotMatch(legend.unembedding, /centred/);
  const lines = dlaLegendLines(legend);
  assert.equal(lines[0], `DLA ${legend.summary}`);
  assert.equal(lines.length, 2 + legend.entries.length);
  assert.ok(lines.includes('bias = b_O, b_out, ln_final bias, b_U'));
});
