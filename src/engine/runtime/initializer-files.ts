/**
 * Hands a graph's initializers to ONNX Runtime through a temporary file that it maps into memory,
 * rather than through in-memory buffers.
 *
 * Why: from memory, ONNX Runtime copies every initializer into a buffer of its own, pre-packs it
 * for its GEMM kernels and frees the copy. Those copies are a few megabytes each (a GPT-2 small
 * block's matrices are 2-9 MB), and glibc's malloc, having served and freed one such block with
 * mmap, raises its mmap threshold and serves the next ones from its heap, where the freed copies
 * leave holes it never returns to the system: about 150 MB of resident memory for GPT-2 small
 * that no one uses. From a file at page-aligned offsets, ONNX Runtime maps the data instead, and
 * unmapping returns it whole. The price is writing the weights once per load (a few hundred ms
 * for GPT-2 small, into the page cache).
 */
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnxModelType } from '../onnx/onnx-proto.js';
import type { BuiltGraph } from '../onnx/graph-builder.js';

/** Offsets are multiples of this, so that ONNX Runtime can map them (64 KiB: Windows' allocation granularity, a multiple of every page size). */
export const INITIALIZER_ALIGNMENT = 65536;

/** When graphs go through files: 'auto' for those whose weights pass `AUTO_MIN_BYTES`. */
export type InitializerFiles = 'auto' | 'always' | 'never';

/** Below this, a graph's copies are too small for malloc's heap to matter; memory is simpler. */
export const AUTO_MIN_BYTES = 4 * 1024 * 1024;

interface StringEntry {
  key: string;
  value: string;
}
interface InitializerMessage {
  name: string;
  external_data?: StringEntry[];
}

/**
 * A temporary folder of model and weight files, one pair per graph, removed by `remove()`. Files
 * are an optimisation only: when the folder cannot be written (no space, read-only), `write`
 * returns null and the graph is loaded from memory, as are the ones after it.
 */
export class InitializerFolder {
  private dir: string | null = null;
  private failed = false;

  constructor(
    private readonly policy: InitializerFiles,
    private readonly parent: string = tmpdir(),
  ) {}

  /** Whether `graph` should be loaded from files under this policy. */
  wants(graph: BuiltGraph): boolean {
    if (this.failed || this.policy === 'never' || graph.externalData.length === 0) return false;
    if (this.policy === 'always') return true;
    return graph.externalData.reduce((n, e) => n + e.data.byteLength, 0) >= AUTO_MIN_BYTES;
  }

  /**
   * Writes `graph` as `<name>.onnx` with its initializers in `<name>.bin` at aligned offsets, and
   * returns the model's path (external data paths are relative to it); null if that could not be
   * done, leaving nothing behind.
   */
  write(graph: BuiltGraph, name: string): string | null {
    try {
      const bytes = graph.externalData.reduce((n, e) => n + e.data.byteLength + INITIALIZER_ALIGNMENT, 0);
      // Keep clear of filling the disk: ask for twice the room the file takes.
      const { bavail, bsize } = statfsSync(this.parent);
      if (bavail * bsize < 2 * bytes) throw new Error(`${this.parent} has too little free space`);
      return this.writeFiles(graph, name);
    } catch {
      this.failed = true;
      this.remove();
      return null;
    }
  }

  private writeFiles(graph: BuiltGraph, name: string): string {
    this.dir ??= mkdtempSync(join(this.parent, 'circuit-trace-'));
    const binName = `${name}.bin`;
    const placed = new Map<string, { offset: number; length: number }>();
    const fd = openSync(join(this.dir, binName), 'w');
    try {
      let offset = 0;
      for (const weight of graph.externalData) {
        offset = Math.ceil(offset / INITIALIZER_ALIGNMENT) * INITIALIZER_ALIGNMENT;
        let done = 0;
        while (done < weight.data.byteLength) done += writeSync(fd, weight.data, done, weight.data.byteLength - done, offset + done);
        placed.set(weight.path, { offset, length: weight.data.byteLength });
        offset += weight.data.byteLength;
      }
    } finally {
      closeSync(fd);
    }
    const type = onnxModelType();
    const message = type.toObject(type.decode(graph.model), { longs: Number, bytes: Uint8Array, defaults: false }) as {
      graph: { initializer?: InitializerMessage[] };
    };
    for (const init of message.graph.initializer ?? []) {
      const location = init.external_data?.find((e) => e.key === 'location')?.value;
      const place = location === undefined ? undefined : placed.get(location);
      if (!place) continue;
      init.external_data = [
        { key: 'location', value: binName },
        { key: 'offset', value: String(place.offset) },
        { key: 'length', value: String(place.length) },
      ];
    }
    const modelPath = join(this.dir, `${name}.onnx`);
    writeFileSync(modelPath, type.encode(type.fromObject(message)).finish());
    return modelPath;
  }

  /**
   * Deletes the files of one graph (the path `write` returned) once its session exists, so that
   * the folder holds one graph's weights at a time rather than the whole model's (gigabytes for a
   * 1B-parameter model, on a /tmp that may live in memory). Where the system refuses while ONNX
   * Runtime maps the file (Windows), it stays for `remove()`.
   */
  discard(modelPath: string): void {
    for (const path of [modelPath, modelPath.replace(/\.onnx$/, '.bin')]) {
      try {
        rmSync(path, { force: true });
      } catch {
        // Left for remove().
      }
    }
  }

  /**
   * Deletes the folder. Once the sessions exist their pre-packed weights are in memory; where the
   * system refuses to delete a file still mapped (Windows), this says so and can be called again
   * when the sessions are released.
   */
  remove(): boolean {
    if (this.dir === null) return true;
    try {
      rmSync(this.dir, { recursive: true, force: true });
      this.dir = null;
      return true;
    } catch {
      return false;
    }
  }
}
