/**
 * The PyTorch checkpoint reader (zip-archive.ts, torch-pickle.ts, torch-checkpoint.ts) on archives
 * written by test/helpers/torch-bin-writer.ts in torch.save's layout: storages of every float
 * dtype read as float32 (expected values written here from their bit patterns), strided views
 * (transposed, offset, permuted, broadcast, scalar) against values indexed by hand, storages shared
 * by several tensors, plain dicts and OrderedDicts with their metadata, deflated records and zip64;
 * and the refusals: a truncated archive, a global other than the few a state dict needs (never
 * run), a CRC or size mismatch, a view past its storage, a file changed after it was opened, the
 * legacy pre-1.6 format, and big-endian data.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { isEngineError, type EngineErrorCode } from '../../../src/engine/errors.js';
import { openTorchCheckpoint } from '../../../src/engine/model/torch-checkpoint.js';
import {
  OP,
  PickleWriter,
  stateDictPickle,
  torchArchive,
  torchBin,
  zipArchive,
  type TorchStorageSpec,
  type TorchTensorSpec,
} from '../../helpers/torch-bin-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'ct-torch-bin-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;

function writeBin(bytes: Uint8Array): string {
  const path = join(dir, `checkpoint-${fileCount++}.bin`);
  writeFileSync(path, bytes);
  return path;
}

function rejectsWith(code: EngineErrorCode, ...mentions: Array<string | RegExp>): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isEngineError(error), `expected an EngineError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const m of mentions) {
      if (typeof m === 'string') assert.ok(error.message.includes(m), `"${error.message}" should mention "${m}"`);
      else assert.match(error.message, m);
    }
    return true;
  };
}

function f32Storage(key: string, values: readonly number[]): TorchStorageSpec {
  return { key, dtype: 'F32', data: new Uint8Array(Float32Array.from(values).buffer) };
}

function u16Storage(key: string, dtype: 'F16' | 'BF16', bits: readonly number[]): TorchStorageSpec {
  return { key, dtype, data: new Uint8Array(Uint16Array.from(bits).buffer) };
}

const TWELVE = Array.from({ length: 12 }, (_, i) => i * 1.5 - 4); // storage element i holds 1.5 i - 4

describe('reading torch.save archives', () => {
  test('F32, F16, BF16 and F64 storages read as float32, their values decoded from the bit patterns', () => {
    // F16: 0x3e00 = 1.5, 0xb400 = -0.25, 0x7bff = 65504 (largest), 0x0001 = 2^-24 (smallest subnormal), 0xfc00 = -inf.
    // BF16: the top half of a float32: 0x3fc0 = 1.5, 0xc080 = -4, 0x0001 = 2^-133 (subnormal), 0x7f80 = inf.
    const storages: TorchStorageSpec[] = [
      f32Storage('0', [0.1, -2, 3.5]),
      u16Storage('1', 'F16', [0x3e00, 0xb400, 0x7bff, 0x0001, 0xfc00]),
      u16Storage('2', 'BF16', [0x3fc0, 0xc080, 0x0001, 0x7f80]),
      { key: '3', dtype: 'F64', data: new Uint8Array(Float64Array.from([1 / 3, -1e-3]).buffer) },
    ];
    const tensors: TorchTensorSpec[] = [
      { name: 'f32', storage: '0', shape: [3] },
      { name: 'f16', storage: '1', shape: [5] },
      { name: 'bf16', storage: '2', shape: [2, 2] },
      { name: 'f64', storage: '3', shape: [2] },
    ];
    const file = openTorchCheckpoint(writeBin(torchBin(tensors, storages)));
    assert.deepEqual([...file.tensors.keys()], ['f32', 'f16', 'bf16', 'f64']);
    assert.deepEqual(
      [...file.tensors.values()].map((t) => t.dtype),
      ['F32', 'F16', 'BF16', 'F64'],
    );
    assert.deepEqual([...file.get('f32').float32()], [Math.fround(0.1), -2, 3.5]);
    assert.deepEqual([...file.get('f16').float32()], [1.5, -0.25, 65504, 2 ** -24, -Infinity]);
    assert.deepEqual(file.get('bf16').shape, [2, 2]);
    assert.deepEqual([...file.get('bf16').float32()], [1.5, -4, 2 ** -133, Infinity]);
    assert.deepEqual([...file.get('f64').float32()], [Math.fround(1 / 3), Math.fround(-1e-3)]);
    assert.equal(file.get('f16').byteLength, 10);
  });

  test('strided views of one storage: transposed, offset, permuted, broadcast and scalar, each element as indexed by hand', () => {
    const views: Array<TorchTensorSpec & { expect: (index: number[]) => number }> = [
      // a [3, 4] row-major; its transpose [4, 3] with strides [1, 4]: element (i, j) is storage j * 4 + i.
      { name: 'a', storage: '0', shape: [3, 4], expect: ([i, j]) => i! * 4 + j! },
      { name: 'a.T', storage: '0', shape: [4, 3], stride: [1, 4], expect: ([i, j]) => j! * 4 + i! },
      // rows 1-2, columns 0-1 of a: offset 4, strides [4, 1].
      { name: 'corner', storage: '0', shape: [2, 2], stride: [4, 1], offset: 4, expect: ([i, j]) => 4 + i! * 4 + j! },
      // a [2, 3, 2] view with strides [1, 4, 2]: storage i + 4 j + 2 k.
      { name: 'permuted', storage: '0', shape: [2, 3, 2], stride: [1, 4, 2], expect: ([i, j, k]) => i! + 4 * j! + 2 * k! },
      // element 2 repeated three times (an expanded tensor, stride 0).
      { name: 'broadcast', storage: '0', shape: [3], stride: [0], offset: 2, expect: () => 2 },
      { name: 'scalar', storage: '0', shape: [], offset: 7, expect: () => 7 },
      { name: 'empty', storage: '0', shape: [0, 4], expect: () => NaN },
    ];
    const file = openTorchCheckpoint(writeBin(torchBin(views, [f32Storage('0', TWELVE)])));
    for (const view of views) {
      const got = file.get(view.name).float32();
      const expected: number[] = [];
      const walk = (prefix: number[]): void => {
        if (prefix.length === view.shape.length) {
          expected.push(TWELVE[view.expect(prefix)]!);
          return;
        }
        for (let i = 0; i < view.shape[prefix.length]!; i++) walk([...prefix, i]);
      };
      walk([]);
      assert.deepEqual([...got], expected, view.name);
      assert.deepEqual(file.get(view.name).shape, view.shape);
    }
    // bytes() is the row-major contents too.
    assert.deepEqual(new Float32Array(file.get('a.T').bytes().slice().buffer), file.get('a.T').float32());
  });

  test('tensors sharing a storage (tied embeddings) each read it, into arrays of their own', () => {
    const tensors: TorchTensorSpec[] = [
      { name: 'transformer.wte.weight', storage: '0', shape: [3, 4] },
      { name: 'lm_head.weight', storage: '0', shape: [3, 4] },
    ];
    const file = openTorchCheckpoint(writeBin(torchBin(tensors, [f32Storage('0', TWELVE)])));
    const [a, b] = [file.get('transformer.wte.weight').float32(), file.get('lm_head.weight').float32()];
    assert.deepEqual([...a], TWELVE.map(Math.fround));
    assert.deepEqual(b, a);
    assert.notEqual(a.buffer, b.buffer);
    a[0] = 99;
    assert.equal(file.get('lm_head.weight').float32()[0], TWELVE[0]);
  });

  test('a plain dict, an OrderedDict with _metadata, deflated records, zip64 fields and any archive folder name read alike', () => {
    // Enough tensors that the memo passes 256 entries (LONG_BINPUT); a dict of one tensor is set with SETITEM, not SETITEMS.
    const storages = Array.from({ length: 120 }, (_, k) => f32Storage(String(k), [k, -k, k / 8]));
    const tensors = storages.map((s, k) => ({ name: `layer.${k}.weight`, storage: s.key, shape: [3] }));
    const variants = [
      torchBin(tensors, storages),
      torchBin(tensors, storages, { ordered: true, archiveName: 'pytorch_model' }),
      torchBin(tensors, storages, { deflate: true, archiveName: 'tinystories-33m' }),
      torchBin(tensors, storages, { zip64: true, byteorder: null }),
    ];
    for (const [v, bytes] of variants.entries()) {
      const file = openTorchCheckpoint(writeBin(bytes));
      assert.equal(file.tensors.size, 120, `variant ${v}`);
      for (const k of [0, 7, 119]) assert.deepEqual([...file.get(`layer.${k}.weight`).float32()], [k, -k, k / 8], `variant ${v}, tensor ${k}`);
    }
    const single = openTorchCheckpoint(writeBin(torchBin(tensors.slice(0, 1), storages.slice(0, 1))));
    assert.deepEqual([...single.tensors.keys()], ['layer.0.weight']);
  });

  test('protocol 4 (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL), an nn.Parameter and a tensor with metadata read too', () => {
    const w = new PickleWriter().op(OP.PROTO).raw([4]).op(0x95).raw([0, 0, 0, 0, 0, 0, 0, 0]);
    const short = (text: string): PickleWriter =>
      w
        .op(0x8c)
        .raw([text.length, ...new TextEncoder().encode(text)])
        .op(0x94);
    const stackGlobal = (module: string, name: string): PickleWriter => {
      short(module);
      short(name);
      return w.op(0x93).op(0x94);
    };
    const emptyOrderedDict = (): PickleWriter => stackGlobal('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(0x94);
    w.op(OP.EMPTY_DICT).op(0x94);
    short('embed.weight');
    stackGlobal('torch._utils', '_rebuild_parameter');
    stackGlobal('torch._utils', '_rebuild_tensor_v2');
    w.op(OP.MARK).op(OP.MARK);
    short('storage');
    stackGlobal('torch', 'FloatStorage');
    short('0');
    short('cpu');
    w.int(12).op(OP.TUPLE).op(0x94).op(OP.BINPERSID);
    w.int(0).intTuple([4, 3]).intTuple([1, 4]).op(OP.NEWFALSE);
    emptyOrderedDict();
    w.op(0x4e); // metadata None: the seventh argument
    w.op(OP.TUPLE).op(OP.REDUCE).op(0x94);
    w.op(0x88); // requires_grad True
    emptyOrderedDict();
    w.op(OP.TUPLE3).op(OP.REDUCE).op(0x94).op(OP.SETITEM).op(OP.STOP);
    const file = openTorchCheckpoint(writeBin(torchArchive(w.bytes(), [f32Storage('0', TWELVE)])));
    const embed = file.get('embed.weight');
    assert.deepEqual(embed.shape, [4, 3]);
    assert.deepEqual(
      [...embed.float32()],
      [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11].map((k) => TWELVE[k]!),
    );
  });

  test('integer and bool storages (mask buffers) are listed and fail only when read as floats', () => {
    const mask = Uint8Array.from([1, 0, 1, 1]);
    const tensors: TorchTensorSpec[] = [
      { name: 'h.0.attn.attention.bias', storage: '0', shape: [1, 1, 2, 2] },
      { name: 'position_ids', storage: '1', shape: [1, 2] },
    ];
    const storages: TorchStorageSpec[] = [
      { key: '0', dtype: 'BOOL', data: mask },
      { key: '1', dtype: 'I64', data: new Uint8Array(BigInt64Array.from([0n, 1n]).buffer) },
    ];
    const file = openTorchCheckpoint(writeBin(torchBin(tensors, storages)));
    assert.equal(file.get('h.0.attn.attention.bias').dtype, 'BOOL');
    assert.deepEqual([...file.get('h.0.attn.attention.bias').bytes()], [...mask]);
    assert.equal(file.get('position_ids').dtype, 'I64');
    assert.throws(() => file.get('h.0.attn.attention.bias').float32(), rejectsWith('UNSUPPORTED_DTYPE', 'h.0.attn.attention.bias', 'BOOL'));
    assert.throws(() => file.get('nothing'), rejectsWith('MISSING_TENSOR', 'nothing'));
  });
});

describe('refusing torch archives', () => {
  const tensors: TorchTensorSpec[] = [{ name: 'w', storage: '0', shape: [3, 4] }];
  const storages = [f32Storage('0', TWELVE)];

  test('a truncated archive', () => {
    const whole = torchBin(tensors, storages);
    for (const keep of [whole.length - 1, whole.length - 30, Math.floor(whole.length / 2), 100, 10]) {
      assert.throws(() => openTorchCheckpoint(writeBin(whole.subarray(0, keep))), rejectsWith('CORRUPT_WEIGHTS', /truncated|too short/), `${keep} bytes`);
    }
  });

  /** A pickle that calls module.name('touch <marker>'), as a malicious checkpoint would. */
  function callingPickle(module: string, name: string, marker: string, stackGlobal = false): Uint8Array {
    const w = new PickleWriter().op(OP.PROTO).raw([stackGlobal ? 4 : 2]);
    if (stackGlobal) w.string(module).string(name).op(0x93);
    else w.global(module, name);
    return w.string(`touch ${marker}`).op(OP.TUPLE1).op(OP.REDUCE).op(OP.STOP).bytes();
  }

  for (const [module, name, stackGlobal] of [
    ['os', 'system', false],
    ['posix', 'system', false],
    ['builtins', 'eval', true],
    ['subprocess', 'Popen', false],
    ['__builtin__', 'exec', false],
  ] as const) {
    test(`a pickle naming ${module}.${name}${stackGlobal ? ' (STACK_GLOBAL)' : ''} is refused naming it, and nothing runs`, () => {
      const marker = join(dir, `ran-${module}-${name}`);
      const path = writeBin(torchArchive(callingPickle(module, name, marker, stackGlobal), []));
      assert.throws(() => openTorchCheckpoint(path), rejectsWith('CORRUPT_WEIGHTS', `${module}.${name}`, 'never runs code'));
      assert.equal(existsSync(marker), false);
    });
  }

  test('torch globals other than dense tensors and storages are refused as unsupported, naming them', () => {
    const w = new PickleWriter().op(OP.PROTO).raw([2]).global('torch._utils', '_rebuild_qtensor').op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.STOP);
    assert.throws(() => openTorchCheckpoint(writeBin(torchArchive(w.bytes(), []))), rejectsWith('UNSUPPORTED_DTYPE', 'torch._utils._rebuild_qtensor'));
  });

  test('a REDUCE on a storage class, an unknown opcode, and an entry that is not a tensor', () => {
    const reduceClass = new PickleWriter().op(OP.PROTO).raw([2]).global('torch', 'FloatStorage').op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.STOP);
    assert.throws(() => openTorchCheckpoint(writeBin(torchArchive(reduceClass.bytes(), []))), rejectsWith('CORRUPT_WEIGHTS', 'torch.FloatStorage'));
    const inst = new PickleWriter().op(OP.PROTO).raw([2]).op(0x69).raw(new TextEncoder().encode('os\nsystem\n')).op(OP.STOP);
    assert.throws(() => openTorchCheckpoint(writeBin(torchArchive(inst.bytes(), []))), rejectsWith('CORRUPT_WEIGHTS', 'INST'));
    const epoch = new PickleWriter().op(OP.PROTO).raw([2]).op(OP.EMPTY_DICT).string('epoch').int(3).op(OP.SETITEM).op(OP.STOP);
    assert.throws(() => openTorchCheckpoint(writeBin(torchArchive(epoch.bytes(), []))), rejectsWith('CORRUPT_WEIGHTS', '"epoch"', 'not a tensor'));
  });

  test('a storage record that fails its CRC-32 fails when read, naming the record', () => {
    const bytes = torchBin(tensors, storages);
    // The storage's bytes are the float32 values: find element 3 (0.5) and change it.
    const needle = new Uint8Array(Float32Array.from([TWELVE[3]!]).buffer);
    const at = Buffer.from(bytes).indexOf(Buffer.from(needle));
    assert.ok(at > 0);
    const damaged = bytes.slice();
    damaged[at + 3]! ^= 0x40;
    const file = openTorchCheckpoint(writeBin(damaged));
    assert.throws(() => file.get('w').float32(), rejectsWith('CHECKSUM_MISMATCH', 'archive/data/0', 'CRC-32'));
  });

  test('a storage whose declared size disagrees with its record, and a view past its storage', () => {
    const tooMany = [{ ...storages[0]!, numel: 13 }];
    assert.throws(() => openTorchCheckpoint(writeBin(torchBin(tensors, tooMany))), rejectsWith('CORRUPT_WEIGHTS', 'sizes disagree', '13'));
    const past: TorchTensorSpec[] = [{ name: 'w', storage: '0', shape: [4, 4] }];
    assert.throws(() => openTorchCheckpoint(writeBin(torchBin(past, storages))), rejectsWith('CORRUPT_WEIGHTS', '"w"', 'element 15'));
    const missingRecord = torchArchive(stateDictPickle(tensors, storages), []);
    assert.throws(() => openTorchCheckpoint(writeBin(missingRecord)), rejectsWith('CORRUPT_WEIGHTS', 'storage "0"'));
  });

  test('a file changed on disk after it was opened is refused when a tensor is read', () => {
    const path = writeBin(torchBin(tensors, storages));
    const file = openTorchCheckpoint(path);
    assert.equal(file.get('w').float32().length, 12);
    const later = new Date(Date.now() + 5000);
    writeFileSync(path, readFileSync(path));
    utimesSync(path, later, later);
    assert.throws(() => file.get('w').float32(), rejectsWith('CORRUPT_WEIGHTS', 'changed on disk'));
  });

  test('the legacy (pre-1.6) format, a file that is not a zip, a zip without data.pkl and big-endian data are refused by name', () => {
    // Legacy torch.save: a pickled magic number (LONG1 0x1950a86a20f9469cfc6c) first.
    const legacy = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, ...new Array(40).fill(0)]);
    assert.throws(() => openTorchCheckpoint(writeBin(legacy)), rejectsWith('UNSUPPORTED_DTYPE', 'legacy torch.save format'));
    assert.throws(
      () => openTorchCheckpoint(writeBin(new TextEncoder().encode('{"not": "a zip archive at all, just some json text"}'))),
      rejectsWith('CORRUPT_WEIGHTS', 'not a zip'),
    );
    const noPickle = zipArchive([{ name: 'archive/data/0', data: storages[0]!.data }]);
    assert.throws(() => openTorchCheckpoint(writeBin(noPickle)), rejectsWith('CORRUPT_WEIGHTS', 'data.pkl'));
    assert.throws(() => openTorchCheckpoint(writeBin(torchBin(tensors, storages, { byteorder: 'big' }))), rejectsWith('UNSUPPORTED_DTYPE', 'big-endian'));
  });
});
