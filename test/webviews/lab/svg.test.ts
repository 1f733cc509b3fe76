import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layoutHeatmap } from '../../../src/webviews/lab/shared/heatmap-layout.js';
import { escapeXml, heatmapSvgBody, MUTED_LABEL_OPACITY, svgDocument, svgText } from '../../../src/webviews/lab/shared/svg.js';

test('escapeXml escapes markup characters (token text can be anything)', () => {
  assert.equal(escapeXml(`<script>"a" & 'b'</script>`), '&lt;script&gt;&quot;a&quot; &amp; &apos;b&apos;&lt;/script&gt;');
  assert.equal(svgText(1, 2, '<x>', [255, 0, 0]), '<text x="1.0" y="2.0" fill="#ff0000" text-anchor="start">&lt;x&gt;</text>');
});

test('a generated heatmap SVG has one rect per non-empty cell at the layout positions, and the labels that fit', () => {
  const layout = layoutHeatmap({ rows: 2, cols: 3, width: 100, height: 60, left: 40, top: 20, right: 0, bottom: 0, square: false, minLabelSpacing: 1 });
  const body = heatmapSvgBody({
    layout,
    colourAt: (r, c) => (r === 1 && c === 2 ? null : [r * 100, c * 100, 0]),
    rowLabels: ['L0', 'L1'],
    colLabels: ['H0', 'H1', '<H2>'],
    foreground: [1, 2, 3],
    overlay: '<line/>',
  });
  const rects = body.match(/<rect [^>]*>/g) ?? [];
  assert.equal(rects.length, 5);
  assert.ok(rects.includes('<rect x="60.00" y="20.00" width="20.00" height="20.00" fill="#006400"/>'), rects.join('\n'));
  assert.equal((body.match(/<text /g) ?? []).length, 5);
  assert.match(body, /&lt;H2&gt;/);
  assert.ok(body.endsWith('<line/>'));
  const doc = svgDocument(100.4, 60, [0, 0, 0], body, 'a "font"');
  assert.match(doc, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="101" height="60" viewBox="0 0 101 60" font-family="a &quot;font&quot;"/);
  assert.ok(doc.endsWith('</svg>'));
});

test('muted labels (a prepended BOS on a token axis) are drawn faint on both axes, the others not', () => {
  const layout = layoutHeatmap({ rows: 2, cols: 2, width: 100, height: 100, left: 40, top: 40, right: 0, bottom: 0, square: true, minLabelSpacing: 1 });
  const body = heatmapSvgBody({
    layout,
    colourAt: () => [0, 0, 0],
    rowLabels: ['⟨BOS⟩', ' a'],
    colLabels: ['⟨BOS⟩', ' a'],
    foreground: [1, 2, 3],
    mutedLabels: new Set([0]),
  });
  const texts = body.match(/<text [^>]*>[^<]*<\/text>/g) ?? [];
  assert.equal(texts.length, 4);
  for (const t of texts) assert.equal(t.includes(`fill-opacity="${MUTED_LABEL_OPACITY}"`), t.includes('⟨BOS⟩'), t);
});
