/**
 * Results saved by the version before BOS, named metrics, the DLA convention and census
 * normalisation (the fixtures follow `git show dc91217:src/protocol/analysis.ts`) read back with
 * the defaults documented in src/protocol/legacy-json.ts, and feed the views without crashing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { analysisFromJson, analysisToJson, patchSweepFromJson, patchSweepToJson } from '../../src/protocol/json.js';
import { groupHeads } from '../../src/extension/views/head-groups.js';
import { patchSubtitle } from '../../src/webviews/lab/views/patching/patch-metric.js';
import { patchView } from '../../src/webviews/lab/views/patching/patch-model.js';

/** The parts of the old shapes the tests read or change. */
interface OldAnalysis {
  heads: { valueNorm: number }[];
  lens: { layers: { targetProb: number }[] } & Record<string, unknown>;
  trace: Record<string, unknown>;
  predictions: unknown[];
  census: { entries: { previous: number; duplicate: number; induction: number; label: string }[] };
}
interface OldSweep {
  contrast: string | null;
  contrastId: number | null;
  entries: { logitDiff: number; recovery: number; prob: number }[];
}

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as T;
}
const oldAnalysis = () => fixture<OldAnalysis>('analysis-before-bos-and-metric.json');
const oldSweep = () => fixture<OldSweep>('patch-sweep-before-metric.json');

test('an old analysis: no BOS, raw DLA, valueNorm as outputNorm, metric recomputed from the final lens depth', () => {
  const old = oldAnalysis();
  const r = analysisFromJson(old);
  assert.equal(r.prependBos, false);
  assert.equal(r.trace.dla, 'raw');
  assert.equal(r.heads[0]!.outputNorm, old.heads[0]!.valueNorm);
  assert.ok(!('valueNorm' in r.heads[0]!));
  assert.equal(r.metric.name, 'log_prob');
  assert.ok(Math.abs(r.metric.value - Math.log(old.lens.layers.at(-1)!.targetProb)) < 1e-12);
  // The upgraded result round-trips as a current one.
  assert.deepEqual(analysisFromJson(JSON.parse(JSON.stringify(analysisToJson(r)))), r);
});

test("an old analysis with a logit_diff trace: the metric is the trace's own logit difference", () => {
  const old = oldAnalysis();
  old.trace = { ...old.trace, metric: 'logit_diff', contrast: ' John', contrastId: 201, actual: 2.5 };
  assert.deepEqual(analysisFromJson(old).metric, { name: 'logit_diff', value: 2.5 });
  // Nothing to recompute log p from: unknown (NaN), not a crash.
  const bare = oldAnalysis();
  bare.lens = { ...bare.lens, layers: [] };
  bare.predictions = [];
  assert.ok(Number.isNaN(analysisFromJson(bare).metric.value));
});

test('an old census keeps its raw scores, unnormalised and labelled so', () => {
  const old = oldAnalysis();
  const census = analysisFromJson(old).census!;
  assert.equal(census.unnormalised, true);
  assert.equal(census.prependBos, true);
  assert.deepEqual(census.ceiling, { previous: 1, duplicate: 1, induction: 1 });
  const e = census.entries[0]!;
  const o = old.census.entries[0]!;
  assert.deepEqual(e.raw, { previous: o.previous, duplicate: o.duplicate, induction: o.induction });
  assert.equal(e.previous, o.previous);
  assert.equal(e.label, o.label);
  const tooltip = groupHeads(analysisFromJson(old).heads, census)[0]!.heads[0]!.tooltip;
  assert.match(tooltip, /census: raw detector scores, not normalised \(saved by an earlier version\)/);
});

test('an old patch sweep without a contrast becomes log p(target), recovery recomputed on it', () => {
  const old = oldSweep();
  const p = patchSweepFromJson(old);
  assert.equal(p.metric, 'log_prob');
  assert.equal(p.prependBos, false);
  assert.equal(p.clean.value, Math.log(0.4));
  assert.equal(p.corrupt.value, Math.log(0.05));
  const e = p.entries[2]!;
  assert.equal(e.value, Math.log(0.2));
  assert.ok(Math.abs(e.recovery - (Math.log(0.2) - Math.log(0.05)) / (Math.log(0.4) - Math.log(0.05))) < 1e-12);
  assert.equal(e.logitDiff, old.entries[2]!.logitDiff);
  assert.equal(patchSubtitle(p), 'heads-last · metric: log p(" Mary") — clean −0.916, corrupted −3.00');
  assert.equal(patchView(p, {}).headGrid!.rows, 2);
  assert.deepEqual(patchSweepFromJson(JSON.parse(JSON.stringify(patchSweepToJson(p)))), p);
});

test('an old patch sweep with a contrast keeps its logit difference and recovery', () => {
  const old = oldSweep();
  old.contrast = ' John';
  old.contrastId = 201;
  const p = patchSweepFromJson(old);
  assert.equal(p.metric, 'logit_diff');
  assert.equal(p.clean.value, 4);
  assert.equal(p.entries[1]!.value, old.entries[1]!.logitDiff);
  assert.equal(p.entries[1]!.recovery, old.entries[1]!.recovery);
});

test('what cannot be read is rejected with a message, not a TypeError', () => {
  assert.throws(() => analysisFromJson({}), /Not a Circuit Trace result: the analysis|Not a Circuit Trace result: trace/);
  assert.throws(() => analysisFromJson(null), /Not a Circuit Trace result/);
  assert.throws(() => patchSweepFromJson({ kind: 'heads-last' }), /Not a Circuit Trace result: clean/);
  const zero = oldSweep();
  zero.entries[0]!.prob = 0;
  assert.throws(() => patchSweepFromJson(zero), /earlier version.*entry 0.*run the sweep again/);
});
