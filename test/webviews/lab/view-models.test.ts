import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FALLBACK_PALETTE, mix } from '../../../src/webviews/lab/shared/colour.js';
import { concentration, edgeCurve, headColours, headPosition, litLayers, topPathIndices } from '../../../src/webviews/lab/views/grid3d/grid-model.js';
import {
  averageOverHeads,
  censusPatternFor,
  detectionPattern,
  detectionScore,
  headPattern,
  layerBlock,
} from '../../../src/webviews/lab/views/heatmap/attention-model.js';
import { metricDescription, sourceSplit, traceGrid } from '../../../src/webviews/lab/views/trace/trace-model.js';
import { lensTable, settlingDepth, targetSeries } from '../../../src/webviews/lab/views/lens/lens-model.js';
import { arcPath, arcWidth, flowArcs, focusSummary, tokenXs, touches } from '../../../src/webviews/lab/views/flow/flow-model.js';
import { predictionBars, predictionsAt } from '../../../src/webviews/lab/views/predictions/predictions-model.js';
import { formatProb, formatSigned, tokenLabel, truncateLabel } from '../../../src/webviews/lab/shared/format.js';
import { syntheticResult } from '../../mocks/synthetic-result.js';

const palette = {
  ...FALLBACK_PALETTE,
  background: [0, 0, 0] as const,
  neutral: [100, 100, 100] as const,
  positive: [0, 0, 255] as const,
  negative: [255, 128, 0] as const,
};

test('grid: heads along x, layers up along y, centred', () => {
  assert.deepEqual(headPosition(0, 0, 3, 4), [-1.5, -1, 0]);
  assert.deepEqual(headPosition(2, 3, 3, 4), [1.5, 1, 0]);
});

test('grid colours: hue from the sign of the contribution, brightness from the output norm', () => {
  const r = syntheticResult({ nLayers: 1, nHeads: 3, nTokens: 4 });
  r.trace.heads.set([2, -2, 0]);
  r.heads[0]!.outputNorm = 4;
  r.heads[1]!.outputNorm = 4;
  r.heads[2]!.outputNorm = 0;
  const c = headColours({ result: r, trace: r.trace }, palette);
  assert.deepEqual(c[0], [0, 0, 255], 'full positive, full brightness');
  assert.deepEqual(c[1], [255, 128, 0], 'full negative, full brightness');
  assert.deepEqual(c[2], mix([0, 0, 0], [100, 100, 100], 0.18), 'zero contribution: neutral at the brightness floor');
  r.heads[0]!.outputNorm = 2;
  const dimmer = headColours({ result: r, trace: r.trace }, palette)[0]!;
  assert.ok(dimmer[2] < 255 && dimmer[2] > 0, 'half the norm is dimmer');
});

test('grid while streaming: unlit layers stay faint; lit ones follow attention concentration', () => {
  const n = 3;
  const pattern = new Float32Array(2 * n * n);
  // head 0 attends fully to one key per query; head 1 spreads evenly.
  for (let q = 0; q < n; q++) {
    pattern[q * n] = 1;
    for (let k = 0; k <= q; k++) pattern[n * n + q * n + k] = 1 / (q + 1);
  }
  assert.equal(concentration(pattern, 0, n), 1);
  assert.ok(Math.abs(concentration(pattern, 1, n) - (1 + 1 / 2 + 1 / 3) / 3) < 1e-6);
  const colours = headColours({ streamed: [null, pattern], nHeads: 2, nTokens: n }, palette);
  assert.equal(colours.length, 4);
  assert.deepEqual(colours[0], colours[1]);
  assert.deepEqual(colours[2], [100, 100, 100]);
  assert.ok(colours[3]![0] < 100 && colours[3]![0] > colours[0]![0]);
  assert.deepEqual(litLayers(3, [null, pattern, null]), [false, true, false]);
  assert.deepEqual(litLayers(2, null), [true, true]);
});

test('grid edges: curves start and end at the heads and bow out of the plane', () => {
  const points = edgeCurve({ from: { layer: 0, head: 1 }, to: { layer: 2, head: 1 }, weight: 1 }, 3, 2, 8);
  assert.equal(points.length, 9);
  assert.deepEqual(points[0], headPosition(0, 1, 3, 2));
  assert.deepEqual(points[8], headPosition(2, 1, 3, 2));
  assert.ok(points[4]![2] > 0);
  const r = syntheticResult({ nLayers: 3, nHeads: 4 });
  const idx = topPathIndices(r.trace, 4);
  assert.equal(idx.size, 3);
  for (const layer of r.trace.topPath) assert.ok(idx.has(layer[0]!.layer * 4 + layer[0]!.head));
});

test('attention: head view, layer average, detection patterns and scores', () => {
  const r = syntheticResult({ nLayers: 2, nHeads: 3, nTokens: 5 });
  const n = 5;
  const p = headPattern(r.attention, 3, n, 1, 2);
  assert.equal(p.length, 25);
  assert.equal(p[4 * n + 2], r.attention[(1 * 3 + 2) * 25 + 4 * n + 2]);
  const avg = averageOverHeads(layerBlock(r.attention, 3, n, 1), 3, n);
  const expected = (r.attention[(3 + 0) * 25 + 7]! + r.attention[(3 + 1) * 25 + 7]! + r.attention[(3 + 2) * 25 + 7]!) / 3;
  assert.ok(Math.abs(avg[7]! - expected) < 1e-6);
  // Tokens a b a b: previous, duplicate and induction probes as TransformerLens builds them.
  const ids = [1, 2, 1, 2];
  assert.deepEqual([...detectionPattern('previous', ids)], [0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual([...detectionPattern('duplicate', ids)], [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0]);
  assert.deepEqual([...detectionPattern('induction', ids)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
  const prevHead = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
  assert.equal(detectionScore(prevHead, detectionPattern('previous', ids)), 0.75);
  assert.equal(detectionScore(new Float32Array(16), detectionPattern('previous', ids)), 0);
});

test('census pattern: the census label when it names a class, else the best match on this prompt', () => {
  const r = syntheticResult({ nLayers: 1, nHeads: 5, nTokens: 12 });
  const fromCensus = censusPatternFor(r, 0, 0)!;
  assert.equal(fromCensus.kind, 'previous');
  assert.equal(fromCensus.source, 'census');
  const diffuse = censusPatternFor(r, 0, 2)!;
  assert.ok(
    fromCensus.score > 0.5 && fromCensus.score > 2 * detectionScore(headPattern(r.attention, 5, 12, 0, 2), fromCensus.pattern),
    'planted previous-token head',
  );
  assert.equal(diffuse.source, 'best match', 'a diffuse census label names no class');
  // Head 1 is a planted induction head; take away its census entry and it is found by best match.
  r.census!.entries = r.census!.entries.filter((e) => e.head !== 1);
  const best = censusPatternFor(r, 0, 1)!;
  assert.equal(best.source, 'best match');
  assert.equal(best.kind, 'induction');
  const one = syntheticResult({ nLayers: 1, nHeads: 2, nTokens: 1 });
  one.census = null;
  assert.equal(censusPatternFor(one, 0, 0), null);
});

test('trace grid: heads then MLP per layer, the strip, one symmetric extent, path and source split', () => {
  const r = syntheticResult({ nLayers: 2, nHeads: 3, nTokens: 6 });
  const g = traceGrid(r.trace, 2, 3);
  assert.equal(g.cols, 4);
  assert.equal(g.values[1 * 4 + 2], r.trace.heads[1 * 3 + 2]);
  assert.equal(g.values[1 * 4 + 3], r.trace.mlp[1]);
  assert.deepEqual(
    g.extras.map((e) => e.name),
    ['embed', 'pos', 'bias'],
  );
  const all = [...r.trace.heads, ...r.trace.mlp, r.trace.embed, r.trace.posEmbed ?? 0, r.trace.bias].map(Math.abs);
  assert.ok(Math.abs(g.maxAbs - Math.max(...all)) < 1e-6);
  const split = sourceSplit(r.trace, 3, 6, 1, 2);
  assert.equal(split.length, 6);
  const sum = split.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - r.trace.heads[5]!) < 1e-5, 'the split sums to the head');
  assert.equal(metricDescription(r.trace), 'logit " mat"');
  assert.equal(metricDescription(syntheticResult({ contrast: true }).trace), 'logit " mat" − " floor"');
  assert.equal(metricDescription({ ...r.trace, logitSoftcap: 30 }), 'pre-softcap logit " mat"', 'a soft-capped model attributes the logit before the cap');
});

test('lens: last-position column without perPosition, every position with it; target series', () => {
  const r = syntheticResult({ nLayers: 3, nHeads: 2, nTokens: 4 });
  const t = lensTable(r.lens, r.tokens);
  assert.deepEqual(t.positions, [3]);
  assert.equal(t.rows.length, 4);
  assert.equal(t.cells[3]![0], r.lens.layers[3]!.top[0]);
  const pp = syntheticResult({ nLayers: 3, nHeads: 2, nTokens: 4, perPosition: true });
  const t2 = lensTable(pp.lens, pp.tokens);
  assert.deepEqual(t2.positions, [0, 1, 2, 3]);
  assert.equal(t2.cells[3]![3]!.token, ' mat');
  const s = targetSeries(r.lens);
  assert.deepEqual(s.depth, [0, 1, 2, 3]);
  assert.deepEqual(
    s.rank,
    r.lens.layers.map((l) => l.targetRank + 1),
  );
  assert.equal(
    settlingDepth(r.lens),
    r.lens.layers.findIndex((l) => l.targetRank === 0),
  );
  r.lens.layers[3]!.targetRank = 2;
  assert.equal(settlingDepth(r.lens), null);
});

test('flow arcs: thresholded, capped, normalised to the strongest, weakest first', () => {
  const n = 3;
  // total [query, key] over 2 heads: query 2 → key 1 strongest.
  const total = new Float32Array([2, 0, 0, 1.9, 0.1, 0, 0.2, 1.4, 0.4]);
  const arcs = flowArcs(total, n, 2, { threshold: 0.05, maxArcs: 10, skipFirstKey: false });
  assert.deepEqual(
    arcs.map((a) => [a.key, a.query]),
    [
      [0, 1],
      [0, 2],
      [1, 2],
    ]
      .filter(([k, q]) => total[q! * n + k!]! / 2 >= 0.05)
      .sort((x, y) => total[x[1]! * n + x[0]!]! - total[y[1]! * n + y[0]!]!),
  );
  assert.equal(arcs.at(-1)!.weight, 1);
  assert.ok(Math.abs(arcs.at(-1)!.value - 0.95) < 1e-6, 'query 1 → key 0: 1.9 over 2 heads');
  assert.ok(
    arcs.every((a) => a.key < a.query),
    'no self-attention arcs',
  );
  const skipped = flowArcs(total, n, 2, { threshold: 0, maxArcs: 10, skipFirstKey: true });
  assert.deepEqual(
    skipped.map((a) => [a.key, a.query]),
    [[1, 2]],
  );
  assert.equal(flowArcs(total, n, 2, { threshold: 0, maxArcs: 1, skipFirstKey: false }).length, 1);
  assert.ok(touches(arcs[0]!, 0) && !touches({ key: 1, query: 2, value: 1, weight: 1 }, 0));
  const tokens = ['a', 'b', 'c'].map((text, i) => ({ id: i, text, start: i, end: i + 1 }));
  assert.equal(focusSummary(arcs, 1, tokens), 'token 1 "b" · attends most to 0 "a" (0.950) · most attended by 2 "c" (0.700)');
  assert.equal(focusSummary([], 1, tokens.slice(0, 2)), 'token 1 "b"');
});

test('flow geometry: tokens spread evenly; the widest arc reaches the maximum height', () => {
  assert.deepEqual(tokenXs(3, 10, 30), [10, 20, 30]);
  assert.deepEqual(tokenXs(1, 10, 30), [20]);
  assert.equal(arcPath(10, 30, 100, 50, 20), 'M 10.0 100.0 A 10.0 50.0 0 0 1 30.0 100.0');
  assert.equal(arcPath(10, 20, 100, 50, 20), 'M 10.0 100.0 A 5.0 25.0 0 0 1 20.0 100.0');
  assert.equal(arcWidth(0), 0.5);
  assert.equal(arcWidth(1, 6), 6);
});

test('predictions: per position when available; bars relative to the top token', () => {
  const r = syntheticResult({ perPosition: true, nTokens: 5 });
  assert.equal(predictionsAt(r, 2).position, 2);
  assert.equal(predictionsAt(r, 2).predictions, r.predictionsPerPosition![2]);
  assert.equal(predictionsAt(r, undefined).predictions, r.predictions);
  const plain = syntheticResult({ nTokens: 5 });
  assert.equal(predictionsAt(plain, 2).position, 4, 'falls back to the traced position');
  const bars = predictionBars(r.predictions);
  assert.equal(bars[0]!.fraction, 1);
  assert.ok(Math.abs(bars[1]!.fraction - 0.2 / 0.446) < 1e-9);
  assert.deepEqual(predictionBars([]), []);
});

test('formatting', () => {
  assert.equal(formatProb(0.446), '44.6%');
  assert.equal(formatProb(0.0012), '0.12%');
  assert.equal(formatProb(0.00000001), '<0.01%');
  assert.equal(formatSigned(-0.04567), '−0.0457');
  assert.equal(formatSigned(1.234), '+1.23');
  assert.equal(formatSigned(2.57e-7), '0', 'float noise is not shown in exponent notation');
  assert.equal(formatSigned(0), '0');
  assert.equal(tokenLabel(' mat'), ' mat');
  assert.equal(tokenLabel('\n'), '\\n');
  assert.equal(tokenLabel('  '), '␣␣');
  assert.equal(truncateLabel('abcdefghij', 5), 'ab…ij');
  assert.equal(truncateLabel('abc', 5), 'abc');
});
