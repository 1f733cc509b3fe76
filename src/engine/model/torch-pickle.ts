/**
 * A restricted reader of the pickle in a PyTorch checkpoint (`data.pkl` of a torch.save archive):
 * a stack machine over the opcodes a state dict needs (protocol 2, which torch.save writes, plus
 * protocol 4's framing and STACK_GLOBAL), that never runs code. Python objects become plain values:
 * None, bools, numbers, strings, tuples, lists, dicts; the only globals it knows are
 *
 *   collections.OrderedDict                 a dict (state dicts, and their empty backward hooks)
 *   torch._utils._rebuild_tensor_v2         a tensor: (storage, offset, size, stride, requires_grad, hooks[, metadata])
 *   torch._utils._rebuild_parameter         an nn.Parameter: its tensor
 *   torch.FloatStorage, torch.HalfStorage,  storage classes, named in the persistent id
 *   torch.BFloat16Storage, ...              ('storage', class, key, location, numel) of each storage
 *
 * and any other global is refused when it is met, before anything could use it. A tensor is only
 * described here (storage key, offset, shape, strides); its bytes are the archive's `data/<key>`
 * record, read by torch-checkpoint.ts. Written from the pickle opcode definitions (CPython's
 * Lib/pickletools.py) and torch's serialization (torch/serialization.py, torch/_utils.py).
 */
import { EngineError } from '../errors.js';

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

export class PyList {
  constructor(readonly items: PyValue[]) {}
}

/** A dict or OrderedDict; keys are the strings and integers a checkpoint uses. */
export class PyDict {
  readonly entries = new Map<string | number, PyValue>();
  constructor(readonly ordered: boolean) {}
}

/** One of the allowed globals, as a value (a storage class, or a function REDUCE may call). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** The element type of a torch storage class, named as safetensors names dtypes. */
export interface StorageDtype {
  readonly dtype: string;
  readonly elementBytes: number;
}

/** The torch storage classes a checkpoint may name, and their element types. */
export const TORCH_STORAGE_DTYPES: Readonly<Record<string, StorageDtype>> = {
  FloatStorage: { dtype: 'F32', elementBytes: 4 },
  HalfStorage: { dtype: 'F16', elementBytes: 2 },
  BFloat16Storage: { dtype: 'BF16', elementBytes: 2 },
  DoubleStorage: { dtype: 'F64', elementBytes: 8 },
  LongStorage: { dtype: 'I64', elementBytes: 8 },
  IntStorage: { dtype: 'I32', elementBytes: 4 },
  ShortStorage: { dtype: 'I16', elementBytes: 2 },
  CharStorage: { dtype: 'I8', elementBytes: 1 },
  ByteStorage: { dtype: 'U8', elementBytes: 1 },
  BoolStorage: { dtype: 'BOOL', elementBytes: 1 },
};

/** A storage of the archive (its bytes are the record `data/<key>`); tensors sharing it hold the same object. */
export interface TorchStorage {
  readonly storageClass: string;
  readonly dtype: string;
  readonly elementBytes: number;
  readonly key: string;
  readonly location: string;
  /** Its size in elements. */
  readonly numel: number;
}

/** A tensor as torch rebuilds it: a strided view of a storage (offset and strides in elements). */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

export type PyValue = null | boolean | number | string | PyTuple | PyList | PyDict | PyGlobal | TorchTensor | TorchStorageRef;

/** A storage as the pickle refers to it (the value of a persistent id). */
export class TorchStorageRef {
  constructor(readonly storage: TorchStorage) {}
}

const ALLOWED_FUNCTIONS = new Set(['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter']);

function corrupt(label: string, problem: string): EngineError {
  return new EngineError('CORRUPT_WEIGHTS', `${label}: ${problem}.`, 'Download the checkpoint again, or convert it to safetensors.');
}

/** The allowed global `module.name`, or a typed error naming it. */
function allowedGlobal(module: string, name: string, label: string): PyGlobal {
  const qualified = `${module}.${name}`;
  if (ALLOWED_FUNCTIONS.has(qualified)) return new PyGlobal(module, name);
  if (module === 'torch' && Object.hasOwn(TORCH_STORAGE_DTYPES, name)) return new PyGlobal(module, name);
  if (module === 'torch' || module.startsWith('torch.')) {
    throw new EngineError(
      'UNSUPPORTED_DTYPE',
      `${label}: its pickle uses ${qualified}, which Circuit Trace does not read (it reads dense tensors of float, integer and bool storages).`,
      'Convert the checkpoint to safetensors, or save a plain state dict of dense tensors.',
    );
  }
  throw new EngineError(
    'CORRUPT_WEIGHTS',
    `${label}: its pickle refers to the Python global ${qualified}, which a weights file never needs. Circuit Trace never runs code from a checkpoint, so it refuses the file.`,
    'Use a checkpoint from a source you trust, preferably in safetensors format.',
  );
}

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

/** Opcode names for messages about opcodes outside the allowed set. */
const OPCODE_NAMES: Readonly<Record<number, string>> = {
  0x63: 'GLOBAL',
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x50: 'PERSID',
  0x49: 'INT',
  0x4c: 'LONG',
  0x46: 'FLOAT',
  0x53: 'STRING',
  0x56: 'UNICODE',
  0x70: 'PUT',
  0x67: 'GET',
  0x6c: 'LIST',
  0x64: 'DICT',
  0x30: 'POP',
  0x31: 'POP_MARK',
  0x32: 'DUP',
  0x8b: 'LONG4',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
  0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES',
  0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING',
  0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
};

/**
 * Reads the pickle of a torch.save archive and returns its root object. `label` names the file in
 * errors. Tensors come back as TorchTensor, their storages shared by key.
 */
export function unpickleTorch(bytes: Uint8Array, label: string): PyValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  const storages = new Map<string, TorchStorage>();
  let at = 0;

  const need = (n: number, what: string): void => {
    if (at + n > bytes.byteLength) throw corrupt(label, `its pickle is cut short inside ${what}`);
  };
  const u8 = (): number => {
    need(1, 'an argument');
    return bytes[at++]!;
  };
  const u16 = (): number => {
    need(2, 'an argument');
    const v = view.getUint16(at, true);
    at += 2;
    return v;
  };
  const u32 = (): number => {
    need(4, 'an argument');
    const v = view.getUint32(at, true);
    at += 4;
    return v;
  };
  const text = (n: number): string => {
    need(n, 'a string');
    try {
      return utf8.decode(bytes.subarray(at, at + n));
    } catch {
      throw corrupt(label, `its pickle holds a string at byte ${at} that is not UTF-8`);
    } finally {
      at += n;
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) throw corrupt(label, 'its pickle is cut short inside a global name');
    return text(end - at + 1).slice(0, -1);
  };
  // Items above the innermost MARK (the MARK itself sits at index marks.at(-1)).
  const floor = (): number => (marks.at(-1) ?? -1) + 1;
  const pop = (): PyValue => {
    if (stack.length <= floor()) throw corrupt(label, `its pickle pops an empty stack at byte ${at}`);
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length <= floor()) throw corrupt(label, `its pickle reads an empty stack at byte ${at}`);
    return stack[stack.length - 1] as PyValue;
  };
  const popMark = (): PyValue[] => {
    const mark = marks.pop();
    if (mark === undefined) throw corrupt(label, `its pickle closes a MARK it never opened, at byte ${at}`);
    const items = stack.splice(mark) as StackItem[];
    items.shift(); // the MARK itself
    return items as PyValue[];
  };
  const memoGet = (index: number): PyValue => {
    if (!memo.has(index)) throw corrupt(label, `its pickle reads memo entry ${index}, which was never stored`);
    return memo.get(index)!;
  };
  const memoPut = (index: number): void => {
    memo.set(index, top());
  };
  const dictOf = (value: PyValue, opcode: string): PyDict => {
    if (!(value instanceof PyDict)) throw corrupt(label, `its pickle applies ${opcode} to something that is not a dict`);
    return value;
  };
  const setItem = (dict: PyDict, key: PyValue, value: PyValue): void => {
    if (typeof key !== 'string' && typeof key !== 'number') throw corrupt(label, 'its pickle has a dict key that is neither a string nor an integer');
    dict.entries.set(key, value);
  };

  for (;;) {
    if (at >= bytes.byteLength) throw corrupt(label, 'its pickle ends without a STOP opcode');
    const opcodeAt = at;
    const opcode = bytes[at++]!;
    switch (opcode) {
      case 0x80: {
        // PROTO
        const protocol = u8();
        if (protocol < 2 || protocol > 5) throw corrupt(label, `its pickle declares protocol ${protocol}`);
        break;
      }
      case 0x95: // FRAME: a length hint only
        need(8, 'a frame length');
        at += 8;
        break;
      case 0x2e: {
        // STOP
        const result = pop();
        if (marks.length > 0 || stack.length > 0) throw corrupt(label, 'its pickle stops with objects left on the stack');
        return result;
      }
      case 0x28: // MARK
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict(false));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push(new PyList([]));
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x61: {
        // APPEND
        const item = pop();
        const list = top();
        if (!(list instanceof PyList)) throw corrupt(label, 'its pickle appends to something that is not a list');
        list.items.push(item);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!(list instanceof PyList)) throw corrupt(label, 'its pickle appends to something that is not a list');
        list.items.push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItem(dictOf(top(), 'SETITEM'), key, value);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2 !== 0) throw corrupt(label, 'its pickle has a SETITEMS with a key and no value');
        const dict = dictOf(top(), 'SETITEMS');
        for (let i = 0; i < items.length; i += 2) setItem(dict, items[i]!, items[i + 1]!);
        break;
      }
      case 0x71: // BINPUT
        memoPut(u8());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const module = line();
        stack.push(allowedGlobal(module, line(), label));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw corrupt(label, 'its pickle has a STACK_GLOBAL whose names are not strings');
        stack.push(allowedGlobal(module, name, label));
        break;
      }
      case 0x52: {
        // REDUCE: callable(*args)
        const args = pop();
        const callable = pop();
        if (!(args instanceof PyTuple)) throw corrupt(label, 'its pickle calls a function with arguments that are not a tuple');
        stack.push(call(callable, args.items, label));
        break;
      }
      case 0x62: {
        // BUILD: only an OrderedDict's attributes (a state dict's `_metadata`), which carry no weights.
        const state = pop();
        const target = top();
        if (!(target instanceof PyDict) || !(state === null || state instanceof PyDict)) {
          throw corrupt(label, 'its pickle sets the state of an object other than a dict (only a state dict is read)');
        }
        break;
      }
      case 0x51: {
        // BINPERSID
        stack.push(persistentLoad(pop(), storages, label));
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: {
        // BININT: signed 4 bytes
        need(4, 'an integer');
        stack.push(view.getInt32(at, true));
        at += 4;
        break;
      }
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: {
        // LONG1: n-byte little-endian two's complement
        const n = u8();
        need(n, 'an integer');
        stack.push(longOf(bytes.subarray(at, at + n), label));
        at += n;
        break;
      }
      case 0x47: {
        // BINFLOAT: big-endian float64
        need(8, 'a float');
        stack.push(view.getFloat64(at, false));
        at += 8;
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      default: {
        const name = OPCODE_NAMES[opcode] ?? `0x${opcode.toString(16).padStart(2, '0')}`;
        throw corrupt(label, `its pickle uses opcode ${name} at byte ${opcodeAt}, which a torch.save state dict does not need, so it is not read`);
      }
    }
  }
}

/** A LONG1 integer, which must be a safe integer (sizes, offsets, element counts). */
function longOf(le: Uint8Array, label: string): number {
  if (le.length === 0) return 0;
  let value = 0n;
  for (let i = le.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(le[i]!);
  if (le[le.length - 1]! & 0x80) value -= 1n << BigInt(8 * le.length);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
    throw corrupt(label, `its pickle holds the integer ${value}, beyond 2^53`);
  return Number(value);
}

function isIndex(value: PyValue): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** The persistent id ('storage', StorageClass, key, location, numel): one storage per key. */
function persistentLoad(pid: PyValue, storages: Map<string, TorchStorage>, label: string): TorchStorageRef {
  if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage') throw corrupt(label, 'its pickle has a persistent id that is not a torch storage');
  const [, storageClass, key, location, numel] = pid.items;
  if (pid.items.length !== 5 || !(storageClass instanceof PyGlobal) || typeof key !== 'string' || typeof location !== 'string' || !isIndex(numel ?? null)) {
    throw corrupt(label, "its pickle has a storage id that is not ('storage', class, key, location, numel)");
  }
  const dtype = storageClass.module === 'torch' ? TORCH_STORAGE_DTYPES[storageClass.name] : undefined;
  if (!dtype) throw corrupt(label, `its pickle names ${storageClass.qualifiedName} as the class of storage "${key}"`);
  const known = storages.get(key);
  if (known) {
    if (known.storageClass !== storageClass.name || known.numel !== numel) {
      throw corrupt(label, `storage "${key}" is described twice, as ${known.storageClass} of ${known.numel} and as ${storageClass.name} of ${String(numel)}`);
    }
    return new TorchStorageRef(known);
  }
  const storage: TorchStorage = { storageClass: storageClass.name, ...dtype, key, location, numel: numel as number };
  storages.set(key, storage);
  return new TorchStorageRef(storage);
}

function call(callable: PyValue, args: readonly PyValue[], label: string): PyValue {
  if (!(callable instanceof PyGlobal) || !ALLOWED_FUNCTIONS.has(callable.qualifiedName)) {
    const what = callable instanceof PyGlobal ? callable.qualifiedName : 'something that is not a function';
    throw corrupt(label, `its pickle calls ${what}`);
  }
  switch (callable.qualifiedName) {
    case 'collections.OrderedDict':
      if (args.length !== 0) throw corrupt(label, 'its pickle builds an OrderedDict from arguments (a state dict is built empty, then filled)');
      return new PyDict(true);
    case 'torch._utils._rebuild_parameter': {
      const [data, requiresGrad] = args;
      if (args.length !== 3 || !(data instanceof TorchTensor) || typeof requiresGrad !== 'boolean') {
        throw corrupt(label, 'its pickle rebuilds a parameter from arguments that are not (tensor, requires_grad, hooks)');
      }
      return data;
    }
    default:
      return rebuildTensor(args, label);
  }
}

/** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
function rebuildTensor(args: readonly PyValue[], label: string): TorchTensor {
  const [storage, offset, size, stride, requiresGrad, hooks] = args;
  const shape = size instanceof PyTuple ? size.items : null;
  const strides = stride instanceof PyTuple ? stride.items : null;
  if (
    (args.length !== 6 && args.length !== 7) ||
    !(storage instanceof TorchStorageRef) ||
    !isIndex(offset ?? null) ||
    !shape?.every(isIndex) ||
    !strides?.every(isIndex) ||
    strides.length !== shape.length ||
    typeof requiresGrad !== 'boolean'
  ) {
    throw corrupt(label, 'its pickle rebuilds a tensor from arguments that are not (storage, offset, size, stride, requires_grad, hooks)');
  }
  if (!(hooks instanceof PyDict) || hooks.entries.size > 0)
    throw corrupt(label, 'its pickle gives a tensor backward hooks, which a saved state dict never has');
  return new TorchTensor(storage.storage, offset as number, shape as number[], strides as number[]);
}
