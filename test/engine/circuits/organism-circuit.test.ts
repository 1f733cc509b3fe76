/**
 * Circuit discovery on the organism, whose induction circuit is known by construction: the
 * previous-token head L0H0 writes "the previous token was X" into each position, the induction
 * head L1H0 reads it with its key (K-composition) and writes the token that followed X. EAP-IG must
 * rank those two edges (L0H0 → L1H0.k and L1H0 → logits) at the top, and the circuit of that handful
 * of edges (with the embedding's edges into L0H0 that feed it) must carry at least 90% of the clean −
 * corrupted metric when measured exactly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eapEdgeScorer } from '../../../src/engine/circuits/eap-edge-scorer.js';
import { Engine } from '../../../src/engine/engine.js';
import type { CircuitReport } from '../../../src/protocol/circuit.js';

// At the second " crane" the induction head finds the token after the first one (" music");
// in the corrupted prompt the first " crane" is replaced, so there is nothing to copy.
const CLEAN = ' apple river crane music tiger apple river crane';
const CORRUPT = ' apple river stone music tiger apple river crane';

describe('EAP-IG finds the organism’s induction circuit', () => {
  const root = mkdtempSync(join(tmpdir(), 'ct-organism-circuit-'));
  const engine = new Engine({ edgeScorer: eapEdgeScorer });
  let report: CircuitReport;

  before(async () => {
    await engine.loadModel({ kind: 'organism', dir: join(root, 'organism') }, { device: 'cpu', maxTokens: 1024, offline: true });
    report = await engine.circuit({ clean: CLEAN, corrupt: CORRUPT, target: { text: ' music' }, method: 'eap-ig', steps: 5, edges: 7, curvePoints: 8 });
  });
  after(async () => {
    await engine.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  test('the induction edges are at the top of the ranking', () => {
    const ranked = [...report.allEdges].sort((a, b) => Math.abs(b.score) - Math.abs(a.score)).map((e) => `${e.from}>${e.to}`);
    const top = ranked.slice(0, 4);
    assert.ok(top.includes('L0H0>L1H0.k'), `previous-token head → induction head's key in the top 4: ${top.join(', ')}`);
    assert.ok(top.includes('L1H0>logits'), `induction head → logits in the top 4: ${top.join(', ')}`);
    assert.ok(
      report.metric.clean.value - report.metric.corrupt.value > 1,
      `the prompts differ in the metric (${report.metric.clean.value} vs ${report.metric.corrupt.value})`,
    );
  });

  test('the top 7 edges, pruned, carry at least 90% of the metric, measured exactly', () => {
    const edges = report.edges.map((e) => `${e.from}>${e.to}`);
    assert.ok(edges.includes('L0H0>L1H0.k') && edges.includes('L1H0>logits'), edges.join(', '));
    // The two edges need the embedding's edges into the previous-token head to carry anything: the top 7 pruned to paths from the embedding.
    assert.ok(report.edges.length <= 7);
    assert.ok(report.faithfulness !== null && report.faithfulness >= 0.9, `faithfulness ${report.faithfulness} with ${report.edges.length} edges`);
    const small = report.curve!.filter((p) => p.edges <= 10);
    assert.ok(
      small.some((p) => p.faithfulness !== null && p.faithfulness >= 0.9),
      `the curve reaches 90% within 10 edges: ${report.curve!.map((p) => `${p.edges}:${p.faithfulness}`).join(' ')}`,
    );
  });
});
