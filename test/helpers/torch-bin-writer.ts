/**
 * Writes PyTorch checkpoints (`pytorch_model.bin`) in the layout torch.save gives them, without
 * torch, so tests can load .bin files: a zip archive (records stored, each record's data aligned to
 * 64 bytes by padding its local extra field, as torch's writer does; optionally deflated records and
 * zip64 fields) holding `<name>/data.pkl`, `<name>/data/<key>` per storage, `<name>/byteorder` and
 * `<name>/version`; and the pickle as Python's protocol-2 pickler writes a state dict: a dict (or an
 * OrderedDict with a `_metadata` state) of `torch._utils._rebuild_tensor_v2(storage, offset, size,
 * stride, False, OrderedDict())`, each storage a persistent id ('storage', torch.<Dtype>Storage, key,
 * 'cpu', numel), with repeated globals and strings memoized and fetched again with BINGET.
 *
 * Written from the zip specification (PKWARE APPNOTE), the pickle opcode definitions and
 * torch/serialization.py; the reader under test (src/engine/model/torch-*.ts) is not used.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import type { HfTensor } from '../../src/engine/model/hf-gpt2-layout.js';
import { f32ToBf16, f32ToF16 } from '../../src/engine/model/safetensors-writer.js';

export interface ZipEntrySpec {
  name: string;
  data: Uint8Array;
  /** Deflate this record (torch stores them; other zip writers may not). */
  deflate?: boolean;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO-HDLC, the zip polynomial), bit by bit from its table. */
export function zipCrc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

class ByteSink {
  private readonly chunks: Uint8Array[] = [];
  length = 0;
  bytes(data: Uint8Array | number[]): this {
    const chunk = data instanceof Uint8Array ? data : Uint8Array.from(data);
    this.chunks.push(chunk);
    this.length += chunk.length;
    return this;
  }
  u8(v: number): this {
    return this.bytes([v & 0xff]);
  }
  u16(v: number): this {
    return this.bytes([v & 0xff, (v >>> 8) & 0xff]);
  }
  u32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    return this.bytes(b);
  }
  u64(v: number): this {
    return this.u32(v % 2 ** 32).u32(Math.floor(v / 2 ** 32));
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** A zip archive of `entries`; `zip64` writes every size and offset in zip64 fields and end records. */
export function zipArchive(entries: readonly ZipEntrySpec[], options: { zip64?: boolean; align?: number } = {}): Uint8Array {
  const align = options.align ?? 64;
  const out = new ByteSink();
  const central = new ByteSink();
  const encoder = new TextEncoder();
  for (const entry of entries) {
    const name = encoder.encode(entry.name);
    const stored = entry.deflate ? new Uint8Array(deflateRawSync(entry.data)) : entry.data;
    const crc = zipCrc32(entry.data);
    const method = entry.deflate ? 8 : 0;
    const offset = out.length;
    // Pad the local extra field (id "FB", as torch's writer) so the data starts on an `align` boundary.
    const unpadded = offset + 30 + name.length + 4;
    const padding = (align - (unpadded % align)) % align;
    out.u32(0x04034b50).u16(20).u16(0).u16(method).u16(0).u16(0x21).u32(crc).u32(stored.length).u32(entry.data.length);
    out
      .u16(name.length)
      .u16(4 + padding)
      .bytes(name);
    out.u16(0x4246).u16(padding).bytes(new Uint8Array(padding));
    out.bytes(stored);

    const zip64Extra = new ByteSink();
    if (options.zip64) zip64Extra.u16(0x0001).u16(24).u64(entry.data.length).u64(stored.length).u64(offset);
    const big = options.zip64 ? 0xffffffff : null;
    central
      .u32(0x02014b50)
      .u16(45)
      .u16(options.zip64 ? 45 : 20)
      .u16(0)
      .u16(method)
      .u16(0)
      .u16(0x21)
      .u32(crc);
    central.u32(big ?? stored.length).u32(big ?? entry.data.length);
    central
      .u16(name.length)
      .u16(zip64Extra.length)
      .u16(0)
      .u16(0)
      .u16(0)
      .u32(0)
      .u32(big ?? offset);
    central.bytes(name).bytes(zip64Extra.concat());
  }
  const directoryOffset = out.length;
  out.bytes(central.concat());
  if (options.zip64) {
    const recordOffset = out.length;
    out.u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(entries.length).u64(entries.length).u64(central.length).u64(directoryOffset);
    out.u32(0x07064b50).u32(0).u64(recordOffset).u32(1);
    out.u32(0x06054b50).u16(0).u16(0).u16(0xffff).u16(0xffff).u32(0xffffffff).u32(0xffffffff).u16(0);
  } else {
    out.u32(0x06054b50).u16(0).u16(0).u16(entries.length).u16(entries.length).u32(central.length).u32(directoryOffset).u16(0);
  }
  return out.concat();
}

/** Pickle opcodes, by their byte (CPython's Lib/pickletools.py). */
export const OP = {
  PROTO: 0x80,
  STOP: 0x2e,
  MARK: 0x28,
  EMPTY_DICT: 0x7d,
  EMPTY_TUPLE: 0x29,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  GLOBAL: 0x63,
  REDUCE: 0x52,
  BUILD: 0x62,
  BINPERSID: 0x51,
  NEWFALSE: 0x89,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  LONG1: 0x8a,
  BINUNICODE: 0x58,
} as const;

/** Protocol-2 pickle output with Python's memo: globals and strings stored once, fetched again with BINGET. */
export class PickleWriter {
  private readonly sink = new ByteSink();
  private readonly memo = new Map<string, number>();
  private nextMemo = 0;

  op(code: number): this {
    this.sink.u8(code);
    return this;
  }
  raw(bytes: Uint8Array | number[]): this {
    this.sink.bytes(bytes);
    return this;
  }
  private put(): void {
    const index = this.nextMemo++;
    if (index < 256) this.op(OP.BINPUT).sink.u8(index);
    else this.op(OP.LONG_BINPUT).sink.u32(index);
  }
  /** Memoizes the object just written (as Python does after tuples, dicts and REDUCE results). */
  memoize(): this {
    this.put();
    return this;
  }
  private fetch(key: string): boolean {
    const index = this.memo.get(key);
    if (index === undefined) return false;
    if (index < 256) this.op(OP.BINGET).sink.u8(index);
    else this.op(OP.LONG_BINGET).sink.u32(index);
    return true;
  }
  private remember(key: string): void {
    this.memo.set(key, this.nextMemo);
    this.put();
  }
  global(module: string, name: string): this {
    const key = `global:${module}.${name}`;
    if (this.fetch(key)) return this;
    this.op(OP.GLOBAL).raw(new TextEncoder().encode(`${module}\n${name}\n`));
    this.remember(key);
    return this;
  }
  string(value: string): this {
    const key = `str:${value}`;
    if (this.fetch(key)) return this;
    const bytes = new TextEncoder().encode(value);
    this.op(OP.BINUNICODE).sink.u32(bytes.length);
    this.raw(bytes);
    this.remember(key);
    return this;
  }
  int(value: number): this {
    if (value >= 0 && value <= 0xff) return this.op(OP.BININT1).raw([value]);
    if (value >= 0 && value <= 0xffff) this.op(OP.BININT2).sink.u16(value);
    else if (value >= -(2 ** 31) && value < 2 ** 31) this.op(OP.BININT).sink.u32(value >>> 0);
    else {
      // LONG1: the shortest little-endian two's complement that keeps the sign.
      let v = BigInt(value);
      const bytes: number[] = [];
      do {
        bytes.push(Number(v & 0xffn));
        v >>= 8n;
      } while (!((v === 0n && (bytes.at(-1)! & 0x80) === 0) || (v === -1n && (bytes.at(-1)! & 0x80) !== 0)));
      this.op(OP.LONG1).sink.u8(bytes.length);
      this.raw(bytes);
    }
    return this;
  }
  /** A tuple of ints, as Python writes it: TUPLE1-3 or MARK … TUPLE, then memoized. */
  intTuple(values: readonly number[]): this {
    if (values.length === 0) return this.op(OP.EMPTY_TUPLE);
    if (values.length > 3) this.op(OP.MARK);
    for (const v of values) this.int(v);
    this.op(values.length === 1 ? OP.TUPLE1 : values.length === 2 ? OP.TUPLE2 : values.length === 3 ? OP.TUPLE3 : OP.TUPLE);
    return this.memoize();
  }
  bytes(): Uint8Array {
    return this.sink.concat();
  }
}

export type TorchStorageDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'BOOL' | 'U8';

const STORAGE_CLASS: Record<TorchStorageDtype, { name: string; bytes: number }> = {
  F32: { name: 'FloatStorage', bytes: 4 },
  F16: { name: 'HalfStorage', bytes: 2 },
  BF16: { name: 'BFloat16Storage', bytes: 2 },
  F64: { name: 'DoubleStorage', bytes: 8 },
  I64: { name: 'LongStorage', bytes: 8 },
  BOOL: { name: 'BoolStorage', bytes: 1 },
  U8: { name: 'ByteStorage', bytes: 1 },
};

export interface TorchStorageSpec {
  key: string;
  dtype: TorchStorageDtype;
  /** The storage's bytes, little-endian. */
  data: Uint8Array;
  /** The element count the pickle declares (default: the data's). */
  numel?: number;
}

export interface TorchTensorSpec {
  name: string;
  storage: string;
  shape: readonly number[];
  /** Default: row-major. */
  stride?: readonly number[];
  offset?: number;
}

export function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
}

/** The bytes of float32 values stored as `dtype`. */
export function storageBytes(values: Float32Array, dtype: 'F32' | 'F16' | 'BF16' | 'F64'): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(Float32Array.from(values).buffer);
    case 'F16':
      return new Uint8Array(f32ToF16(values).buffer);
    case 'BF16':
      return new Uint8Array(f32ToBf16(values).buffer);
    default:
      return new Uint8Array(Float64Array.from(values).buffer);
  }
}

export interface StateDictPickleOptions {
  /** An OrderedDict with the `_metadata` state torch's state_dict() gives (default: a plain dict, as transformers saves). */
  ordered?: boolean;
}

/** data.pkl of a state dict of `tensors` over `storages`, as torch.save pickles it. */
export function stateDictPickle(tensors: readonly TorchTensorSpec[], storages: readonly TorchStorageSpec[], options: StateDictPickleOptions = {}): Uint8Array {
  const byKey = new Map(storages.map((s) => [s.key, s]));
  const w = new PickleWriter().op(OP.PROTO).raw([2]);
  if (options.ordered) w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE).memoize();
  else w.op(OP.EMPTY_DICT).memoize();
  const writeTensor = (t: TorchTensorSpec): void => {
    const storage = byKey.get(t.storage);
    if (!storage) throw new Error(`no storage ${t.storage}`);
    const cls = STORAGE_CLASS[storage.dtype];
    w.string(t.name);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.op(OP.MARK);
    // The persistent id ('storage', class, key, location, numel), then BINPERSID.
    w.op(OP.MARK)
      .string('storage')
      .global('torch', cls.name)
      .string(storage.key)
      .string('cpu')
      .int(storage.numel ?? storage.data.length / cls.bytes);
    w.op(OP.TUPLE).memoize().op(OP.BINPERSID);
    w.int(t.offset ?? 0)
      .intTuple(t.shape)
      .intTuple(t.stride ?? rowMajorStrides(t.shape));
    w.op(OP.NEWFALSE);
    w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE).memoize();
    w.op(OP.TUPLE).memoize().op(OP.REDUCE).memoize();
  };
  // Python's pickler sets items in batches of 1000, a batch of one with SETITEM.
  for (let start = 0; start < tensors.length; start += 1000) {
    const batch = tensors.slice(start, start + 1000);
    if (batch.length === 1) {
      writeTensor(batch[0]!);
      w.op(OP.SETITEM);
    } else {
      w.op(OP.MARK);
      batch.forEach(writeTensor);
      w.op(OP.SETITEMS);
    }
  }
  if (options.ordered) {
    // The state {'_metadata': OrderedDict({'': {'version': 1}})} that state_dict() attaches.
    w.op(OP.EMPTY_DICT).memoize().string('_metadata');
    w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE).memoize();
    w.string('').op(OP.EMPTY_DICT).memoize().string('version').int(1).op(OP.SETITEM).op(OP.SETITEM);
    w.op(OP.SETITEM).op(OP.BUILD);
  }
  return w.op(OP.STOP).bytes();
}

export interface TorchArchiveOptions extends StateDictPickleOptions {
  /** The archive's top folder (torch.save uses the file's stem; `archive` for a buffer). */
  archiveName?: string;
  /** Deflate the storage records. */
  deflate?: boolean;
  zip64?: boolean;
  /** The byteorder record's contents; null leaves it out, as torch before 2.1 did. */
  byteorder?: string | null;
}

/** A whole torch.save archive around `pickle` (data.pkl) and the storages' records. */
export function torchArchive(pickle: Uint8Array, storages: readonly TorchStorageSpec[], options: TorchArchiveOptions = {}): Uint8Array {
  const prefix = options.archiveName ?? 'archive';
  const text = (s: string) => new TextEncoder().encode(s);
  const entries: ZipEntrySpec[] = [{ name: `${prefix}/data.pkl`, data: pickle }];
  const byteorder = options.byteorder === undefined ? 'little' : options.byteorder;
  if (byteorder !== null) entries.push({ name: `${prefix}/byteorder`, data: text(byteorder) });
  for (const s of storages) entries.push({ name: `${prefix}/data/${s.key}`, data: s.data, ...(options.deflate ? { deflate: true } : {}) });
  entries.push({ name: `${prefix}/version`, data: text('3\n') }, { name: `${prefix}/.data/serialization_id`, data: text('0123456789\n') });
  return zipArchive(entries, options.zip64 ? { zip64: true } : {});
}

/** A torch.save archive of a state dict. */
export function torchBin(tensors: readonly TorchTensorSpec[], storages: readonly TorchStorageSpec[], options: TorchArchiveOptions = {}): Uint8Array {
  return torchArchive(stateDictPickle(tensors, storages, options), storages, options);
}

export interface StateDictLayout {
  /** How float weights are stored (default F32). */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** name → name of an earlier tensor whose storage it shares (tied weights, as state_dict() gives them). */
  tiedTo?: Readonly<Record<string, string>>;
  /** 2-D tensors stored transposed: the storage holds W^T row-major, the tensor is its view with strides [1, rows]. */
  transposed?: ReadonlySet<string>;
  /** Tensors whose storage is shared with one more: the tensor is a view at an offset into a larger storage. */
  offsetInto?: ReadonlySet<string>;
  /** Extra non-float tensors (mask buffers), written as given. */
  extras?: ReadonlyArray<{ name: string; dtype: TorchStorageDtype; shape: readonly number[]; data: Uint8Array }>;
}

/** Storages and tensor views of HF tensors (row-major float32 values) in the layouts torch saves. */
export function stateDictOf(hf: readonly HfTensor[], layout: StateDictLayout = {}): { tensors: TorchTensorSpec[]; storages: TorchStorageSpec[] } {
  const dtype = layout.dtype ?? 'F32';
  const known = new Set(hf.map((t) => t.name));
  for (const name of [...(layout.transposed ?? []), ...(layout.offsetInto ?? []), ...Object.keys(layout.tiedTo ?? {})]) {
    if (!known.has(name)) throw new Error(`the layout names ${name}, which is not among the tensors`);
  }
  const tensors: TorchTensorSpec[] = [];
  const storages: TorchStorageSpec[] = [];
  const storageOf = new Map<string, string>();
  for (const t of hf) {
    const tiedTo = layout.tiedTo?.[t.name];
    if (tiedTo) {
      const key = storageOf.get(tiedTo);
      if (key === undefined) throw new Error(`${t.name} is tied to ${tiedTo}, which comes later or not at all`);
      tensors.push({ name: t.name, storage: key, shape: t.shape });
      storageOf.set(t.name, key);
      continue;
    }
    const key = String(storages.length);
    storageOf.set(t.name, key);
    if (layout.transposed?.has(t.name)) {
      const [rows, cols] = t.shape as [number, number];
      const transposed = new Float32Array(rows * cols); // [cols, rows]
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) transposed[j * rows + i] = t.data[i * cols + j]!;
      storages.push({ key, dtype, data: storageBytes(transposed, dtype) });
      tensors.push({ name: t.name, storage: key, shape: t.shape, stride: [1, rows] });
    } else if (layout.offsetInto?.has(t.name)) {
      // 5 leading and 3 trailing elements that belong to no tensor here.
      const padded = new Float32Array(t.data.length + 8).fill(7.25);
      padded.set(t.data, 5);
      storages.push({ key, dtype, data: storageBytes(padded, dtype) });
      tensors.push({ name: t.name, storage: key, shape: t.shape, offset: 5 });
    } else {
      storages.push({ key, dtype, data: storageBytes(t.data, dtype) });
      tensors.push({ name: t.name, storage: key, shape: t.shape });
    }
  }
  for (const extra of layout.extras ?? []) {
    const key = String(storages.length);
    storages.push({ key, dtype: extra.dtype, data: extra.data });
    tensors.push({ name: extra.name, storage: key, shape: extra.shape });
  }
  return { tensors, storages };
}

export interface TorchFolderContent {
  config: object;
  tensors: readonly HfTensor[];
  tokenizerJson?: object | null;
}

/**
 * A model folder with pytorch_model.bin, or with `shards` files `pytorch_model-0000X-of-0000Y.bin`
 * and pytorch_model.bin.index.json (as transformers' save_pretrained writes them), config.json and
 * tokenizer.json. Returns the names of the files written.
 */
export async function writeTorchBinFolder(
  dir: string,
  content: TorchFolderContent,
  options: StateDictLayout & TorchArchiveOptions & { shards?: number } = {},
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const json = async (name: string, value: object): Promise<void> => {
    await writeFile(join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
    written.push(name);
  };
  await json('config.json', content.config);
  if (content.tokenizerJson) await json('tokenizer.json', content.tokenizerJson);
  const shards = options.shards ?? 1;
  const { tensors, storages } = stateDictOf(content.tensors, options);
  if (shards === 1) {
    await writeFile(join(dir, 'pytorch_model.bin'), torchBin(tensors, storages, { archiveName: 'pytorch_model', ...options }));
    written.push('pytorch_model.bin');
    return written;
  }
  // Shards split by tensor count; tensors sharing a storage stay in the shard of the storage.
  const pad = (n: number) => String(n).padStart(5, '0');
  const perShard = Math.ceil(tensors.length / shards);
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (let s = 0; s < shards; s++) {
    const file = `pytorch_model-${pad(s + 1)}-of-${pad(shards)}.bin`;
    const own = tensors.slice(s * perShard, (s + 1) * perShard);
    const keys = new Set(own.map((t) => t.storage));
    const ownStorages = storages.filter((st) => keys.has(st.key));
    await writeFile(join(dir, file), torchBin(own, ownStorages, { archiveName: `pytorch_model-${pad(s + 1)}-of-${pad(shards)}`, ...options }));
    written.push(file);
    for (const t of own) weightMap[t.name] = file;
    totalSize += ownStorages.reduce((sum, st) => sum + st.data.length, 0);
  }
  await json('pytorch_model.bin.index.json', { metadata: { total_size: totalSize }, weight_map: weightMap });
  return written;
}
