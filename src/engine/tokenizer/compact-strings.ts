/**
 * Read-only string tables held in a handful of typed arrays (the UTF-16 code units of all keys end
 * to end, offsets, values and hash slots) rather than one heap object per key, and outside V8's heap.
 *
 * Why: a BPE vocabulary is some 50 000 strings, and its merge ranks as many again. The forward's
 * results set off full garbage collections of the engine's thread (onnxruntime-node hands them back,
 * 27 MB for GPT-2 small at 64 tokens, as new ArrayBuffers), and their marking runs beside ONNX
 * Runtime's two threads on a 2-core machine. As a `Map` or an array of strings each key
 * is an object that marking visits. Even as one long string per table, the 2.6 MB of characters
 * count towards the heap's size, and V8 collects more often once the heap passes about 8 MB: 30
 * forwards of GPT-2 small (64 tokens, every hook) set off 29-35 major collections with those strings
 * in the heap and 11-12 with the same characters in typed arrays, whose memory is outside the heap;
 * each forward was about 3 ms faster (docs/benchmarks.md).
 */

/** FNV-1a over UTF-16 code units: cheap, and spreads byte-level BPE spellings well. */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Keys (or list items) as UTF-16 code units laid end to end, with their start offsets. */
interface PackedStrings {
  codes: Uint16Array;
  /** [n + 1]: item i is codes[starts[i], starts[i + 1]) */
  starts: Int32Array;
}

function pack(items: readonly string[]): PackedStrings {
  const starts = new Int32Array(items.length + 1);
  for (let i = 0; i < items.length; i++) starts[i + 1] = starts[i]! + items[i]!.length;
  const codes = new Uint16Array(starts[items.length]!);
  items.forEach((item, i) => {
    for (let j = 0, at = starts[i]!; j < item.length; j++) codes[at + j] = item.charCodeAt(j);
  });
  return { codes, starts };
}

/** Item `index` of `packed` as a string. */
function unpack(packed: PackedStrings, index: number): string {
  // Tokens are short (GPT-2's longest has 128 code units): one call, no argument-count limit near.
  return String.fromCharCode.apply(null, packed.codes.subarray(packed.starts[index], packed.starts[index + 1]) as unknown as number[]);
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
    if (this.keys.starts[index + 1]! - start !== key.length) return false;
    const codes = this.keys.codes;
    for (let j = 0; j < key.length; j++) if (codes[start + j] !== key.charCodeAt(j)) return false;
    return true;
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
    return unpack(this.items, index);
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
