/**
 * The rows, masks and hook_z routing of packed runs (runtime/packed-layout.ts), on a hand-sized
 * layout: two prompts of 3 tokens, branches joining at layers 0 and 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MASKED } from '../../../src/engine/onnx/gpt2-graphs.js';
import { causalMask, layerMasks } from '../../../src/engine/runtime/forward-steps.js';
import { packedLayout, packedMask, packedRouting, rowsAt } from '../../../src/engine/runtime/packed-layout.js';
import type { PackedBranch } from '../../../src/engine/runtime/types.js';

const SHAPE = { nLayers: 2, nHeads: 2 };
const PROMPTS = [
  [1, 2, 3],
  [1, 5, 6],
];

/** Which columns each row may attend to, from a mask. */
function visible(mask: { mask: Float32Array; dims: [number, number] }): number[][] {
  const [rows, width] = mask.dims;
  return Array.from({ length: rows }, (_, r) => Array.from({ length: width }, (_, c) => c).filter((c) => mask.mask[r * width + c] === 0));
}

test('branches are laid out after the prompts in join order; rows grow per layer', () => {
  const branches: PackedBranch[] = [
    { prompt: 1, from: 1, layer: 1, zFrom: { prompt: 0, heads: [0] } },
    { prompt: 1, from: 2, layer: 0, zFrom: { prompt: 0, heads: [1] } },
  ];
  const layout = packedLayout({ prompts: PROMPTS, branches, scoreTokens: [] }, SHAPE);
  assert.equal(layout.mode, 'dense');
  assert.deepEqual(
    layout.branches.map((b) => [b.index, b.row]),
    [
      [1, 6],
      [0, 7],
    ],
  );
  assert.equal(rowsAt(layout, 0), 7);
  assert.equal(rowsAt(layout, 1), 9);
});

test('dense mask: prompts are causal; a branch sees its prompt before `from` and itself causally', () => {
  const branches: PackedBranch[] = [{ prompt: 1, from: 1, layer: 0, zFrom: { prompt: 0, heads: [0] } }];
  const layout = packedLayout({ prompts: PROMPTS, branches, scoreTokens: [] }, SHAPE);
  const mask = packedMask(layout, 0);
  assert.deepEqual(mask.dims, [8, 8]);
  assert.deepEqual(visible(mask), [
    [0],
    [0, 1],
    [0, 1, 2], // clean
    [3],
    [3, 4],
    [3, 4, 5], // corrupted
    [3, 6],
    [3, 6, 7], // branch: corrupted position 0, then its own positions 1 and 2
  ]);
  assert.equal(mask.mask[1 * 8 + 2], MASKED);
});

test("prefix mask (every branch one row): prompt rows, then each row's own key in the last column", () => {
  const branches: PackedBranch[] = [
    { prompt: 1, from: 2, layer: 0, zFrom: { prompt: 0, heads: [0] } },
    { prompt: 0, from: 2, layer: 1, zFrom: { prompt: 1, heads: [1] } },
  ];
  const layout = packedLayout({ prompts: PROMPTS, branches, scoreTokens: [] }, SHAPE);
  assert.equal(layout.mode, 'prefix');
  assert.deepEqual(packedMask(layout, 0).dims, [7, 7]);
  assert.deepEqual(visible(packedMask(layout, 1)), [
    [0],
    [0, 1],
    [0, 1, 2],
    [3],
    [3, 4],
    [3, 4, 5],
    [3, 4, 6], // corrupted positions 0 and 1, then its own key
    [0, 1, 6], // clean positions 0 and 1, then its own key
  ]);
});

test('a local window of 2: each position sees itself and the one before, in prompts and branches, dense and prefix', () => {
  const dense = packedLayout({ prompts: PROMPTS, branches: [{ prompt: 1, from: 1, layer: 0, zFrom: { prompt: 0, heads: [0] } }], scoreTokens: [] }, SHAPE);
  assert.deepEqual(visible(packedMask(dense, 0, 2)), [
    [0],
    [0, 1],
    [1, 2], // clean position 2 no longer sees position 0
    [3],
    [3, 4],
    [4, 5],
    [3, 6],
    [6, 7], // branch position 2: its own position 1, not corrupted position 0
  ]);
  const prefix = packedLayout({ prompts: PROMPTS, branches: [{ prompt: 1, from: 2, layer: 0, zFrom: { prompt: 0, heads: [0] } }], scoreTokens: [] }, SHAPE);
  assert.deepEqual(visible(packedMask(prefix, 0, 2)), [[0], [0, 1], [1, 2], [3], [3, 4], [4, 5], [4, 6]]);
  // A window of 1: only the own key.
  assert.deepEqual(visible(packedMask(prefix, 0, 1)), [[0], [1], [2], [3], [4], [5], [6]]);
  // A window as long as the prompt is no window.
  assert.deepEqual(visible(packedMask(dense, 0, 3)), visible(packedMask(dense, 0)));
});

test('causalMask and layerMasks: a local layer sees the last `window` keys, from any first query; global layers share one mask', () => {
  const keys = (t: { data: unknown; dims: readonly number[] }): number[][] => visible({ mask: t.data as Float32Array, dims: [t.dims[0]!, t.dims[1]!] });
  assert.deepEqual(keys(causalMask(4, 0)), [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]]);
  assert.deepEqual(keys(causalMask(4, 0, 2)), [[0], [0, 1], [1, 2], [2, 3]]);
  assert.deepEqual(keys(causalMask(4, 2, 2)), [
    [1, 2],
    [2, 3],
  ]);
  const masks = layerMasks({ nLayers: 4, attentionWindow: [null, 2, null, 9] }, 4, 0);
  assert.equal(masks[0], masks[2]);
  assert.equal(masks[0], masks[3], 'a window longer than the prompt is the global mask');
  assert.deepEqual(keys(masks[1]!), keys(causalMask(4, 0, 2)));
  assert.equal(new Set(layerMasks({ nLayers: 3 }, 5, 1)).size, 1);
});

test("routing: the joining branches' patched heads take the source prompt's row at the same position", () => {
  const branches: PackedBranch[] = [
    { prompt: 1, from: 1, layer: 1, zFrom: { prompt: 0, heads: [1], positions: [2] } },
    { prompt: 1, from: 2, layer: 0, zFrom: { prompt: 0, heads: [0, 1] } },
  ];
  const layout = packedLayout({ prompts: PROMPTS, branches, scoreTokens: [] }, SHAPE);
  // (0, row, head) triples, three numbers a row.
  const triples = (index: BigInt64Array): number[][] => Array.from({ length: index.length / 3 }, (_, i) => [...index.subarray(3 * i, 3 * i + 3)].map(Number));
  const at0 = packedRouting(layout, 0);
  // row 6 is the layer-0 branch's position 2; both its heads take clean row 2
  assert.deepEqual(triples(at0.to), [
    [0, 6, 0],
    [0, 6, 1],
  ]);
  assert.deepEqual(triples(at0.from), [
    [0, 2, 0],
    [0, 2, 1],
  ]);
  const at1 = packedRouting(layout, 1);
  // rows 7, 8 are the layer-1 branch's positions 1 and 2; only position 2 of head 1 is routed
  assert.deepEqual(triples(at1.to), [[0, 8, 1]]);
  assert.deepEqual(triples(at1.from), [[0, 2, 1]]);
  const none = packedRouting(packedLayout({ prompts: PROMPTS, branches: [], scoreTokens: [] }, SHAPE), 0);
  assert.equal(none.from.length + none.to.length, 0);
});
