import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  divergingColour,
  FALLBACK_PALETTE,
  luminance,
  mix,
  parseCssColour,
  sequentialColour,
  symmetricExtent,
  textColourOn,
  toHex,
} from '../../../src/webviews/lab/shared/colour.js';

const palette = { ...FALLBACK_PALETTE, background: [0, 0, 0] as const, positive: [0, 0, 200] as const, negative: [200, 100, 0] as const };

test('parseCssColour reads the forms VS Code themes use', () => {
  assert.deepEqual(parseCssColour('#fff'), [255, 255, 255]);
  assert.deepEqual(parseCssColour('#0a0b0c'), [10, 11, 12]);
  assert.deepEqual(parseCssColour('#0a0b0c80'), [10, 11, 12]);
  assert.deepEqual(parseCssColour(' rgb(1, 2, 3) '), [1, 2, 3]);
  assert.deepEqual(parseCssColour('rgba(10, 20, 30, 0.5)'), [10, 20, 30]);
  assert.deepEqual(parseCssColour('rgb(10 20 30 / 50%)'), [10, 20, 30]);
  assert.equal(parseCssColour(''), null);
  assert.equal(parseCssColour('blue'), null);
  assert.equal(parseCssColour('#12345'), null);
});

test('mix interpolates and clamps t', () => {
  assert.deepEqual(mix([0, 0, 0], [200, 100, 50], 0.5), [100, 50, 25]);
  assert.deepEqual(mix([0, 0, 0], [200, 100, 50], 2), [200, 100, 50]);
  assert.deepEqual(mix([0, 0, 0], [200, 100, 50], -1), [0, 0, 0]);
  assert.deepEqual(mix([0, 0, 0], [200, 100, 50], NaN), [0, 0, 0]);
  assert.equal(toHex([255, 0, 16]), '#ff0010');
});

test('diverging scale is centred at zero: background at 0, one hue toward, the other away', () => {
  assert.deepEqual(divergingColour(0, 2, palette), [0, 0, 0]);
  assert.deepEqual(divergingColour(2, 2, palette), [0, 0, 200]);
  assert.deepEqual(divergingColour(-2, 2, palette), [200, 100, 0]);
  assert.deepEqual(divergingColour(1, 2, palette), [0, 0, 100]);
  assert.deepEqual(divergingColour(-1, 2, palette), [100, 50, 0]);
  // Saturates beyond the extent, and a custom centre replaces the background.
  assert.deepEqual(divergingColour(5, 2, palette), [0, 0, 200]);
  assert.deepEqual(divergingColour(0, 2, palette, [9, 9, 9]), [9, 9, 9]);
  assert.deepEqual(divergingColour(NaN, 2, palette), [0, 0, 0]);
});

test('sequential scale runs from the background to the sequential hue', () => {
  const p = { ...palette, sequential: [100, 200, 0] as const };
  assert.deepEqual(sequentialColour(0, 1, p), [0, 0, 0]);
  assert.deepEqual(sequentialColour(1, 1, p), [100, 200, 0]);
  assert.deepEqual(sequentialColour(0.5, 0.5, p), [100, 200, 0]);
});

test('symmetricExtent is the largest |finite value|, 1 when there is none', () => {
  assert.equal(symmetricExtent([1, -3, 2]), 3);
  assert.equal(symmetricExtent(new Float32Array([0, 0])), 1);
  assert.equal(symmetricExtent([NaN, -0.5, Infinity]), 0.5);
});

test('text colour follows the luminance of the cell', () => {
  assert.ok(luminance([255, 255, 255]) > 0.99 && luminance([0, 0, 0]) === 0);
  assert.deepEqual(textColourOn([250, 250, 250]), [0, 0, 0]);
  assert.deepEqual(textColourOn([10, 10, 40]), [255, 255, 255]);
});
