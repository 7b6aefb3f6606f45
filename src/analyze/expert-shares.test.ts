import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expertShares } from './expert-shares.ts';

test('rows normalise separately: [1,3] -> [0.25, 0.75]; [2,2] -> [0.5, 0.5]; [0,0] stays 0', () => {
  assert.deepEqual(Array.from(expertShares(Float64Array.of(1, 3, 2, 2, 0, 0), 2)), [0.25, 0.75, 0.5, 0.5, 0, 0]);
});

test('shape mismatch is an error', () => {
  assert.throws(() => expertShares(new Float64Array(5), 2), RangeError);
});
