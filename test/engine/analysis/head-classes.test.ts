import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyHead, headScores, previousTokenScore, repeatStructure } from '../../../src/engine/analysis/head-classes.js';
import { promptHeadScores } from '../../fixtures/tl-semantics/transformer-lens-reference.js';
import { mulberry32 } from '../../../src/engine/analysis/seeded-random.js';
import { duplicateHead, inductionHead, onKey, patternOf, previousHead, uniformHead } from '../../helpers/synthetic-patterns.js';

const close = (a: number | null, b: number, tol = 1e-6): void => {
  assert.notEqual(a, null);
  assert.ok(Math.abs(a! - b) <= tol, `${a} vs ${b}`);
};

// "A B C D A B C D": every token of the second half repeats one from the first.
const REPEATED = [10, 11, 12, 13, 10, 11, 12, 13];

test('repeatStructure lists earlier same tokens and induction keys before the previous token', () => {
  const r = repeatStructure([5, 7, 5, 5, 7]);
  // q3: the copy at 2 = i − 1 is previous-token evidence, not duplicate evidence.
  assert.deepEqual(r.duplicates, [[], [], [0], [0], [1]]);
  // q2: j=0 -> key 1 = i − 1, excluded.  q3: j=0 -> 1, j=2 -> 3 = q, excluded.  q4: j=1 -> 2.
  assert.deepEqual(r.inductionKeys, [[], [], [], [1], [2]]);
});

test('a perfect previous-token head on "a , b , c , d , e ," is labelled previous-token, not induction', () => {
  // a=1 ,=0 b=2 ,=0 c=3 ,=0 d=4 ,=0 e=5 ,=0: after each comma's earlier copy at i − 2 comes i − 1.
  const ids = [1, 0, 2, 0, 3, 0, 4, 0, 5, 0];
  const p = patternOf([previousHead], ids.length, ids);
  const s = headScores(p, 0, repeatStructure(ids));
  close(s.previous, 1);
  close(s.induction, 0);
  close(s.duplicate, 0);
  assert.equal(classifyHead(s), 'previous-token');
});

test('a head attending to the previous token that repeats the current one ("the the") is no duplicate-token head', () => {
  const ids = [4, 9, 9, 9];
  const p = patternOf([previousHead], ids.length, ids);
  const s = headScores(p, 0, repeatStructure(ids));
  // Only query 3 has a duplicate key (1) that is not i − 1; the head puts nothing there.
  close(s.duplicate, 0);
  assert.equal(classifyHead(s), 'previous-token');
});

test('a previous-token head scores previous 1 and is labelled previous-token', () => {
  const p = patternOf([previousHead], REPEATED.length, REPEATED);
  const s = headScores(p, 0, repeatStructure(REPEATED));
  close(s.previous, 1);
  close(s.duplicate, 0);
  close(s.induction, 0);
  assert.equal(classifyHead(s), 'previous-token');
});

test('a duplicate-token head scores duplicate 1 and is labelled duplicate-token', () => {
  const p = patternOf([duplicateHead], REPEATED.length, REPEATED);
  const s = headScores(p, 0, repeatStructure(REPEATED));
  close(s.duplicate, 1);
  close(s.induction, 0);
  // Queries 1..3 (no earlier copy) fall back to key 0: only query 1 hits i − 1.
  close(s.previous, 1 / 7);
  assert.equal(classifyHead(s), 'duplicate-token');
});

test('an induction head scores induction 1 and is labelled induction', () => {
  const p = patternOf([inductionHead], REPEATED.length, REPEATED);
  const s = headScores(p, 0, repeatStructure(REPEATED));
  close(s.induction, 1);
  close(s.duplicate, 0);
  assert.equal(classifyHead(s), 'induction');
});

test('induction and duplicate scores sum the attention over every earlier occurrence', () => {
  const ids = [1, 2, 1, 3, 4, 1, 5];
  // Query 5 (token 1, earlier at 0 and 2; induction keys 1 and 3): 0.6 on key 3, 0.3 on key 1.
  const p = patternOf([(q) => (q === 5 ? [0, 0.3, 0, 0.6, 0.1, 0] : onKey(q, 0))], ids.length, ids);
  const s = headScores(p, 0, repeatStructure(ids));
  // Query 2 (token 1, earlier at 0 = i − 2; its induction key 1 = i − 1 is excluded): duplicate 1.
  close(s.induction, 0.3 + 0.6);
  close(s.duplicate, (1 + 0) / 2);
});

test('prompt head scores equal the float64 reference of the documented definitions on random patterns', () => {
  const random = mulberry32(3);
  const ids = [1, 0, 2, 0, 1, 3, 2, 0, 1, 1, 4];
  const n = ids.length;
  const heads = [0, 1, 2].map(() => (q: number) => {
    const row = Array.from({ length: q + 1 }, () => random() ** 3);
    const sum = row.reduce((a, b) => a + b, 0);
    return row.map((v) => v / sum);
  });
  const p = patternOf(heads, n, ids);
  const repeats = repeatStructure(ids);
  for (let h = 0; h < 3; h++) {
    const expected = promptHeadScores(p.data, h, ids);
    const actual = headScores(p, h, repeats);
    for (const k of ['previous', 'duplicate', 'induction'] as const) close(actual[k], expected[k]!, 1e-6);
  }
});

test('uniform attention on a prompt with repeats is diffuse', () => {
  const p = patternOf([uniformHead], REPEATED.length, REPEATED);
  const s = headScores(p, 0, repeatStructure(REPEATED));
  assert.ok(s.previous !== null && s.duplicate !== null && s.induction !== null);
  assert.equal(classifyHead(s), 'diffuse');
});

test('no repeated token: duplicate and induction are null; previous-token still labels, else no evidence', () => {
  const ids = [1, 2, 3, 4, 5];
  const p = patternOf([previousHead, uniformHead], ids.length, ids);
  const r = repeatStructure(ids);
  const prev = headScores(p, 0, r);
  assert.deepEqual([prev.duplicate, prev.induction], [null, null]);
  close(prev.previous, 1);
  assert.equal(classifyHead(prev), 'previous-token');
  const uniform = headScores(p, 1, r);
  assert.equal(classifyHead(uniform), 'no evidence');
});

test('a single-token prompt has no defined score and no evidence', () => {
  const p = patternOf([previousHead], 1, [42]);
  const s = headScores(p, 0, repeatStructure([42]));
  assert.deepEqual(s, { previous: null, duplicate: null, induction: null });
  assert.equal(previousTokenScore(p, 0), null);
  assert.equal(classifyHead(s), 'no evidence');
});

test('only an adjacent repeat: duplicate and induction null (their keys would be i − 1 and the query itself)', () => {
  const ids = [3, 8, 8];
  const p = patternOf([(q) => onKey(q, q)], ids.length, ids); // attends to itself
  const s = headScores(p, 0, repeatStructure(ids));
  assert.equal(s.duplicate, null);
  assert.equal(s.induction, null);
  assert.equal(classifyHead(s), 'no evidence');
});

test('label rule: strictly above threshold, largest wins, exact ties prefer induction then duplicate', () => {
  assert.equal(classifyHead({ previous: 0.35, duplicate: 0.2, induction: 0.1 }), 'diffuse');
  assert.equal(classifyHead({ previous: 0.36, duplicate: 0.2, induction: 0.1 }), 'previous-token');
  assert.equal(classifyHead({ previous: 0.5, duplicate: 0.6, induction: 0.4 }), 'duplicate-token');
  assert.equal(classifyHead({ previous: 0.5, duplicate: 0.5, induction: 0.5 }), 'induction');
  assert.equal(classifyHead({ previous: 0.5, duplicate: 0.5, induction: 0.1 }), 'duplicate-token');
  assert.equal(classifyHead({ previous: 0.2, duplicate: null, induction: null }), 'no evidence');
  assert.equal(classifyHead({ previous: 0.2, duplicate: 0.9, induction: null }, 0.95), 'no evidence');
  assert.equal(classifyHead({ previous: 0.2, duplicate: 0.9, induction: null }), 'duplicate-token');
  assert.equal(classifyHead({ previous: 0.5, duplicate: 0.2, induction: 0.1 }, 0.6), 'diffuse');
});
