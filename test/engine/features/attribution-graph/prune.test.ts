/**
 * Pruning and the graph scores against a case computed by hand from circuit-tracer's definitions
 * (graph.py's normalize_matrix, compute_influence, find_threshold, prune_graph, compute_graph_scores).
 *
 * Nodes f0, f1 (features), e0 (error), t0 (token), L0 (logit, p = 0.8); edges (target ← source):
 * L0 ← f0: 3, L0 ← f1: −1, f0 ← t0: 2, f0 ← e0: −2, f1 ← t0: 1.
 *   row-normalised |A|: L0: f0 0.75, f1 0.25; f0: t0 0.5, e0 0.5; f1: t0 1
 *   influence = 0.8·L0 row → f0 0.6, f1 0.2; then → t0 0.3 + 0.2 = 0.5, e0 0.3: [0.6, 0.2, 0.3, 0.5, 0]
 *   replacement = 0.5 / (0.5 + 0.3) = 0.625
 *   completeness = (0.5·0.6 + 0.2 + 0.3 + 0.5 + 0.8) / (0.6 + 0.2 + 0.3 + 0.5 + 0.8) = 2.1 / 2.4 = 0.875
 *   node threshold 0.8: sorted 0.6, 0.5, 0.3, 0.2 of 1.6 → cumulative 0.375, 0.6875, 0.875 → cut 0.3: f1 dropped
 *   pruned: L0 ← f0 (1.0), f0 ← t0, e0 (0.5 each); influence + logit weight: L0 0.8, f0 0.8, t0 0.4, e0 0.4
 *   edge scores: L0←f0 0.8, f0←t0 0.4, f0←e0 0.4 (of 1.6): threshold 0.98 → 0.4 (all kept); 0.5 → 0.8 (only L0←f0,
 *   then f0 has no incoming edge and e0 no outgoing one: both dropped, and L0←f0 with f0)
 *   cumulative scores: f0 0.375, t0 0.6875, e0 0.875, f1 1, L0 1
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { InfluenceSessions } from '../../../../src/engine/features/attribution-graph/influence.js';
import { findThreshold, pruneGraph } from '../../../../src/engine/features/attribution-graph/prune.js';

const N = 5;
const [F0, F1, E0, T0, L0] = [0, 1, 2, 3, 4];
const layout = { features: 2, errors: 1, tokens: 1, logits: 1 };
function adjacency(): Float32Array {
  const a = new Float32Array(N * N);
  const set = (target: number, source: number, v: number): void => void (a[target * N + source] = v);
  set(L0, F0, 3);
  set(L0, F1, -1);
  set(F0, T0, 2);
  set(F0, E0, -2);
  set(F1, T0, 1);
  return a;
}

let sessions: InfluenceSessions;
before(async () => {
  sessions = await InfluenceSessions.create(1);
});
after(async () => {
  await sessions?.dispose();
});

const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-6;

test('node influence, replacement and completeness scores, cumulative scores', async () => {
  const r = await pruneGraph(adjacency(), layout, [0.8], sessions, 0.8, 0.98);
  [0.6, 0.2, 0.3, 0.5, 0].forEach((v, i) => assert.ok(close(r.influence[i]!, v), `influence[${i}] = ${r.influence[i]}, expected ${v}`));
  assert.ok(close(r.replacementScore, 0.625), String(r.replacementScore));
  assert.ok(close(r.completenessScore, 0.875), String(r.completenessScore));
  [0.375, 1, 0.875, 0.6875, 1].forEach((v, i) => assert.ok(close(r.cumulativeScores[i]!, v), `cumulative[${i}] = ${r.cumulativeScores[i]}, expected ${v}`));
});

test('node threshold 0.8 and edge threshold 0.98: f1 pruned, the three edges among the rest kept', async () => {
  const r = await pruneGraph(adjacency(), layout, [0.8], sessions, 0.8, 0.98);
  assert.deepEqual([...r.nodeMask], [1, 0, 1, 1, 1]);
  const kept = [...r.edgeMask].flatMap((m, i) => (m ? [`${Math.floor(i / N)}<${i % N}`] : []));
  assert.deepEqual(kept, [`${F0}<${E0}`, `${F0}<${T0}`, `${L0}<${F0}`]);
});

test('edge threshold 0.5 keeps only L0 ← f0, and then f0 (no incoming edge) and e0 (no outgoing edge) go', async () => {
  const r = await pruneGraph(adjacency(), layout, [0.8], sessions, 0.8, 0.5);
  assert.deepEqual([...r.nodeMask], [0, 0, 0, 1, 1]);
  assert.ok(r.edgeMask.every((m) => m === 0));
});

test('find_threshold: the score where the cumulative share first reaches the threshold, zeros last', () => {
  assert.equal(findThreshold([0.1, 0.4, 0, 0.3, 0.2], 0.7), 0.3);
  assert.equal(findThreshold([0.1, 0.4, 0, 0.3, 0.2], 0.4), 0.4);
  assert.equal(findThreshold([0.1, 0.4, 0, 0.3, 0.2], 0.95), 0.1);
  assert.equal(findThreshold([0.5, 0.5], 1.01), 0.5, 'never reached: the last score');
  assert.equal(findThreshold([0.5, 0, 0.5], 1.01), 0, 'never reached, zeros last: 0');
  assert.equal(findThreshold([0, 0], 0.5), 0);
});

test('thresholds outside [0, 1] are refused', async () => {
  await assert.rejects(pruneGraph(adjacency(), layout, [0.8], sessions, 1.5, 0.98), { code: 'BAD_ARGUMENT' });
  await assert.rejects(pruneGraph(adjacency(), layout, [0.8], sessions, 0.8, -0.1), { code: 'BAD_ARGUMENT' });
});
