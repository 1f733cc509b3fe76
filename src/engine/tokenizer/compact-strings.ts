/**
 * Read-only string tables held in a handful of flat objects (one string of all keys, typed arrays
 * of offsets, values and hash slots) rather than one heap object per key.
 *
 * Why: a BPE vocabulary is some 50 000 strings, and its merge ranks as many again. As a `Map` or an
 * array of strings each is an object that every full garbage collection of the engine's thread
 * marks, and the forward pass sets one off nearly every run (onnxruntime-node hands back its
 * results, 27 MB for GPT-2 small at 64 tokens, as new ArrayBuffers). That marking runs on a third
 * thread beside ONNX Runtime's two and costs a 64-token forward several milliseconds on a 2-core
 * machine. A long string and a typed array are leaves to the collector: marked in one step.
 */

/** FNV-1a over UTF-16 code units: cheap, and spreads byte-level BPE spellings well. */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Keys (or list items) laid end to end in one string, with their start offsets. */
interface PackedStrings {
  chars: string;
  /** [n + 1]: item i is chars[starts[i], starts[i + 1]) */
  starts: Int32Array;
}

function pack(items: readonly string[]): PackedStrings {
  const starts = new Int32Array(items.length + 1);
  for (let i = 0; i < items.length; i++) starts[i + 1] = starts[i]! + items[i]!.length;
  return { chars: items.join(''), starts };
}

/** A read-only map from strings to integers, with the `get`/`has`/`size` of a `Map`. */
export class CompactStringTable {
  private readonly keys: PackedStrings;
  private readonly values: Int32Array;
  /** Open addressing with linear probing: entry index + 1, or 0 for an empty slot. Power-of-two length. */
  private readonly slots: Int32Array;
  readonly size: number;

  /** Entries as a `Map` iterates them: string keys, unique; 32-bit integer values. Anything else throws. */
  constructor(entries: Iterable<readonly [string, number]>) {
    const keys: string[] = [];
    const values: number[] = [];
    for (const [key, value] of entries) {
      if (typeof key !== 'string') throw new TypeError(`CompactStringTable holds string keys, not ${typeof key}`);
      if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new RangeError(`CompactStringTable holds 32-bit integers, not ${value}`);
      keys.push(key);
      values.push(value);
    }
    this.size = keys.length;
    this.keys = pack(keys);
    this.values = Int32Array.from(values);
    let capacity = 8;
    while (capacity < 2 * keys.length) capacity *= 2;
    this.slots = new Int32Array(capacity);
    const mask = capacity - 1;
    keys.forEach((key, i) => {
      let slot = hashOf(key) & mask;
      while (this.slots[slot] !== 0) {
        if (this.keyEquals(this.slots[slot]! - 1, key)) throw new RangeError(`CompactStringTable: duplicate key ${JSON.stringify(key)}`);
        slot = (slot + 1) & mask;
      }
      this.slots[slot] = i + 1;
    });
  }

  get(key: string): number | undefined {
    const index = this.indexOf(key);
    return index < 0 ? undefined : this.values[index];
  }

  has(key: string): boolean {
    return this.indexOf(key) >= 0;
  }

  private indexOf(key: string): number {
    const mask = this.slots.length - 1;
    for (let slot = hashOf(key) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]!;
      if (entry === 0) return -1;
      if (this.keyEquals(entry - 1, key)) return entry - 1;
    }
  }

  private keyEquals(index: number, key: string): boolean {
    const start = this.keys.starts[index]!;
    return this.keys.starts[index + 1]! - start === key.length && this.keys.chars.startsWith(key, start);
  }
}

/** A read-only list of strings with holes (an id without a token), read by index. */
export class CompactStringList {
  private readonly items: PackedStrings;
  /** 1 where the source had a string. */
  private readonly present: Uint8Array;

  /** Strings, or undefined for a hole; anything else throws. */
  constructor(source: ArrayLike<string | undefined>) {
    const items: string[] = [];
    this.present = new Uint8Array(source.length);
    for (let i = 0; i < source.length; i++) {
      const item = source[i];
      if (item !== undefined && typeof item !== 'string') throw new TypeError(`CompactStringList holds strings, not ${typeof item}`);
      if (typeof item === 'string') this.present[i] = 1;
      items.push(item ?? '');
    }
    this.items = pack(items);
  }

  get length(): number {
    return this.present.length;
  }

  at(index: number): string | undefined {
    if (!Number.isInteger(index) || index < 0 || index >= this.present.length || this.present[index] === 0) return undefined;
    return this.items.chars.slice(this.items.starts[index], this.items.starts[index + 1]);
  }

  /**
   * The list as code written for an array reads it (`list[i]`, `list.length`): a read-only proxy,
   * for a library that indexes the array it built.
   */
  asArrayLike(): ArrayLike<string | undefined> {
    // The target is a plain object: a frozen array's own `length` (0) would bind the proxy to it.
    return new Proxy({} as ArrayLike<string | undefined>, {
      get: (_target, property) => {
        if (property === 'length') return this.length;
        if (typeof property === 'string' && /^(?:0|[1-9]\d*)$/.test(property)) return this.at(Number(property));
        return undefined;
      },
      has: (_target, property) => typeof property === 'string' && /^(?:0|[1-9]\d*)$/.test(property) && this.at(Number(property)) !== undefined,
      set: () => false,
    });
  }
}
