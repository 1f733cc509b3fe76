import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenFlow } from '../../../src/engine/analysis/token-flow.js';
import { patternOf, previousHead, uniformHead } from '../../helpers/synthetic-patterns.js';

test('token flow sums attention over heads and layers, and per layer on request', () => {
  const n = 3;
  const layer0 = patternOf([previousHead, uniformHead], n);
  const layer1 = patternOf([previousHead, previousHead], n);
  const flow = tokenFlow([layer0, layer1], true);
  // [query, key]: previous heads put 1 on (q, q−1) (query 0 on itself); uniform 1/(q+1) on each key.
  const expected0 = [1 + 1, 0, 0, 1 + 0.5, 0.5, 0, 1 / 3, 1 + 1 / 3, 1 / 3];
  const expected1 = [2, 0, 0, 2, 0, 0, 0, 2, 0];
  const close = (a: ArrayLike<number>, b: number[]): void => b.forEach((v, i) => assert.ok(Math.abs(a[i]! - v) < 1e-6, `[${i}] ${a[i]} vs ${v}`));
  close(flow.perLayer!.subarray(0, 9), expected0);
  close(flow.perLayer!.subarray(9, 18), expected1);
  close(
    flow.total,
    expected0.map((v, i) => v + expected1[i]!),
  );
  // Each query row carries one unit of attention per head and layer.
  for (let q = 0; q < n; q++) assert.ok(Math.abs(flow.total.subarray(q * n, (q + 1) * n).reduce((a, b) => a + b, 0) - 4) < 1e-6);
  assert.equal(tokenFlow([layer0], false).perLayer, null);
});
