import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { countMajorCollections } from '../../../scripts/bench/major-collections.js';

test('countMajorCollections counts the major collections that run meanwhile, and returns the result', async () => {
  // A full collection on demand, for this process only (the test runner gives each file its own).
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  const { result, majors } = await countMajorCollections(async () => {
    for (let i = 0; i < 3; i++) collect();
    return 'done';
  });
  assert.equal(result, 'done');
  assert.ok(majors >= 3, `counted ${majors} major collections, 3 forced`);
  // A call that forces none counts fewer: the first call's collections are not counted again.
  const quiet = await countMajorCollections(async () => 7);
  assert.equal(quiet.result, 7);
  assert.ok(quiet.majors < majors);
});
