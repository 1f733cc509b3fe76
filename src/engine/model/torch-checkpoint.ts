/**
 * A PyTorch checkpoint (`pytorch_model.bin`, written by torch.save) as a SafetensorsFile, so the
 * loader reads it as it reads safetensors: the archive's directory and its pickle (the state dict)
 * are read when it is opened, each tensor's storage when the tensor is asked for, with positioned
 * reads. Tensors are strided views of storages: a view that is not row-major (a transposed weight)
 * is gathered into row-major order, and tensors sharing a storage (tied embeddings) each read it.
 * F32, F16, BF16 and F64 storages read as float32; integer and bool storages (GPT-Neo's attention
 * mask buffers) are listed and fail only when their float data is asked for, as in safetensors.
 *
 * The archive is `<name>/data.pkl`, `<name>/data/<key>` per storage, and `<name>/byteorder` in
 * recent versions, `<name>` being whatever torch.save chose (the file's stem, or `archive`). Files
 * from before PyTorch 1.6 are no zip archive; they are refused by name.
 */
import { EngineError } from '../errors.js';
import { bf16ToF32, f16ToF32, FLOAT_DTYPES, type SafetensorsFile, type SafetensorsTensor } from './safetensors.js';
import { PyDict, TorchTensor, unpickleTorch } from './torch-pickle.js';
import { corruptArchive, openZipArchive, type ZipArchive, type ZipArchiveHints, type ZipRecord } from './zip-archive.js';

/** A state dict's pickle is a few hundred kilobytes; anything near this is not one. */
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const CHECKPOINT_HINTS: ZipArchiveHints = {
  damaged: 'Download the checkpoint again or point Circuit Trace at an intact model folder.',
  changed: 'Load the model again.',
  unsupportedMethod: 'Save the checkpoint again with torch.save, or convert it to safetensors.',
};

function corruptCheckpoint(label: string, problem: string): EngineError {
  return corruptArchive(label, problem, CHECKPOINT_HINTS.damaged);
}

/** Why a checkpoint is not a zip archive: torch.save before 1.6 wrote consecutive pickles (the first a magic number) and raw storages. */
function notAZip(head: Uint8Array, label: string): EngineError {
  if (head[0] === 0x80 && head[1] !== undefined && head[1] <= 5) {
    return new EngineError(
      'UNSUPPORTED_DTYPE',
      `${label} is in the legacy torch.save format (PyTorch before 1.6, not a zip archive), which Circuit Trace does not read.`,
      'Save it again with a current PyTorch (torch.save(torch.load(path), path)), or convert it to safetensors.',
    );
  }
  return corruptCheckpoint(label, 'not a zip archive (a PyTorch checkpoint written by torch.save is one)');
}

/** Opens the torch.save archive at `path`; `fileLabel` names it in errors (default: the path). */
export function openTorchCheckpoint(path: string, fileLabel = path): SafetensorsFile {
  const archive = openZipArchive(path, { label: fileLabel, hints: CHECKPOINT_HINTS, onNotZip: notAZip });
  const first = archive.records.keys().next();
  const prefix = first.done ? '' : first.value.slice(0, first.value.indexOf('/') + 1);
  const pickleRecord = prefix ? archive.records.get(`${prefix}data.pkl`) : undefined;
  if (!pickleRecord) throw corruptCheckpoint(fileLabel, 'a zip archive without the data.pkl of a torch.save checkpoint');
  for (const name of archive.records.keys()) {
    if (!name.startsWith(prefix)) throw corruptCheckpoint(fileLabel, `record "${name}" lies outside the checkpoint's folder "${prefix}"`);
  }
  const byteorder = archive.records.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(archive.read(byteorder));
    if (order !== 'little') {
      throw new EngineError(
        'UNSUPPORTED_DTYPE',
        `${fileLabel} stores its tensors in ${order === 'big' ? 'big-endian' : `"${order}"`} byte order; Circuit Trace reads little-endian checkpoints.`,
        'Save the checkpoint again on a little-endian machine, or convert it to safetensors.',
      );
    }
  }
  if (pickleRecord.size > MAX_PICKLE_BYTES) throw corruptCheckpoint(fileLabel, `its data.pkl has ${pickleRecord.size} bytes, far more than a state dict's`);
  const root = unpickleTorch(archive.read(pickleRecord), fileLabel);
  if (!(root instanceof PyDict)) throw corruptCheckpoint(fileLabel, 'its pickle holds no state dict (a dict of tensors by name)');

  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, value] of root.entries) {
    if (typeof name !== 'string' || !(value instanceof TorchTensor)) {
      throw corruptCheckpoint(
        fileLabel,
        `state dict entry "${String(name)}" is not a tensor (a training checkpoint holds more than weights; save the model's state_dict alone)`,
      );
    }
    const record = archive.records.get(`${prefix}data/${value.storage.key}`);
    if (!record) throw corruptCheckpoint(fileLabel, `tensor "${name}" uses storage "${value.storage.key}", which the archive does not hold`);
    checkView(name, value, record, fileLabel);
    tensors.set(name, makeTensor(archive, record, name, value));
  }

  return {
    label: fileLabel,
    metadata: {},
    tensors,
    get(name: string): SafetensorsTensor {
      const tensor = tensors.get(name);
      if (!tensor) {
        throw new EngineError(
          'MISSING_TENSOR',
          `${fileLabel} has no tensor "${name}".`,
          'The checkpoint does not match its config.json; check that the model folder is complete.',
        );
      }
      return tensor;
    },
  };
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The storage's record holds exactly its elements, and the view's every element lies inside it. */
function checkView(name: string, tensor: TorchTensor, record: ZipRecord, label: string): void {
  const { storage } = tensor;
  if (record.size !== storage.numel * storage.elementBytes) {
    throw corruptCheckpoint(
      label,
      `the sizes disagree: storage "${storage.key}" of tensor "${name}" is ${storage.numel} ${storage.dtype} elements (${storage.numel * storage.elementBytes} bytes) but its record has ${record.size} bytes`,
    );
  }
  if (numelOf(tensor.shape) === 0) return;
  const last = tensor.storageOffset + tensor.shape.reduce((sum, size, d) => sum + (size - 1) * tensor.stride[d]!, 0);
  if (last >= storage.numel) {
    throw corruptCheckpoint(
      label,
      `tensor "${name}" [${tensor.shape.join(', ')}] (offset ${tensor.storageOffset}, strides [${tensor.stride.join(', ')}]) reaches element ${last} of storage "${storage.key}", which has ${storage.numel}`,
    );
  }
}

/** Whether the view's elements follow one another in row-major order from its offset. */
function isRowMajor(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

type Elements = Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

function elementsOf(bytes: Uint8Array, elementBytes: number): Elements {
  const { buffer, byteOffset, byteLength } = bytes;
  switch (elementBytes) {
    case 1:
      return bytes;
    case 2:
      return new Uint16Array(buffer, byteOffset, byteLength / 2);
    case 4:
      return new Uint32Array(buffer, byteOffset, byteLength / 4);
    default:
      return new BigUint64Array(buffer, byteOffset, byteLength / 8);
  }
}

/**
 * The view's elements in row-major order: `out[i]` is storage element offset + Σ index_d · stride_d
 * of the i-th index of `shape`, walked with the last dimension innermost.
 */
function gather<T extends Elements>(source: T, out: T, offset: number, shape: readonly number[], stride: readonly number[]): void {
  if (out.length === 0) return;
  if (shape.length === 0) {
    out[0] = source[offset]!;
    return;
  }
  const last = shape.length - 1;
  const innerSize = shape[last]!;
  const innerStride = stride[last]!;
  const index = new Array<number>(last).fill(0);
  let base = offset;
  let o = 0;
  for (;;) {
    for (let j = 0, s = base; j < innerSize; j++, s += innerStride) out[o++] = source[s]!;
    let d = last - 1;
    for (; d >= 0; d--) {
      index[d]!++;
      base += stride[d]!;
      if (index[d]! < shape[d]!) break;
      base -= stride[d]! * shape[d]!;
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

/** Reverses the bytes of every element (little-endian data on a big-endian host). */
function swapBytes(bytes: Uint8Array, elementBytes: number): void {
  for (let i = 0; i < bytes.length; i += elementBytes) bytes.subarray(i, i + elementBytes).reverse();
}

function makeTensor(archive: ZipArchive, record: ZipRecord, name: string, view: TorchTensor): SafetensorsTensor {
  const { storage, storageOffset, shape, stride } = view;
  const { elementBytes, dtype } = storage;
  const count = numelOf(shape);
  const byteLength = count * elementBytes;

  /** The view's bytes, row-major, in the file's (little-endian) order: always a buffer no one else holds. */
  const rowMajorBytes = (): Uint8Array => {
    // A record read is a fresh buffer at offset 0, so every element is aligned to its size.
    const contents = archive.read(record);
    if (isRowMajor(shape, stride)) {
      const start = storageOffset * elementBytes;
      return byteLength === contents.byteLength ? contents : contents.slice(start, start + byteLength);
    }
    const bytes = new Uint8Array(byteLength);
    gather(elementsOf(contents, elementBytes), elementsOf(bytes, elementBytes), storageOffset, shape, stride);
    return bytes;
  };

  return {
    name,
    dtype,
    shape,
    // Where a stored record's view starts in the file; a deflated record has no such place (-1).
    byteOffset: record.method === 0 ? archive.dataOffset(record) + storageOffset * elementBytes : -1,
    byteLength,
    bytes: rowMajorBytes,
    float32: () => {
      if (!(FLOAT_DTYPES as readonly string[]).includes(dtype)) {
        throw new EngineError(
          'UNSUPPORTED_DTYPE',
          `${archive.label}: tensor "${name}" has dtype ${dtype} (torch.${storage.storageClass}), which cannot be read as floating-point weights.`,
          `Use a checkpoint whose weights are ${FLOAT_DTYPES.join(', ')}.`,
        );
      }
      const bytes = rowMajorBytes();
      if (!HOST_IS_LITTLE_ENDIAN) swapBytes(bytes, elementBytes);
      const { buffer, byteOffset } = bytes;
      switch (dtype) {
        case 'F32':
          return new Float32Array(buffer, byteOffset, count);
        case 'F16':
          return f16ToF32(new Uint16Array(buffer, byteOffset, count));
        case 'BF16':
          return bf16ToF32(new Uint16Array(buffer, byteOffset, count));
        default:
          return new Float32Array(new Float64Array(buffer, byteOffset, count));
      }
    },
  };
}
