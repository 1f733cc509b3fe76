/**
 * The attribution view's picture export: every part (a heatmap's own SVG document) under its
 * title, stacked without overlap at its own size, and the scatter as SVG (a point per head at its
 * exact effect and score, the y = x line, Pearson's r in the caption).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FALLBACK_PALETTE } from '../../../src/webviews/lab/shared/colour.js';
import { svgDocument } from '../../../src/webviews/lab/shared/svg.js';
import { scatterSvg, stackedSvg, svgSize } from '../../../src/webviews/lab/views/attribution/attribution-image.js';
import type { ScatterPoint } from '../../../src/protocol/attribution-scatter.js';

const palette = FALLBACK_PALETTE;
const part = (w: number, h: number, mark: string) =>
  svgDocument(w, h, palette.background, `<rect x="1" y="1" width="2" height="2" fill="#123456"><title>${mark}</title></rect>`, 'sans-serif');

test('the parts stacked under their titles, each a nested SVG at its own size, below the previous one', () => {
  const { svg, width, height } = stackedSvg(
    'AtP of logit " mat" − " rug"',
    [
      { title: 'Path patching', svg: part(300, 120, 'first') },
      { title: 'AtP per head', svg: part(200, 80, 'second') },
    ],
    palette,
  );
  assert.deepEqual(svgSize(svg), { width: Math.ceil(width), height: Math.ceil(height) });
  assert.ok(width >= 300 && height >= 120 + 80);
  const nested = [...svg.matchAll(/<svg x="([\d.]+)" y="([\d.]+)" xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="(\d+)" height="(\d+)"/g)].map((m) =>
    m.slice(1).map(Number),
  );
  assert.equal(nested.length, 2);
  const [[, y1, w1, h1], [, y2, w2]] = nested as [number[], number[]];
  assert.deepEqual([w1, h1, w2], [300, 120, 200]);
  assert.ok(y2! >= y1! + h1!, 'the second part starts below the first');
  assert.ok(svg.indexOf('>first<') < svg.indexOf('>second<'));
  assert.ok(svg.includes('>Path patching<') && svg.includes('>AtP per head<'));
  assert.ok(svg.includes('AtP of logit &quot; mat&quot; − &quot; rug&quot;'));
  assert.throws(() => stackedSvg('x', [], palette), /nothing drawn/);
});

test('the scatter: one point per head where exact and score put it, the y = x line, r in the caption', () => {
  const points: ScatterPoint[] = [
    { layer: 0, head: 0, name: 'L0H0', exact: -1, score: -1 },
    { layer: 1, head: 0, name: 'L1H0', exact: 2, score: 2 },
    { layer: 0, head: 1, name: 'L0H1', exact: 0.5, score: 1 },
  ];
  const svg = scatterSvg(points, 0.94, 'atp', palette);
  const circles = [...svg.matchAll(/<circle cx="([\d.-]+)" cy="([\d.-]+)"[^>]*><title>([^<]*)<\/title>/g)].map((m) => ({
    x: Number(m[1]),
    y: Number(m[2]),
    title: m[3],
  }));
  assert.equal(circles.length, 3);
  assert.match(circles[1]!.title!, /^L1H0: exact 2\.000, AtP 2\.000$/);
  // Points on y = x lie on the dashed line from (min, min) to (max, max).
  const line = /<line x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)"/.exec(svg)!.slice(1).map(Number) as [number, number, number, number];
  for (const c of [circles[0]!, circles[1]!]) {
    const t = (c.x - line[0]) / (line[2] - line[0]);
    assert.ok(Math.abs(line[1] + t * (line[3] - line[1]) - c.y) < 0.2, `${c.title} on y = x`);
  }
  assert.ok(circles[2]!.y < circles[0]!.y && circles[2]!.x > circles[0]!.x, 'a larger score is higher, a larger exact effect further right');
  assert.ok(svg.includes('Pearson r = 0.940'));
  assert.ok(scatterSvg(points, null, 'eap-ig', palette).includes('EAP-IG vs exact (per head, metric units), Pearson r = undefined'));
});
