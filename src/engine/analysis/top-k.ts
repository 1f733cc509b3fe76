/**
 * Top-k selection over a long row (a 50k-token logit vector) without sorting it: a bounded min-heap
 * of the k best entries seen so far, O(n log k), then a sort of those k. Ties keep the lower index
 * first, so results are deterministic; NaN entries are never selected.
 */

/** Indices of the k largest entries, largest first (ties: lower index first). */
export function topKIndices(row: ArrayLike<number>, k: number): number[] {
  const n = row.length;
  const kk = Math.max(0, Math.min(Math.floor(k), n));
  if (kk === 0) return [];
  // The heap's root is its worst entry: the smallest value, and of equal values the highest index.
  const val = new Float64Array(kk);
  const idx = new Int32Array(kk);
  let size = 0;
  for (let i = 0; i < n; i++) {
    const v = row[i]!;
    if (Number.isNaN(v)) continue;
    if (size < kk) {
      siftUp(val, idx, size, v, i);
      size++;
    } else if (v > val[0]!) {
      // Indices only grow, so an entry equal to the root never displaces it (lower index wins ties).
      siftDown(val, idx, size, v, i);
    }
  }
  // Heap slots, best first. Equal infinities subtract to NaN, which falls through to the index.
  const slots = Array.from({ length: size }, (_, j) => j);
  slots.sort((a, b) => val[b]! - val[a]! || idx[a]! - idx[b]!);
  return slots.map((j) => idx[j]!);
}

/** Whether entry (va, ia) ranks below entry (vb, ib): a smaller value, or an equal one at a higher index. */
function worse(va: number, ia: number, vb: number, ib: number): boolean {
  return va < vb || (va === vb && ia > ib);
}

/** Adds (v, i) at slot `at` (the heap's size before adding) and restores the heap order. */
function siftUp(val: Float64Array, idx: Int32Array, at: number, v: number, i: number): void {
  let child = at;
  while (child > 0) {
    const parent = (child - 1) >> 1;
    if (!worse(v, i, val[parent]!, idx[parent]!)) break;
    val[child] = val[parent]!;
    idx[child] = idx[parent]!;
    child = parent;
  }
  val[child] = v;
  idx[child] = i;
}

/** Replaces the root with (v, i) and restores the heap order over `size` entries. */
function siftDown(val: Float64Array, idx: Int32Array, size: number, v: number, i: number): void {
  let parent = 0;
  for (;;) {
    let child = 2 * parent + 1;
    if (child >= size) break;
    if (child + 1 < size && worse(val[child + 1]!, idx[child + 1]!, val[child]!, idx[child]!)) child++;
    if (!worse(val[child]!, idx[child]!, v, i)) break;
    val[parent] = val[child]!;
    idx[parent] = idx[child]!;
    parent = child;
  }
  val[parent] = v;
  idx[parent] = i;
}

/** Rank of entry `index` in `row`: how many entries are strictly larger (0 = top). */
export function rankOf(row: ArrayLike<number>, index: number): number {
  const v = row[index];
  if (v === undefined) throw new RangeError(`rankOf: index ${index} outside a row of ${row.length}`);
  let rank = 0;
  for (let i = 0; i < row.length; i++) if (row[i]! > v) rank++;
  return rank;
}
