import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupHeads } from '../../../src/extension/views/head-groups.js';
import { syntheticResult } from '../../mocks/synthetic-result.js';

function tooltipOf(name: string, r = syntheticResult({ nLayers: 2, nHeads: 2, nTokens: 8 })): string {
  const item = groupHeads(r.heads, r.census)
    .flatMap((g) => g.heads)
    .find((h) => h.name === name);
  assert.ok(item, name);
  return item.tooltip;
}

test('Heads tooltip: output norm, and census scores normalised with the raw value beside them', () => {
  const r = syntheticResult({ nLayers: 2, nHeads: 2, nTokens: 8 });
  const e = r.census!.entries.find((x) => x.layer === 1 && x.head === 0)!;
  const tooltip = tooltipOf('L1H0', r);
  assert.match(tooltip, /output norm \d/);
  assert.doesNotMatch(tooltip, /value norm/);
  const f = (v: number) => v.toFixed(2).replace('.', '\\.');
  assert.match(
    tooltip,
    new RegExp(
      `census, normalised to the class's ceiling \\(raw\\): previous-token ${f(e.previous)} \\(raw ${f(e.raw.previous)}\\) · duplicate-token ${f(e.duplicate)} \\(raw ${f(e.raw.duplicate)}\\) · induction ${f(e.induction)} \\(raw ${f(e.raw.induction)}\\) — ${e.label}`,
    ),
  );
  assert.match(tooltip, /this prompt: previous-token/);
});

test('Heads tooltip: no census line without a census', () => {
  const r = syntheticResult({ nLayers: 2, nHeads: 2, nTokens: 8 });
  assert.doesNotMatch(tooltipOf('L1H0', { ...r, census: null }), /census/);
});

test('Heads tooltip: an unnormalised (old) census says its scores are raw', () => {
  const r = syntheticResult({ nLayers: 2, nHeads: 2, nTokens: 8 });
  const census = { ...r.census!, unnormalised: true as const, entries: r.census!.entries.map((e) => ({ ...e, ...e.raw })) };
  const tooltip = tooltipOf('L1H0', { ...r, census });
  assert.match(tooltip, /census: raw detector scores, not normalised \(saved by an earlier version\): previous-token \d\.\d\d · /);
  assert.doesNotMatch(tooltip, /\(raw /);
});
