import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../../../src/engine/errors.js';
import { bf16ToF32, f16ToF32, openSafetensors, readSafetensors, readShardedIndex } from '../../../src/engine/model/safetensors.js';
import { f32ToBf16, f32ToF16, writeSafetensors, writeSafetensorsFile } from '../../../src/engine/model/safetensors-writer.js';
import { parseShardList } from '../../../src/engine/model/hub/model-files.js';

/** Builds a safetensors image by hand: an exact header string followed by raw data bytes. */
function rawFile(header: string, data: Uint8Array, headerLengthOverride?: number): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLengthOverride ?? json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function assertEngineError(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof EngineError, `expected an EngineError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

test('writer output matches the byte layout of Python safetensors', () => {
  const file = writeSafetensors(
    [
      { name: 'b', dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) },
      { name: 'a', dtype: 'F16', shape: [1, 3], data: new Float32Array([0.5, 1, 65504]) },
      { name: 'c', dtype: 'BF16', shape: [], data: new Float32Array([3]) },
    ],
    { format: 'pt' },
  );
  // Order: F32 first, then BF16, then F16 (descending dtype), names sorted within a dtype.
  const expectedJson =
    '{"__metadata__":{"format":"pt"},' +
    '"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"c":{"dtype":"BF16","shape":[],"data_offsets":[8,10]},' +
    '"a":{"dtype":"F16","shape":[1,3],"data_offsets":[10,16]}}';
  const headerLength = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0);
  const headerText = new TextDecoder().decode(file.subarray(8, 8 + headerLength));
  assert.equal(headerText.trimEnd(), expectedJson);
  assert.equal(headerText.length - expectedJson.length, (8 - (expectedJson.length % 8)) % 8, 'padded with spaces only');
  const data = file.subarray(8 + headerLength);
  assert.deepEqual(
    [...data],
    [
      0x00,
      0x00,
      0x80,
      0x3f,
      0x00,
      0x00,
      0x00,
      0xc0, // F32 1, -2
      0x40,
      0x40, // BF16 3 = 0x4040
      0x00,
      0x38,
      0x00,
      0x3c,
      0xff,
      0x7b, // F16 0.5 = 0x3800, 1 = 0x3c00, 65504 = 0x7bff
    ],
  );
});

test('round trip: the reader returns what the writer stored, F32 as a zero-copy view', () => {
  const values = new Float32Array([0, 1.5, -3.25, 1e-8, 7, 8]);
  const file = writeSafetensors(
    [
      { name: 'w', dtype: 'F32', shape: [2, 3], data: values },
      { name: 'h', dtype: 'F16', shape: [6], data: values },
      { name: 'g', dtype: 'BF16', shape: [3, 2], data: values },
    ],
    { format: 'pt', note: 'x' },
  );
  const parsed = readSafetensors(file, 'test.safetensors');
  assert.deepEqual(parsed.metadata, { format: 'pt', note: 'x' });
  assert.deepEqual([...parsed.tensors.keys()], ['w', 'g', 'h']);
  const w = parsed.get('w');
  assert.deepEqual(w.shape, [2, 3]);
  assert.equal(w.dtype, 'F32');
  const wData = w.float32();
  assert.deepEqual([...wData], [...values]);
  assert.equal(wData.buffer, file.buffer, 'aligned F32 data is a view into the file buffer');
  assert.deepEqual([...parsed.get('h').float32()], [...f16ToF32(f32ToF16(values))]);
  assert.deepEqual([...parsed.get('g').float32()], [...bf16ToF32(f32ToBf16(values))]);
  assert.equal(parsed.get('h').float32()[1], 1.5);
  assertEngineError(() => parsed.get('missing'), 'MISSING_TENSOR', /no tensor "missing"/);
});

test('misaligned F32 data is copied, not viewed, and still correct', () => {
  const file = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) }]);
  // Place the same bytes at an odd offset of a larger buffer, as a pooled Node Buffer might.
  const host = new Uint8Array(file.length + 1);
  host.set(file, 1);
  const shifted = host.subarray(1);
  const w = readSafetensors(shifted, 'shifted').get('w');
  assert.equal((shifted.byteOffset + w.byteOffset) % 4, 1);
  const data = w.float32();
  assert.deepEqual([...data], [1, 2, 3]);
  assert.notEqual(data.buffer, host.buffer, 'a misaligned tensor must be copied');
  // F16 at an odd address takes the copying path as well.
  const half = writeSafetensors([{ name: 'h', dtype: 'F16', shape: [2], data: new Float32Array([0.25, -4]) }]);
  const odd = new Uint8Array(half.length + 1);
  odd.set(half, 1);
  assert.deepEqual([...readSafetensors(odd.subarray(1), 'odd').get('h').float32()], [0.25, -4]);
});

test('a buffer shorter than 8 bytes is reported as truncated', () => {
  assertEngineError(() => readSafetensors(new Uint8Array(5), 'tiny.safetensors'), 'CORRUPT_WEIGHTS', /tiny\.safetensors: truncated/);
});

test('a header length beyond the end of the file is reported as truncated', () => {
  const file = rawFile('{}', new Uint8Array(0), 4096);
  assertEngineError(() => readSafetensors(file, 'cut.safetensors'), 'CORRUPT_WEIGHTS', /truncated.*4096/);
  // A u64 length with high bits set must not wrap around.
  const huge = rawFile('{}', new Uint8Array(0));
  new DataView(huge.buffer).setUint32(4, 1, true);
  assertEngineError(() => readSafetensors(huge, 'huge'), 'CORRUPT_WEIGHTS', /truncated/);
});

test('a file cut inside the data is reported as truncated', () => {
  const full = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
  assertEngineError(() => readSafetensors(full.subarray(0, full.length - 3), 'cut'), 'CORRUPT_WEIGHTS', /truncated: "w" ends at data byte 16/);
});

test('invalid header JSON is reported', () => {
  assertEngineError(() => readSafetensors(rawFile('{"w": {', new Uint8Array(0)), 'bad'), 'CORRUPT_WEIGHTS', /not valid JSON/);
  assertEngineError(() => readSafetensors(rawFile('[1,2]', new Uint8Array(0)), 'bad'), 'CORRUPT_WEIGHTS', /not a JSON object/);
  assertEngineError(
    () => readSafetensors(rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', new Uint8Array(4)), 'bad'),
    'CORRUPT_WEIGHTS',
    /malformed data_offsets/,
  );
  assertEngineError(
    () => readSafetensors(rawFile('{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', new Uint8Array(4)), 'bad'),
    'CORRUPT_WEIGHTS',
    /malformed shape/,
  );
  assertEngineError(() => readSafetensors(rawFile('{"__metadata__":{"n":1}}', new Uint8Array(0)), 'bad'), 'CORRUPT_WEIGHTS', /__metadata__\.n is not a string/);
});

test('a header whose offsets disagree with shape and dtype is reported', () => {
  // [2, 3] F32 needs 24 bytes; the offsets claim 20.
  const file = rawFile('{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}', new Uint8Array(24));
  assertEngineError(() => readSafetensors(file, 'liar.safetensors'), 'CORRUPT_WEIGHTS', /header lies about sizes.*24 bytes.*20 bytes/);
  const backwards = rawFile('{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}', new Uint8Array(8));
  assertEngineError(() => readSafetensors(backwards, 'liar'), 'CORRUPT_WEIGHTS', /end before they begin/);
});

test('tensors of other dtypes are listed and only fail when their float data is requested', () => {
  const ids = new Uint8Array(16);
  new DataView(ids.buffer).setBigInt64(8, 7n, true);
  const header = '{"pos":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"odd":{"dtype":"F8_E3M4X","shape":[1],"data_offsets":[16,16]}}';
  const parsed = readSafetensors(rawFile(header, ids), 'mixed.safetensors');
  const pos = parsed.get('pos');
  assert.equal(pos.dtype, 'I64');
  assert.deepEqual(pos.shape, [2]);
  assert.equal(new DataView(pos.bytes().buffer, pos.bytes().byteOffset).getBigInt64(8, true), 7n);
  assertEngineError(() => pos.float32(), 'UNSUPPORTED_DTYPE', /"pos" has dtype I64/);
  assertEngineError(() => parsed.get('odd').float32(), 'UNSUPPORTED_DTYPE', /F8_E3M4X/);
});

test('F64 tensors are read as float32', () => {
  const data = new Float64Array([1.25, -1e300]);
  const file = rawFile('{"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}', new Uint8Array(data.buffer));
  assert.deepEqual([...readSafetensors(file, 'f64').get('d').float32()], [1.25, -Infinity]);
});

test('F16 decoding is exact for every half value, including subnormals, infinities and NaN', () => {
  const all = new Uint16Array(65536);
  for (let h = 0; h < 65536; h++) all[h] = h;
  const decoded = f16ToF32(all);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    const expected =
      exponent === 0
        ? sign * mantissa * 2 ** -24
        : exponent === 31
          ? mantissa === 0
            ? sign * Infinity
            : NaN
          : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
    assert.ok(Object.is(decoded[h], expected), `half 0x${h.toString(16)}: got ${decoded[h]}, expected ${expected}`);
  }
  // Encoding every non-NaN half's value gives the same bits back.
  const encoded = f32ToF16(decoded);
  for (let h = 0; h < 65536; h++) {
    if (Number.isNaN(decoded[h])) assert.ok((encoded[h]! & 0x7c00) === 0x7c00 && (encoded[h]! & 0x3ff) !== 0);
    else assert.equal(encoded[h], h);
  }
});

test('F16 encoding rounds to nearest even, overflows to infinity and underflows to zero', () => {
  const cases: Array<[number, number]> = [
    [1 + 2 ** -11, 0x3c00], // exactly halfway between 1 and the next half: ties to even (1)
    [1 + 3 * 2 ** -11, 0x3c02], // halfway, odd below: rounds up
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above halfway: up
    [65504, 0x7bff],
    [65519, 0x7bff], // below the midpoint to 65536
    [65520, 0x7c00], // the midpoint ties to the even neighbour, infinity
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway to zero: ties to even (0)
    [3 * 2 ** -25, 0x0002], // 1.5 ulps: ties to even (2)
    [2 ** -14 - 2 ** -25, 0x0400], // rounds up into the smallest normal
    [1e-10, 0x0000],
    [-0, 0x8000],
  ];
  const encoded = f32ToF16(new Float32Array(cases.map(([v]) => v)));
  cases.forEach(([value, bits], i) => assert.equal(encoded[i], bits, `f16(${value})`));
});

test('F16 encoding agrees with a brute-force nearest-half search on many floats', () => {
  // Positive finite halves in increasing order are the bit patterns 0x0000..0x7bff.
  const halves = new Uint16Array(0x7c00);
  for (let h = 0; h < halves.length; h++) halves[h] = h;
  const grid = f16ToF32(halves);
  const nearest = (v: number): number => {
    const a = Math.abs(v);
    const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
    if (a >= 65520) return sign | 0x7c00;
    let lo = 0;
    let hi = grid.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (grid[mid]! <= a) lo = mid;
      else hi = mid;
    }
    const below = a - grid[lo]!;
    const above = grid[hi]! - a;
    const bits = below < above ? lo : above < below ? hi : lo % 2 === 0 ? lo : hi;
    return sign | bits;
  };
  let state = 12345;
  const values = new Float32Array(20000);
  for (let i = 0; i < values.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    // Magnitudes from 2^-30 to 2^17, both signs, to hit subnormals, normals and overflow.
    values[i] = (state & 1 ? -1 : 1) * 2 ** (((state >>> 8) / 2 ** 24) * 47 - 30);
  }
  const encoded = f32ToF16(values);
  for (let i = 0; i < values.length; i++) assert.equal(encoded[i], nearest(values[i]!), `f16(${values[i]})`);
});

test('BF16 encoding rounds to nearest even and keeps NaN', () => {
  const cases: Array<[number, number]> = [
    [1, 0x3f80],
    [1 + 2 ** -8, 0x3f80], // halfway: ties to even
    [1 + 3 * 2 ** -8, 0x3f82], // halfway, odd below: up
    [1 + 2 ** -8 + 2 ** -16, 0x3f81],
    [-2, 0xc000],
    [Infinity, 0x7f80],
    [3.4028234663852886e38, 0x7f80], // max float rounds to infinity in bf16
  ];
  const encoded = f32ToBf16(new Float32Array(cases.map(([v]) => v)));
  cases.forEach(([value, bits], i) => assert.equal(encoded[i], bits, `bf16(${value})`));
  const nan = f32ToBf16(new Float32Array([NaN]));
  assert.ok(Number.isNaN(bf16ToF32(nan)[0]));
});

test('F16 and BF16 round trips stay within half an ulp of GPT-2-sized weights', () => {
  const values = new Float32Array(10000);
  for (let i = 0; i < values.length; i++) values[i] = Math.sin(i * 12.9898) * 0.1 * (1 + (i % 7));
  const f16 = f16ToF32(f32ToF16(values));
  const bf16 = bf16ToF32(f32ToBf16(values));
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    assert.ok(Math.abs(f16[i]! - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -25), `f16 ${v} -> ${f16[i]}`);
    assert.ok(Math.abs(bf16[i]! - v) <= Math.abs(v) * 2 ** -8, `bf16 ${v} -> ${bf16[i]}`);
  }
});

test('writeSafetensorsFile writes the same bytes as writeSafetensors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-'));
  try {
    const tensors = [
      { name: 'x', dtype: 'F32' as const, shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      { name: 'y', dtype: 'F16' as const, shape: [3], data: new Float32Array([5, 6, 7]) },
    ];
    const path = join(dir, 'm.safetensors');
    const written = await writeSafetensorsFile(path, tensors, { format: 'pt' });
    const onDisk = readFileSync(path);
    assert.equal(written, onDisk.length);
    assert.deepEqual(new Uint8Array(onDisk), writeSafetensors(tensors, { format: 'pt' }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('openSafetensors reads the header from disk and each tensor into a buffer of its own', () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-'));
  try {
    const values = new Float32Array([0, 1.5, -3.25, 1e-8, 7, 8]);
    const image = writeSafetensors(
      [
        { name: 'w', dtype: 'F32', shape: [2, 3], data: values },
        { name: 'h', dtype: 'F16', shape: [6], data: values },
        { name: 'e', dtype: 'F32', shape: [2], data: new Float32Array([4, 5]) },
      ],
      { format: 'pt' },
    );
    const path = join(dir, 'm.safetensors');
    writeFileSync(path, image);
    const fromDisk = openSafetensors(path);
    const fromBuffer = readSafetensors(image, path);
    assert.deepEqual(fromDisk.metadata, { format: 'pt' });
    assert.deepEqual([...fromDisk.tensors.keys()], [...fromBuffer.tensors.keys()]);
    for (const name of fromDisk.tensors.keys()) {
      const data = fromDisk.get(name).float32();
      assert.deepEqual([...data], [...fromBuffer.get(name).float32()], name);
      assert.deepEqual(fromDisk.get(name).shape, fromBuffer.get(name).shape);
      if (fromDisk.get(name).dtype === 'F32') assert.equal(data.byteLength, data.buffer.byteLength, `${name} owns its buffer`);
    }
    assert.deepEqual([...fromDisk.get('w').bytes()], [...fromBuffer.get('w').bytes()]);
    assertEngineError(() => fromDisk.get('missing'), 'MISSING_TENSOR', /no tensor "missing"/);

    // The header is checked against the file's size when opened...
    truncateSync(path, image.length - 4);
    assertEngineError(() => openSafetensors(path, 'cut'), 'CORRUPT_WEIGHTS', /cut: truncated: "h" ends at data byte 44 but the data section has only 40 bytes/);
    // ...and a file cut or rewritten after it was opened fails when its tensors are read (they may be read long after the header).
    writeFileSync(path, image);
    const opened = openSafetensors(path, 'later');
    assert.deepEqual([...opened.get('w').float32()], [...values], 'read while the file is unchanged');
    truncateSync(path, image.length - 4);
    assertEngineError(() => opened.get('w').float32(), 'CORRUPT_WEIGHTS', /later changed on disk after the model began loading/);
    writeFileSync(path, image);
    const rewritten = openSafetensors(path, 'rewritten');
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    assertEngineError(() => rewritten.get('w').float32(), 'CORRUPT_WEIGHTS', /rewritten changed on disk/);
    writeFileSync(path, new Uint8Array(5));
    assertEngineError(() => openSafetensors(path, 'tiny'), 'CORRUPT_WEIGHTS', /tiny: truncated: 5 bytes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the writer rejects inconsistent input', () => {
  assertEngineError(() => writeSafetensors([{ name: 'x', dtype: 'F32', shape: [3], data: new Float32Array(2) }]), 'WRONG_SHAPE', /shape \[3\] but 2 values/);
  const one = { name: 'x', dtype: 'F32' as const, shape: [1], data: new Float32Array(1) };
  assertEngineError(() => writeSafetensors([one, one]), 'BAD_ARGUMENT', /given twice/);
  assertEngineError(() => writeSafetensors([{ ...one, name: '__metadata__' }]), 'BAD_ARGUMENT', /__metadata__/);
});

test('readShardedIndex maps tensors to shard files and refuses paths outside the folder', () => {
  const index = readShardedIndex(
    JSON.stringify({
      metadata: { total_size: 24 },
      weight_map: { a: 'model-00002-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' },
    }),
  );
  assert.equal(index.weightMap.get('a'), 'model-00002-of-00002.safetensors');
  assert.deepEqual(index.shardFiles, ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  assert.deepEqual(index.metadata, { total_size: 24 });
  assertEngineError(() => readShardedIndex('{nope'), 'CORRUPT_WEIGHTS', /not valid JSON/);
  assertEngineError(() => readShardedIndex({ metadata: {} }), 'CORRUPT_WEIGHTS', /no "weight_map"/);
  assertEngineError(() => readShardedIndex({ weight_map: { a: '../../secret.safetensors' } }), 'CORRUPT_WEIGHTS', /not a file inside the model folder/);
  assertEngineError(() => readShardedIndex({ weight_map: { a: 3 } }), 'CORRUPT_WEIGHTS', /not a file name/);
});

test('tensor ranges must tile the data section: overlaps, gaps and trailing bytes are refused, naming the tensors', () => {
  const f32 = (name: string, begin: number, end: number): string => `"${name}":{"dtype":"F32","shape":[${(end - begin) / 4}],"data_offsets":[${begin},${end}]}`;
  // Listed out of offset order but contiguous: valid (the spec sorts by offset).
  const shuffled = readSafetensors(rawFile(`{${f32('b', 8, 16)},${f32('a', 0, 8)}}`, new Uint8Array(16)), 'ok');
  assert.deepEqual([...shuffled.tensors.keys()], ['b', 'a']);
  // Two tensors reading the same bytes.
  assertEngineError(
    () => readSafetensors(rawFile(`{${f32('a', 0, 8)},${f32('b', 4, 12)}}`, new Uint8Array(12)), 'overlap'),
    'CORRUPT_WEIGHTS',
    /overlap.*"b".*"a"|overlap.*"a".*"b"/,
  );
  assertEngineError(() => readSafetensors(rawFile(`{${f32('a', 0, 8)},${f32('b', 0, 8)}}`, new Uint8Array(8)), 'alias'), 'CORRUPT_WEIGHTS', /overlap/);
  // Bytes that belong to no tensor, between tensors or at the start.
  assertEngineError(
    () => readSafetensors(rawFile(`{${f32('a', 0, 8)},${f32('b', 12, 20)}}`, new Uint8Array(20)), 'gap'),
    'CORRUPT_WEIGHTS',
    /gap.*"a".*"b"|"b".*starts at data byte 12/,
  );
  assertEngineError(() => readSafetensors(rawFile(`{${f32('a', 4, 12)}}`, new Uint8Array(12)), 'late'), 'CORRUPT_WEIGHTS', /"a".*starts at data byte 4/);
  // Data after the last tensor.
  assertEngineError(() => readSafetensors(rawFile(`{${f32('a', 0, 8)}}`, new Uint8Array(12)), 'tail'), 'CORRUPT_WEIGHTS', /4 bytes after the last tensor/);
});

test('shard paths: subfolders are allowed; .., absolute paths, backslashes, drive letters and empty segments never (one rule for loader and downloader)', () => {
  const index = readShardedIndex({ weight_map: { a: 'shards/model-1.safetensors', b: 'model-2.safetensors' } });
  assert.deepEqual(index.shardFiles, ['model-2.safetensors', 'shards/model-1.safetensors']);
  assert.deepEqual(parseShardList(JSON.stringify({ weight_map: { a: 'shards/model-1.safetensors' } }), 'index'), ['shards/model-1.safetensors']);
  for (const bad of [
    '../x.safetensors',
    'shards/../../x.safetensors',
    '/etc/x.safetensors',
    'shards\\x.safetensors',
    'C:/x.safetensors',
    'c:x.safetensors',
    'shards//x.safetensors',
    'shards/./x.safetensors',
    'shards/',
    '.',
    '',
  ]) {
    assertEngineError(() => readShardedIndex({ weight_map: { a: bad } }), 'CORRUPT_WEIGHTS', /not a file inside the model folder/);
    assertEngineError(() => parseShardList(JSON.stringify({ weight_map: { a: bad } }), 'index'), 'CORRUPT_WEIGHTS', /not a file inside the model folder/);
  }
  assertEngineError(() => readShardedIndex({ weight_map: {} }), 'CORRUPT_WEIGHTS', /no shards/);
});
