import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxOverMean } from './max-over-mean.ts';

test('max/mean of [1,2,3,6]: mean 12/4 = 3, max 6 -> 2', () => {
  assert.equal(maxOverMean(Float64Array.of(1, 2, 3, 6)), 2);
});

test('max/mean is 1 for an even vector and n for one hot expert', () => {
  assert.equal(maxOverMean(Float64Array.of(5, 5, 5)), 1);
  // [0,0,0,8]: mean 2, max 8 -> 4 = n.
  assert.equal(maxOverMean([0, 0, 0, 8]), 4);
});

test('max/mean of an all-zero layer is defined as 1; empty input is an error', () => {
  assert.equal(maxOverMean(new Float64Array(4)), 1);
  assert.throws(() => maxOverMean(new Float64Array(0)), RangeError);
});
