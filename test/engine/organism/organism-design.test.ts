/**
 * The organism's building blocks against the properties its design relies on: the residual
 * basis map (orthogonal, everything orthogonal to the all-ones direction), the positional code's
 * kernel and rotation, the token codes, and the weights' own invariants.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildOrganism, NOMINAL_SCALES, ORGANISM_CONFIG } from '../../../src/engine/organism/build-organism.js';
import { ORGANISM_HEADS, ORGANISM_SEED } from '../../../src/engine/organism/organism-design.js';
import { positionalCode, positionalKernel, previousPositionRotation } from '../../../src/engine/organism/positional-code.js';
import { CODE_DIMS, D_MODEL, POS_DIMS, POS_FREQUENCIES, SPACE, toPhysical } from '../../../src/engine/organism/residual-layout.js';
import { codeOverlap, tokenCodeSigns } from '../../../src/engine/organism/token-codes.js';

test('the logical-to-physical map is orthogonal and lands orthogonal to (1, …, 1)', () => {
  const vectors = [3, 17, 200, 254].map((axis) => {
    const v = new Float64Array(D_MODEL);
    v[axis] = 1;
    v[(axis * 7) % (D_MODEL - 1)] = v[(axis * 7) % (D_MODEL - 1)]! - 0.5;
    return v;
  });
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
  const before = vectors.map((a) => vectors.map((b) => dot(a, b)));
  const mapped = vectors.map((v) => {
    const copy = Float64Array.from(v);
    toPhysical(copy, 1, 1);
    return copy;
  });
  mapped.forEach((a, i) => {
    assert.ok(Math.abs(a.reduce((s, x) => s + x, 0)) < 1e-12, 'orthogonal to the all-ones direction');
    mapped.forEach((b, j) => assert.ok(Math.abs(dot(a, b) - before[i]![j]!) < 1e-12, 'inner products kept'));
  });
  // The strided form (a [outer, d, inner] array) maps each column the same way.
  const strided = new Float64Array(D_MODEL * 2);
  vectors[0]!.forEach((x, i) => {
    strided[i * 2 + 1] = x;
  });
  toPhysical(strided, 1, 2);
  mapped[0]!.forEach((x, i) => assert.ok(Math.abs(strided[i * 2 + 1]! - x) < 1e-12));
});

test('the subspaces are disjoint and fit in d_model − 1 logical coordinates', () => {
  const spaces = Object.values(SPACE).sort((a, b) => a.start - b.start);
  for (let i = 1; i < spaces.length; i++) assert.equal(spaces[i]!.start, spaces[i - 1]!.start + spaces[i - 1]!.size);
  const last = spaces.at(-1)!;
  assert.ok(last.start + last.size <= D_MODEL - 1);
});

test('the positional kernel peaks at 0 with a margin of 2 at every other offset within the context', () => {
  assert.equal(positionalKernel(0), POS_FREQUENCIES);
  let maxOff = -Infinity;
  for (let delta = 1; delta < ORGANISM_CONFIG.nCtx; delta++) {
    maxOff = Math.max(maxOff, positionalKernel(delta), positionalKernel(-delta));
  }
  assert.ok(maxOff <= POS_FREQUENCIES - 2 + 1e-9, `largest off-peak value ${maxOff}`);
  // κ is K times the inner product of codes Δ apart.
  const a = positionalCode(700);
  const b = positionalCode(613);
  const inner = a.reduce((s, x, i) => s + x * b[i]!, 0);
  assert.ok(Math.abs(inner * POS_FREQUENCIES - positionalKernel(87)) < 1e-9);
});

test('R maps the positional code of n to that of n − 1', () => {
  const R = previousPositionRotation();
  for (const n of [1, 2, 5, 512, 1023]) {
    const p = positionalCode(n);
    const want = positionalCode(n - 1);
    for (let r = 0; r < POS_DIMS; r++) {
      let s = 0;
      for (let c = 0; c < POS_DIMS; c++) s += R[r * POS_DIMS + c]! * p[c]!;
      assert.ok(Math.abs(s - want[r]!) < 1e-12, `n = ${n}, coordinate ${r}`);
    }
    assert.ok(Math.abs(p.reduce((s, x) => s + x * x, 0) - 1) < 1e-12, 'unit norm');
  }
});

test('token codes: same seed, same signs; codes are nearly orthogonal', () => {
  const a = tokenCodeSigns(2000, 7);
  assert.deepEqual(a, tokenCodeSigns(2000, 7));
  assert.notDeepEqual(a, tokenCodeSigns(2000, 8));
  let max = 0;
  for (let t = 1; t < 2000; t++) {
    assert.equal(codeOverlap(a, t, t), 1);
    max = Math.max(max, Math.abs(codeOverlap(a, 0, t)));
  }
  // 1999 overlaps of 63 random signs: the largest is about 3.5 standard deviations (0.44).
  assert.ok(max < 0.6, `largest overlap ${max}`);
  assert.ok(max > 0.2, `suspiciously small largest overlap ${max}`);
});

test('the weights keep the residual stream orthogonal to (1, …, 1) and are hand-set, not random', () => {
  const { config, weights } = buildOrganism((text) => 1000 + text.length, ORGANISM_SEED);
  assert.deepEqual(config, ORGANISM_CONFIG);
  const d = D_MODEL;
  // Every row that writes to the residual stream sums to 0 up to float32 rounding of its entries.
  const checkRows = (data: Float32Array, rows: number, what: string) => {
    for (let r = 0; r < rows; r++) {
      const entries = data.subarray(r * d, (r + 1) * d);
      const sum = entries.reduce((s, x) => s + x, 0);
      const size = entries.reduce((s, x) => s + Math.abs(x), 0);
      assert.ok(Math.abs(sum) <= 1e-6 * size + 1e-12, `${what} row ${r} sums to ${sum}`);
    }
  };
  checkRows(weights.W_E.data, 3000, 'W_E');
  checkRows(weights.W_pos.data, config.nCtx, 'W_pos');
  for (const block of weights.blocks) {
    checkRows(block.W_O.data, config.nHeads * config.dHead, 'W_O');
    checkRows(block.W_out.data, config.dMlp, 'W_out');
  }
  assert.equal(weights.W_U_T, weights.W_E, 'tied unembedding');
  // Idle heads are exactly zero; the others are not.
  for (const h of ORGANISM_HEADS) {
    const block = weights.blocks[h.layer]!;
    const size = config.dModel * config.dHead;
    const nonzero = (t: Float32Array) => t.subarray(h.head * size, (h.head + 1) * size).some((x) => x !== 0);
    assert.equal(nonzero(block.W_V.data), h.role !== 'idle', `L${h.layer}H${h.head} values`);
  }
  // Every position ≥ 1 has the same norm (ballast, unit position code): LayerNorm scales agree.
  const norm = (r: number) => Math.hypot(...weights.W_pos.data.subarray(r * d, (r + 1) * d));
  for (const n of [1, 2, 100, 1023]) assert.ok(Math.abs(norm(n) - norm(1)) < 1e-4);
  assert.ok(NOMINAL_SCALES.layer0 > NOMINAL_SCALES.voted);
  assert.equal(CODE_DIMS, config.dHead - 1);
});
