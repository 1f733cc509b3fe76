import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CompactStringList, CompactStringTable } from '../../../src/engine/tokenizer/compact-strings.js';
import { mulberry32 } from '../../../src/engine/analysis/seeded-random.js';

/** Random keys from an alphabet that mixes ASCII, GPT-2's byte-level letters and astral emoji. */
function randomKeys(count: number, seed: number): string[] {
  const random = mulberry32(seed);
  const alphabet = ['a', 'b', 'c', ' ', 'Ġ', 'Ċ', 'é', '中', '😀', '"', '[', ','];
  const keys = new Set<string>(['']);
  while (keys.size < count) {
    const length = 1 + Math.floor(random() * 8);
    keys.add(Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]!).join(''));
  }
  return [...keys];
}

test('CompactStringTable answers get, has and size as the Map it was built from', () => {
  const keys = randomKeys(5000, 7);
  const map = new Map(keys.map((k, i) => [k, i * 3 - 100]));
  const table = new CompactStringTable(map);
  assert.equal(table.size, map.size);
  for (const [key, value] of map) {
    assert.equal(table.get(key), value, `get(${JSON.stringify(key)})`);
    assert.equal(table.has(key), true);
  }
  // Misses: prefixes and extensions of present keys, and keys of other alphabets.
  const misses = [...keys.slice(0, 500).map((k) => `${k}x`), ...keys.slice(0, 500).map((k) => `q${k}`), 'zzz', '\u0000', 'Ġ😀😀😀😀😀😀😀😀'].filter(
    (k) => !map.has(k),
  );
  assert.ok(misses.length > 900);
  for (const key of misses) {
    assert.equal(table.get(key), undefined, `get(${JSON.stringify(key)}) misses`);
    assert.equal(table.has(key), false);
  }
});

test('CompactStringTable refuses duplicate keys and values outside 32-bit integers', () => {
  assert.throws(
    () =>
      new CompactStringTable([
        ['a', 1],
        ['a', 2],
      ]),
    /duplicate key "a"/,
  );
  assert.throws(() => new CompactStringTable([['a', 1.5]]), RangeError);
  assert.throws(() => new CompactStringTable([['a', 2 ** 31]]), RangeError);
  assert.throws(() => new CompactStringTable([[1 as unknown as string, 1]]), TypeError);
  assert.throws(() => new CompactStringList(['a', 7 as unknown as string]), TypeError);
  const empty = new CompactStringTable([]);
  assert.equal(empty.size, 0);
  assert.equal(empty.get(''), undefined);
});

test('CompactStringList reads items by index, holes and out-of-range indices as undefined', () => {
  const source: Array<string | undefined> = ['Ġthe', '', undefined, '😀', 'é'];
  source.length = 7; // two trailing holes
  const list = new CompactStringList(source);
  assert.equal(list.length, 7);
  assert.deepEqual(
    Array.from({ length: 7 }, (_, i) => list.at(i)),
    ['Ġthe', '', undefined, '😀', 'é', undefined, undefined],
  );
  for (const bad of [-1, 7, 1.5, Number.NaN]) assert.equal(list.at(bad), undefined);
});

test("CompactStringList's array view reads like the array it replaces and cannot be written", () => {
  const view = new CompactStringList(['x', undefined, 'zz']).asArrayLike() as unknown as Record<string, unknown> & ArrayLike<string | undefined>;
  assert.equal(view.length, 3);
  assert.equal(view[0], 'x');
  assert.equal(view[1], undefined);
  assert.equal(view[2], 'zz');
  assert.equal(view[Number('2')], 'zz');
  assert.equal(view['-1'], undefined);
  assert.equal(view['01'], undefined, 'not a canonical index');
  assert.equal(view['1.5'], undefined);
  assert.equal(0 in view, true);
  assert.equal(1 in view, false);
  assert.throws(() => {
    (view as unknown as string[])[0] = 'y';
  }, TypeError);
  assert.equal(view[0], 'x');
});

test('the tables keep their characters outside the JavaScript heap', () => {
  // A full collection on demand, for this process only (the test runner gives each file its own).
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  const heapUsed = (): number => {
    collect();
    return getHeapStatistics().used_heap_size;
  };
  // 60 000 keys of 32 two-byte characters each: 3.8 MB of characters, twice.
  const fresh = (seed: number): string[] => Array.from({ length: 60_000 }, (_, i) => `${'Ġ'.repeat(24)}${seed}:${String(i).padStart(6, '0')}`);
  // Built in a frame of its own, so that the keys are garbage once it returns.
  const build = (): [CompactStringTable, CompactStringList] => [
    new CompactStringTable(fresh(1).map((key, i) => [key, i] as const)),
    new CompactStringList(fresh(2)),
  ];
  const before = heapUsed();
  const [table, list] = build();
  const grown = heapUsed() - before;
  assert.ok(grown < 500_000, `the tables grew the heap by ${(grown / 1e6).toFixed(2)} MB`);
  assert.equal(table.get(fresh(1)[59_999]!), 59_999);
  assert.equal(list.at(123), fresh(2)[123]);
});
