import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cellAt, cellCentre, cellPixels, cellRect, labelShown, labelStride, layoutHeatmap } from '../../../src/webviews/lab/shared/heatmap-layout.js';

const box = { rows: 64, cols: 64, width: 400, height: 300, left: 60, top: 40, right: 20, bottom: 4, square: true, minLabelSpacing: 11 };

test('square cells take the smaller of the two fits, and labels thin out to stay apart', () => {
  const l = layoutHeatmap(box);
  // width 320 / 64 = 5, height 256 / 64 = 4 → 4 px squares.
  assert.equal(l.cellWidth, 4);
  assert.equal(l.cellHeight, 4);
  assert.equal(l.rowLabelStride, 3);
  assert.equal(l.colLabelStride, 3);
  const stretched = layoutHeatmap({ ...box, square: false });
  assert.equal(stretched.cellWidth, 5);
  assert.equal(stretched.cellHeight, 4);
});

test('cellAt inverts cellRect and rejects points outside the cells', () => {
  const l = layoutHeatmap({ ...box, rows: 12, cols: 13, square: false });
  for (const [r, c] of [
    [0, 0],
    [11, 12],
    [5, 7],
  ] as const) {
    const rect = cellRect(l, r, c);
    assert.deepEqual(cellAt(l, rect.x + rect.width / 2, rect.y + rect.height / 2), { row: r, col: c });
    assert.deepEqual(cellAt(l, rect.x + 0.01, rect.y + 0.01), { row: r, col: c });
    const centre = cellCentre(l, r, c);
    assert.ok(Math.abs(centre.x - (rect.x + rect.width / 2)) < 1e-9);
  }
  assert.equal(cellAt(l, l.x0 - 1, l.y0 + 1), null);
  assert.equal(cellAt(l, l.x0 + 1, l.y0 + l.rows * l.cellHeight + 0.5), null);
  assert.equal(cellAt(layoutHeatmap({ ...box, width: 10 }), 5, 5), null);
});

test('labelStride and labelShown', () => {
  assert.equal(labelStride(12, 11), 1);
  assert.equal(labelStride(5, 11), 3);
  assert.equal(labelStride(0, 11), Number.MAX_SAFE_INTEGER);
  assert.equal(labelShown(3, 3), true);
  assert.equal(labelShown(4, 3), false);
  assert.equal(labelShown(4, 3, 4), true);
});

test('cellPixels writes one opaque RGBA pixel per cell and leaves empty cells transparent', () => {
  const px = cellPixels(2, 3, (r, c) => (r === 1 && c === 2 ? null : [r * 10, c * 10, 7]));
  assert.equal(px.length, 24);
  assert.deepEqual([...px.subarray(4, 8)], [0, 10, 7, 255]);
  assert.deepEqual([...px.subarray(12, 16)], [10, 0, 7, 255]);
  assert.deepEqual([...px.subarray(20, 24)], [0, 0, 0, 0]);
});
