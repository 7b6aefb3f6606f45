import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hottestExpert } from './hottest-expert.ts';

test('hottest of [1,2,3,6] is expert 3 with 6/12 = 0.5 of traffic', () => {
  assert.deepEqual(hottestExpert(Float64Array.of(1, 2, 3, 6)), { expert: 3, share: 0.5 });
});

test('ties go to the lowest expert id', () => {
  // [4,1,4,1]: experts 0 and 2 tie at 4 of 10.
  assert.deepEqual(hottestExpert([4, 1, 4, 1]), { expert: 0, share: 0.4 });
});

test('no traffic: expert -1, share 0', () => {
  assert.deepEqual(hottestExpert(new Float64Array(3)), { expert: -1, share: 0 });
});
