/**
 * InitializerFolder (src/engine/runtime/initializer-files.ts): which graphs go through files, the
 * files it writes (page-aligned external data that ONNX Runtime loads), and their removal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/engine/onnx/graph-builder.js';
import { onnxModelType } from '../../../src/engine/onnx/onnx-proto.js';
import { AUTO_MIN_BYTES, INITIALIZER_ALIGNMENT, InitializerFolder } from '../../../src/engine/runtime/initializer-files.js';

/** y = x @ A + b with A [2, 3] and b [3] as initializers (external data in memory). */
function smallGraph(A: Float32Array, b: Float32Array): ReturnType<GraphBuilder['build']> {
  const g = new GraphBuilder('t', 'initializers');
  const x = g.input('x', 'float', [1, 2]);
  g.op1('Add', [g.op1('MatMul', [x, g.weight('A', A, [2, 3])]), g.weight('b', b, [3])], {}, 'y');
  g.output('y', 'float', [1, 3]);
  return g.build();
}

test('which graphs go through files under each policy', () => {
  const small = smallGraph(new Float32Array(6), new Float32Array(3));
  const big = { ...small, externalData: [{ path: 'w0.bin', data: new Uint8Array(AUTO_MIN_BYTES) }] };
  const none = { ...small, externalData: [] };
  assert.equal(new InitializerFolder('auto').wants(small), false);
  assert.equal(new InitializerFolder('auto').wants(big), true);
  assert.equal(new InitializerFolder('always').wants(small), true);
  assert.equal(new InitializerFolder('always').wants(none), false, 'nothing to write');
  assert.equal(new InitializerFolder('never').wants(big), false);
});

test('a graph written to files runs as it does from memory, and the folder is removed', async () => {
  const A = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const b = Float32Array.from([0.5, -1, 2]);
  const graph = smallGraph(A, b);
  const folder = new InitializerFolder('always');
  const modelPath = folder.write(graph, 'block0');
  assert.ok(modelPath, 'written');
  const binPath = join(dirname(modelPath), 'block0.bin');
  // Each initializer starts at a multiple of the alignment, holding the bytes it was given.
  const type = onnxModelType();
  const message = type.toObject(type.decode(readFileSync(modelPath)), { longs: Number }) as {
    graph: { initializer: Array<{ name: string; external_data?: Array<{ key: string; value: string }> }> };
  };
  const bin = readFileSync(binPath);
  const placed = message.graph.initializer
    .filter((i) => i.external_data)
    .map((i) => {
      const get = (key: string): string => i.external_data!.find((e) => e.key === key)!.value;
      return { name: i.name, location: get('location'), offset: Number(get('offset')), length: Number(get('length')) };
    });
  assert.deepEqual(
    placed.map((p) => [p.name, p.location]),
    [
      ['A', 'block0.bin'],
      ['b', 'block0.bin'],
    ],
  );
  for (const p of placed) assert.equal(p.offset % INITIALIZER_ALIGNMENT, 0, `${p.name} offset ${p.offset}`);
  assert.deepEqual(new Float32Array(bin.buffer.slice(bin.byteOffset + placed[0]!.offset, bin.byteOffset + placed[0]!.offset + 24)), A);
  assert.deepEqual(new Float32Array(bin.buffer.slice(bin.byteOffset + placed[1]!.offset, bin.byteOffset + placed[1]!.offset + 12)), b);

  const fromFile = await ort.InferenceSession.create(modelPath);
  const fromMemory = await ort.InferenceSession.create(graph.model, { externalData: graph.externalData.map((e) => ({ path: e.path, data: e.data })) });
  const x = new ort.Tensor('float32', Float32Array.from([1, -2]), [1, 2]);
  const [y1, y2] = [(await fromFile.run({ x }))['y']!.data, (await fromMemory.run({ x }))['y']!.data];
  assert.deepEqual([...(y1 as Float32Array)], [1 - 8 + 0.5, 2 - 10 - 1, 3 - 12 + 2]);
  assert.deepEqual([...(y1 as Float32Array)], [...(y2 as Float32Array)]);
  await fromFile.release();
  await fromMemory.release();

  assert.equal(folder.remove(), true);
  assert.equal(existsSync(dirname(modelPath)), false, 'the temporary folder is gone');
  assert.equal(folder.remove(), true, 'removing twice is harmless');
});

test("a graph's files are discarded once its session exists, and the session still runs", async () => {
  const A = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const b = Float32Array.from([0.5, -1, 2]);
  const folder = new InitializerFolder('always');
  const first = folder.write(smallGraph(A, b), 'block0')!;
  const second = folder.write(
    smallGraph(
      A.map((v) => -v),
      b,
    ),
    'block1',
  )!;
  const session = await ort.InferenceSession.create(first);
  folder.discard(first);
  assert.deepEqual(readdirSync(dirname(first)).sort(), ['block1.bin', 'block1.onnx'], "only the other graph's files are left");
  const x = new ort.Tensor('float32', Float32Array.from([1, -2]), [1, 2]);
  // The bias feeds an Add, which ONNX Runtime does not pre-pack: it is still read after the file is gone.
  assert.deepEqual([...((await session.run({ x }))['y']!.data as Float32Array)], [1 - 8 + 0.5, 2 - 10 - 1, 3 - 12 + 2]);
  await session.release();
  assert.equal(existsSync(second), true);
  assert.equal(folder.remove(), true);
});

test('where the folder cannot be written, write says so, leaves nothing, and later graphs stay in memory', () => {
  const graph = smallGraph(new Float32Array(6), new Float32Array(3));
  const parent = mkdtempSync(join(tmpdir(), 'ct-readonly-'));
  try {
    chmodSync(parent, 0o500);
    const folder = new InitializerFolder('always', parent);
    if (process.getuid?.() === 0) {
      // root writes through permissions: use a parent that does not exist instead.
      const missing = new InitializerFolder('always', join(parent, 'missing'));
      assert.equal(missing.write(graph, 'block0'), null);
      assert.equal(missing.wants(graph), false, 'after a failure every graph loads from memory');
    } else {
      assert.equal(folder.write(graph, 'block0'), null);
      assert.equal(folder.wants(graph), false, 'after a failure every graph loads from memory');
    }
    assert.deepEqual(readdirSync(parent), [], 'nothing left behind');
  } finally {
    chmodSync(parent, 0o700);
    rmSync(parent, { recursive: true, force: true });
  }
});
