/**
 * Top-k selection over a long row (a 50k-token logit vector) without sorting it: a small
 * insertion-sorted buffer of the k best seen so far. Ties keep the lower index first, so results
 * are deterministic.
 */

/** Indices of the k largest entries, largest first (ties: lower index first). */
export function topKIndices(row: ArrayLike<number>, k: number): number[] {
  const n = row.length;
  const kk = Math.max(0, Math.min(Math.floor(k), n));
  if (kk === 0) return [];
  const idx: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = row[i]!;
    if (Number.isNaN(v)) continue;
    if (idx.length === kk && v <= val[kk - 1]!) continue;
    // Insert after every entry >= v, so equal values keep index order.
    let pos = idx.length < kk ? idx.length : kk - 1;
    while (pos > 0 && val[pos - 1]! < v) pos--;
    if (idx.length < kk) {
      idx.push(0);
      val.push(0);
    }
    for (let j = idx.length - 1; j > pos; j--) {
      idx[j] = idx[j - 1]!;
      val[j] = val[j - 1]!;
    }
    idx[pos] = i;
    val[pos] = v;
  }
  return idx;
}

/** Rank of entry `index` in `row`: how many entries are strictly larger (0 = top). */
export function rankOf(row: ArrayLike<number>, index: number): number {
  const v = row[index];
  if (v === undefined) throw new RangeError(`rankOf: index ${index} outside a row of ${row.length}`);
  let rank = 0;
  for (let i = 0; i < row.length; i++) if (row[i]! > v) rank++;
  return rank;
}
